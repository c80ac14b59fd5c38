"""The jobs location: raw_jobs -> normalized_jobs -> job_vectors."""

import dagster as dg

from talent_jobs.reading import job_input
from talent_shared.compute import executor
from talent_shared.keys import JOB_VECTORS, NORMALIZED_JOBS, RAW_JOBS
from talent_shared.partitions import jobs_partitions
from talent_shared.pipeline import EntityKeys, entity_pipeline
from talent_shared.settings import get_settings

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
        dg.AutomationConditionSensorDefinition(
            "jobs_automation",
            target=dg.AssetSelection.all(),
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=get_settings().sensor_interval_seconds,
        ),
    ],
    executor=executor(),
)
