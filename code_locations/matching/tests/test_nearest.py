"""Nearest jobs through pgvector: HNSW recall against the exact scan, the exact scan against numpy.

The vectors are real outputs of the pipeline (seeded records, rule extraction, the local
embedder), never random ones: random vectors say nothing about recall on text.
"""

import json
from itertools import pairwise

import numpy as np
import pytest
from psycopg import sql

from talent_candidates.reading import candidate_input
from talent_jobs.reading import job_input
from talent_matching.nearest import (
    EF_SEARCH_BY_ROWS,
    _ef_search_sql,
    _planner,
    ef_search_for,
    estimated_rows,
    nearest,
    nearest_jobs,
    uses_index,
)
from talent_platform.seed import generate
from talent_shared.ingest.parse import Accepted, parse_bytes
from talent_shared.ingest.store import store_accepted
from talent_shared.profiles import normalize
from talent_shared.providers.local import LocalEmbedder, LocalLLM
from talent_shared.testing import TEST_PROMPT
from talent_shared.vectors import embed

K = 10
TIE = 1e-5  # pgvector and numpy round float32 sums differently


def _load(db, entity: str, records: list[dict]) -> list[str]:
    data = "\n".join(json.dumps(r) for r in records).encode()
    accepted = [r for r in parse_bytes(entity, "test.jsonl", data) if isinstance(r, Accepted)]
    store_accepted(db, entity, "test.jsonl", accepted)
    ids = [a.record.id for a in accepted]
    normalize(
        db, entity, ids, LocalLLM(), candidate_input if entity == "candidate" else job_input, "test", prompt=TEST_PROMPT
    )
    embed(db, entity, ids, LocalEmbedder(384))
    return ids


def _vectors(db, table: str) -> tuple[list[str], np.ndarray]:
    rows = db.execute(f"SELECT record_id, embedding FROM talent.{table} ORDER BY record_id").fetchall()
    return [r[0] for r in rows], np.vstack([np.asarray(r[1].to_numpy(), dtype=np.float32) for r in rows])


@pytest.fixture
def loaded(talent_env, db):
    cands, jobs = generate(200, 3000, seed=21)
    _load(db, "job", jobs)
    _load(db, "candidate", cands)
    db.execute("ANALYZE talent.job_vectors")
    job_ids, job_vecs = _vectors(db, "job_vectors")
    _, cand_vecs = _vectors(db, "candidate_vectors")
    return db, job_ids, job_vecs, cand_vecs


def _hits(found: list[tuple[str, float]], exact_ids: set[str], kth: float, distance: dict[str, float]) -> int:
    """Results that belong in the exact top K: the same id, or one tied with the K-th distance."""
    return sum(1 for rid, _ in found if rid in exact_ids or distance[rid] <= kth + TIE)


def test_hnsw_recall_at_10_against_exact(loaded) -> None:
    db, job_ids, job_vecs, cand_vecs = loaded
    assert uses_index(db, cand_vecs[0], K) and not uses_index(db, cand_vecs[0], K, exact=True)
    total = hits = 0
    for query in cand_vecs:
        exact = nearest_jobs(db, query, K, exact=True)
        approx = nearest_jobs(db, query, K)  # the default: ef_search 100 at 3,000 rows
        assert len(approx) == K
        distance = dict(zip(job_ids, (1.0 - job_vecs @ query).tolist(), strict=True))
        hits += _hits(approx, {rid for rid, _ in exact}, exact[-1][1], distance)
        total += K
    recall = hits / total
    assert recall >= 0.95, f"recall@10 {recall:.3f}"


def test_exact_variant_equals_numpy_brute_force(loaded) -> None:
    db, job_ids, job_vecs, cand_vecs = loaded
    for query in cand_vecs[:50]:
        found = nearest_jobs(db, query, K, exact=True)
        scores = 1.0 - job_vecs @ query
        order = np.lexsort((np.arange(len(job_ids)), scores))[:K]
        expected = [(job_ids[i], float(scores[i])) for i in order]
        assert np.allclose([d for _, d in found], [d for _, d in expected], atol=TIE)
        # same ids except where a distance ties with the K-th (either order is exact)
        kth = expected[-1][1]
        assert {r for r, d in found if d < kth - TIE} == {r for r, d in expected if d < kth - TIE}
        for rid, dist in found:
            assert abs(dist - float(scores[job_ids.index(rid)])) <= TIE


