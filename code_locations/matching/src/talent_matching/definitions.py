"""The matching location: ``matches`` over the candidates' and jobs' vectors."""

import dagster as dg

from talent_matching.assets import matches
from talent_shared.automation import automation_sensor
from talent_shared.compute import executor
from talent_shared.stubs import candidate_vectors_stub, job_vectors_stub

defs = dg.Definitions(
    assets=[matches, candidate_vectors_stub, job_vectors_stub],
    sensors=[
        automation_sensor("matching", dg.AssetSelection.assets(matches)),
    ],
    executor=executor(),
)
