"""The matching location: ``matches`` over the candidates' and jobs' vectors, requested by its
reconciler whenever a vector differs from what matching consumed."""

import dagster as dg

from talent_matching.assets import MATCHES_CODE_VERSION, matches
from talent_shared.compute import executor
from talent_shared.keys import MATCHES
from talent_shared.reconciler import asset_reconciler, stranded_check
from talent_shared.resources import deployment_resources
from talent_shared.stubs import candidate_vectors_stub, job_vectors_stub


def _changes(conn) -> int:
    from talent_matching.crossjoin import pending_changes
    from talent_shared.settings import get_settings

    return pending_changes(conn, get_settings().top_k)


defs = dg.Definitions(
    assets=[matches, candidate_vectors_stub, job_vectors_stub],
    asset_checks=[stranded_check("matching", MATCHES)],
    sensors=[asset_reconciler("matching", MATCHES, _changes, MATCHES_CODE_VERSION)],
    executor=executor(),
    resources=deployment_resources(),
)
