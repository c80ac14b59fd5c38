"""The candidates location: raw_candidates -> normalized_candidates -> candidate_vectors."""

import dagster as dg

from talent_candidates.reading import candidate_input
from talent_shared.automation import automation_sensor
from talent_shared.compute import executor
from talent_shared.keys import CANDIDATE_VECTORS, NORMALIZED_CANDIDATES, RAW_CANDIDATES
from talent_shared.partitions import candidates_partitions
from talent_shared.pipeline import EntityKeys, entity_pipeline

assets, ingest_sensor = entity_pipeline(
    "candidate",
    EntityKeys(RAW_CANDIDATES, NORMALIZED_CANDIDATES, CANDIDATE_VECTORS),
    candidates_partitions,
    candidate_input,
    group="candidates",
)

defs = dg.Definitions(
    assets=assets,
    sensors=[
        ingest_sensor,
        automation_sensor("candidates", dg.AssetSelection.all()),
    ],
    executor=executor(),
)
