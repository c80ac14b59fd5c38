"""The jobs location: raw_jobs -> normalized_jobs -> job_vectors."""

import dagster as dg

from talent_jobs.reading import job_input
from talent_shared.automation import automation_sensor
from talent_shared.compute import executor
from talent_shared.keys import JOB_VECTORS, NORMALIZED_JOBS, RAW_JOBS
from talent_shared.partitions import jobs_partitions
from talent_shared.pipeline import EntityKeys, entity_pipeline

assets, ingest_sensor = entity_pipeline(
    "job",
    EntityKeys(RAW_JOBS, NORMALIZED_JOBS, JOB_VECTORS),
    jobs_partitions,
    job_input,
    group="jobs",
)

defs = dg.Definitions(
    assets=assets,
    sensors=[
        ingest_sensor,
        automation_sensor("jobs", dg.AssetSelection.all()),
    ],
    executor=executor(),
)