def test_candidates_side_and_short_tables(talent_env, db) -> None:
    cands, jobs = generate(30, 3, seed=5)
    _load(db, "candidate", cands)
    _load(db, "job", jobs)
    _, jvecs = _vectors(db, "job_vectors")
    got = nearest(db, jvecs[0], K, entity="candidate")
    distances = [d for _, d in got]
    # best first; two candidates with the same text are the same vector, and the index computes
    # their distances in float32 a few ulps apart, in either order: a tie within TIE is in order
    assert len(got) == K and all(b >= a - TIE for a, b in pairwise(distances))
    # fewer rows than K: all of them, through either path
    assert len(nearest_jobs(db, jvecs[0], K)) == 3 and len(nearest_jobs(db, jvecs[0], K, exact=True)) == 3


def test_planner_settings_do_not_leak_into_the_callers_transaction(talent_env, db) -> None:
    _, jobs = generate(0, 5, seed=6)
    _load(db, "job", jobs)
    _, vecs = _vectors(db, "job_vectors")
    nearest_jobs(db, vecs[0], 3, exact=True)
    nearest_jobs(db, vecs[0], 3)
    shown = [db.execute(f"SHOW {name}").fetchone()[0] for name in ("enable_indexscan", "enable_seqscan")]
    assert shown == ["on", "on"]


def test_ef_search_follows_the_table_size() -> None:
    assert EF_SEARCH_BY_ROWS == ((15_000, 100), (None, 200))
    assert [ef_search_for(n) for n in (0, 300, 10_000, 14_999)] == [100] * 4
    assert [ef_search_for(n) for n in (15_000, 100_000, 10**7)] == [200] * 3
    assert ef_search_for(None) == 200  # no statistics yet: the larger list, cheap on a small table
    assert ef_search_for(300, k=128) == 128 and ef_search_for(100_000, k=500) == 500  # never below k


def test_ef_search_in_sql_is_the_same_rule(talent_env, db) -> None:
    for rows in (0, 300, 14_999, 14_999.5, 15_000, 100_000, 10**7, None):
        for k in (10, 128, 500):
            stmt = sql.SQL("SELECT GREATEST({}, {})").format(_ef_search_sql(sql.Literal(rows)), k)
            assert db.execute(stmt).fetchone()[0] == ef_search_for(rows, k), (rows, k)


def _ef_in_force(db, *, k: int = K) -> tuple[int | None, str]:
    """The ef_search the default path chooses and the value Postgres shows inside its transaction."""
    with _planner(db, entity="job", k=k, ef_search=None, exact=False) as ef:
        return ef, db.execute("SHOW hnsw.ef_search").fetchone()[0]


def test_default_ef_search_from_the_tables_statistics(talent_env, db) -> None:
    _, jobs = generate(0, 300, seed=7)
    ids = _load(db, "job", jobs[:40])  # under autovacuum's 50-row analyze threshold
    _, vecs = _vectors(db, "job_vectors")
    # never analyzed: no estimate, the larger list
    assert estimated_rows(db) is None and _ef_in_force(db) == (200, "200")
    db.execute("ANALYZE talent.job_vectors")
    assert estimated_rows(db) == pytest.approx(40, abs=1)
    assert _ef_in_force(db) == (100, "100") and _ef_in_force(db, k=150) == (150, "150")
    # rows added since the ANALYZE count through the table's current pages, as for the planner
    ids += _load(db, "job", jobs[40:])
    assert estimated_rows(db) == pytest.approx(300, rel=0.2)
    assert uses_index(db, vecs[0], K) and len(nearest_jobs(db, vecs[0], K)) == K
    # statistics of a large table (set inside a transaction rolled back: no 100k rows to build)
    with db.transaction(force_rollback=True):
        db.execute(
            "UPDATE pg_class SET reltuples = 100000, relpages = pg_relation_size(oid) / 8192"
            " WHERE oid = 'talent.job_vectors'::regclass"
        )
        assert estimated_rows(db) == pytest.approx(100_000) and _ef_in_force(db) == (200, "200")
        assert uses_index(db, vecs[0], K)
        got = nearest_jobs(db, vecs[0], K)
        assert len(got) == K and got[0][0] in ids
    # an explicit ef_search wins over the size
    with _planner(db, entity="job", k=K, ef_search=123, exact=False) as ef:
        assert ef == 123 and db.execute("SHOW hnsw.ef_search").fetchone()[0] == "123"
    assert _ef_in_force(db)[0] == 100  # the rollback restored the statistics
