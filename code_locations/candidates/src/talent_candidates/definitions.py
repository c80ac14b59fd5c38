"""The candidates location: raw_candidates -> normalized_candidates -> candidate_vectors."""

import dagster as dg

from talent_candidates.reading import candidate_input
from talent_shared.compute import executor
from talent_shared.keys import CANDIDATE_VECTORS, NORMALIZED_CANDIDATES, RAW_CANDIDATES
from talent_shared.partitions import candidates_partitions
from talent_shared.pipeline import EntityKeys, entity_pipeline
from talent_shared.settings import get_settings

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
        dg.AutomationConditionSensorDefinition(
            "candidates_automation",
            target=dg.AssetSelection.all(),
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=get_settings().sensor_interval_seconds,
        ),
    ],
    executor=executor(),
)
