"""The matching location: ``matches`` over the candidates' and jobs' vectors."""

import dagster as dg

from talent_matching.assets import matches
from talent_shared.compute import executor
from talent_shared.settings import get_settings
from talent_shared.stubs import candidate_vectors_stub, job_vectors_stub

defs = dg.Definitions(
    assets=[matches, candidate_vectors_stub, job_vectors_stub],
    sensors=[
        dg.AutomationConditionSensorDefinition(
            "matching_automation",
            target=dg.AssetSelection.assets(matches),
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=get_settings().sensor_interval_seconds,
        ),
    ],
    executor=executor(),
)
