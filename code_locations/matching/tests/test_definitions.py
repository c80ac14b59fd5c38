"""The matching location: its definitions, and ``matches`` materialized on a real database."""

import dagster as dg
import pytest

from talent_matching.definitions import defs
from talent_shared.keys import CANDIDATE_VECTORS, JOB_VECTORS, MATCHES
from talent_shared.partitions import candidates_partitions, jobs_partitions
from talent_shared.resources import EmbedderResource
from talent_shared.testing import tick

# the embedding contract the vectors below are made with, given as a test gives a resource
HASHING = {**(defs.resources or {}), "embedder": EmbedderResource(provider="hashing")}


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
    assert node.automation_condition is None  # requested by the reconciler, from the tables


def _stored_vectors(db, n_candidates: int, n_jobs: int, embedder_of) -> None:
    """Records of both teams, normalized and embedded (``embedder_of(entity)`` embeds each side)."""
    from talent_candidates.reading import candidate_input
    from talent_jobs.reading import job_input
    from talent_platform.seed import generate
    from talent_shared.profiles import normalize
    from talent_shared.providers.local import LocalLLM
    from talent_shared.testing import TEST_PROMPT, store_records
    from talent_shared.vectors import embed

    cands, jobs = generate(n_candidates, n_jobs, seed=11)
    for entity, records, reader in (("candidate", cands, candidate_input), ("job", jobs, job_input)):
        ids = store_records(db, entity, records)
        normalize(db, entity, ids, LocalLLM(), reader, "test", prompt=TEST_PROMPT)
        embed(db, entity, ids, embedder_of(entity))
    db.commit()


def test_matches_runs_and_explains(talent_env, db, monkeypatch) -> None:
    from talent_shared.providers.local import LocalEmbedder
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_EMBEDDING_PROVIDER", "hashing")  # the contract the vectors below are made with
    get_settings.cache_clear()
    _stored_vectors(db, 12, 6, lambda entity: LocalEmbedder(384))
    with dg.instance_for_test() as instance:
        result = dg.materialize([a for a in defs.assets], resources=HASHING, selection=[MATCHES], instance=instance)
        assert result.success
        metadata = result.asset_materializations_for_node("matches")[0].metadata
        assert metadata["changed_candidates"].value == 12 and metadata["changed_jobs"].value == 6
        again = dg.materialize([a for a in defs.assets], resources=HASHING, selection=[MATCHES], instance=instance)
        assert again.asset_materializations_for_node("matches")[0].metadata["rows_written"].value == 0
        assert _reconcile(instance) == []  # nothing differs from what was consumed: no request
    top = db.execute(
        "SELECT count(*) FROM talent.matches WHERE candidate_rank <= 3 AND explanation IS NOT NULL"
    ).fetchone()[0]
    assert top == 12 * 3


def test_matches_refuses_vectors_of_another_model(talent_env, db, monkeypatch) -> None:
    """One team re-embedding with its own model must not silently mix vector spaces in ``matches``."""
    from talent_shared.providers.local import LocalEmbedder
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_EMBEDDING_PROVIDER", "hashing")
    get_settings.cache_clear()
    # jobs embedded by the contract's model (hashing-v1), candidates by another one
    other = LocalEmbedder(384)
    other.model = "someone-elses-model"
    _stored_vectors(db, 4, 3, lambda entity: other if entity == "candidate" else LocalEmbedder(384))
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [a for a in defs.assets], resources=HASHING, selection=[MATCHES], instance=instance, raise_on_error=False
        )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    error, message = failure.event_specific_data.error, ""
    while error is not None:  # the step error wraps the asset's own
        message, error = message + error.message, error.cause
    assert "talent.candidate_vectors holds vectors of another model (4 with 'someone-elses-model')" in message
    assert "'hashing-v1' (384-d), this deployment's embedding contract" in message
    assert db.execute("SELECT count(*) FROM talent.matches").fetchone()[0] == 0


def test_matches_retries_a_transient_failure() -> None:
    """A database restart inside the step must not leave every record unmatched (compute.STEP_RETRY)."""
    from talent_matching.assets import matches
    from talent_shared.compute import STEP_RETRY

    assert matches.op.retry_policy == STEP_RETRY


def _reconcile(instance) -> list:
    (reconciler,) = defs.sensors
    result = tick(reconciler, instance, resources=defs.resources)
    return list(result.run_requests or [])


def test_the_reconciler_requests_matches_while_any_vector_was_not_consumed(talent_env, db, monkeypatch) -> None:
    """Level-triggered: a changed vector makes a request on every tick until a run consumes it, a
    failed run changes nothing about that, and a live run of ``matches`` is left alone."""
    from talent_shared.providers.local import LocalEmbedder
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_EMBEDDING_PROVIDER", "hashing")
    get_settings.cache_clear()
    _stored_vectors(db, 4, 2, lambda entity: LocalEmbedder(384))
    with dg.instance_for_test() as instance:
        first = _reconcile(instance)
        assert [r.asset_selection for r in first] == [[MATCHES]]

        @dg.asset(key=MATCHES)
        def broken() -> None:
            raise RuntimeError("matching broke")

        assert not dg.materialize([broken], instance=instance, tags=first[0].tags, raise_on_error=False).success
        assert len(_reconcile(instance)) == 1  # the failed run left everything to do: asked again

        from talent_matching import crossjoin

        asked = []
        ask = crossjoin.pending_changes
        monkeypatch.setattr(crossjoin, "pending_changes", lambda conn, k: asked.append(k) or ask(conn, k))
        seen = []

        @dg.asset(key=MATCHES)
        def in_flight() -> None:
            seen.append(_reconcile(instance))
            seen.append(
                db.execute(
                    "SELECT stale, in_flight, reason FROM talent.reconciler_ticks WHERE location = 'matching'"
                ).fetchone()
            )

        assert dg.materialize([in_flight], instance=instance).success
        # a live run covers it, and the database is not asked meanwhile (after a bulk load the
        # question is the whole comparison until that run writes): the last tick's counts, in flight
        assert seen == [[], (6, 6, "a run is live: counts from the last tick that asked")] and asked == []
        assert dg.materialize(
            [a for a in defs.assets], resources=HASHING, selection=[MATCHES], instance=instance
        ).success
        assert _reconcile(instance) == []
        stale, requested = db.execute(
            "SELECT stale, requested FROM talent.reconciler_ticks WHERE location = 'matching'"
        ).fetchone()
        assert (stale, requested) == (0, 0)
