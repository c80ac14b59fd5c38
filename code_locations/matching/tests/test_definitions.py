"""The matching location: its definitions, and ``matches`` materialized on a real database."""

import dagster as dg
import pytest

from talent_matching.definitions import defs
from talent_shared.automation import input_or_code_changed
from talent_shared.keys import CANDIDATE_VECTORS, JOB_VECTORS, MATCHES
from talent_shared.partitions import candidates_partitions, jobs_partitions


@pytest.fixture(scope="module")
def graph():
    return defs.resolve_asset_graph()


def test_matches_depends_on_both_vector_stubs(graph) -> None:
    node = graph.get(MATCHES)
    assert set(node.parent_keys) == {CANDIDATE_VECTORS, JOB_VECTORS}
    assert node.code_version and node.is_executable
    assert not graph.get(CANDIDATE_VECTORS).is_executable and not graph.get(JOB_VECTORS).is_executable
    assert graph.get(CANDIDATE_VECTORS).partitions_def == candidates_partitions
    assert graph.get(JOB_VECTORS).partitions_def == jobs_partitions
    assert str(node.automation_condition) == str(input_or_code_changed())


def test_matches_runs_and_explains(talent_env, db) -> None:
    from talent_candidates.reading import candidate_input
    from talent_jobs.reading import job_input
    from talent_platform.seed import generate
    from talent_shared.profiles import normalize
    from talent_shared.providers.local import LocalEmbedder, LocalLLM
    from talent_shared.testing import store_records
    from talent_shared.vectors import embed

    cands, jobs = generate(12, 6, seed=11)
    for entity, records, reader in (("candidate", cands, candidate_input), ("job", jobs, job_input)):
        ids = store_records(db, entity, records)
        normalize(db, entity, ids, LocalLLM(), reader, "test")
        embed(db, entity, ids, LocalEmbedder(384))
    db.commit()
    with dg.instance_for_test() as instance:
        result = dg.materialize([a for a in defs.assets], selection=[MATCHES], instance=instance)
        assert result.success
        metadata = result.asset_materializations_for_node("matches")[0].metadata
        assert metadata["changed_candidates"].value == 12 and metadata["changed_jobs"].value == 6
        again = dg.materialize([a for a in defs.assets], selection=[MATCHES], instance=instance)
        assert again.asset_materializations_for_node("matches")[0].metadata["rows_written"].value == 0
    top = db.execute(
        "SELECT count(*) FROM talent.matches WHERE candidate_rank <= 3 AND explanation IS NOT NULL"
    ).fetchone()[0]
    assert top == 12 * 3
