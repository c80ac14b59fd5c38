"""Top K of one side for a single vector, through pgvector: the HNSW index or an exact scan.

The one-new-record path: a candidate arriving alone needs its K nearest jobs, and an HNSW index
(``vector_cosine_ops``, m=16, ef_construction=64, migration ``0003_hnsw_vectors``) answers that in
a few milliseconds at 100k rows where pgvector's exact scan takes tens (benchmarks/README.md). The
exact variant turns index scans off, so the planner sorts a sequential scan: it is the reference
for recall, not a serving path. Distances are cosine distances (``1 - cosine``; the stored
vectors are unit length, so ``1 - dot``). For a bulk "many new x all" cross-join pull the vectors
once and multiply in numpy instead (``crossjoin.py``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import psycopg
from psycopg import sql

TABLES = {"candidate": "candidate_vectors", "job": "job_vectors"}
DEFAULT_EF_SEARCH = 40  # pgvector's default: recall@10 ~0.96 on text embeddings; 100 gives ~0.99


def nearest(
    conn: psycopg.Connection,
    vector: Sequence[float] | np.ndarray,
    k: int = 10,
    *,
    entity: str = "job",
    ef_search: int = DEFAULT_EF_SEARCH,
    exact: bool = False,
) -> list[tuple[str, float]]:
    """The ``k`` records of ``entity`` nearest to ``vector``: ``[(record_id, cosine distance)]``, nearest first.

    ``ef_search`` bounds the HNSW candidate list (at least ``k``, else the index returns fewer rows
    than asked). ``exact`` scans every row instead (ties broken by record id).
    """
    stmt, params = _query(entity, vector, k, exact=exact)
    with _planner(conn, k=k, ef_search=ef_search, exact=exact):
        rows = conn.execute(stmt, params).fetchall()
    return [(rid, float(dist)) for rid, dist in rows]


def _query(entity: str, vector: Sequence[float] | np.ndarray, k: int, *, exact: bool) -> tuple[sql.Composed, tuple]:
    table = sql.Identifier("talent", TABLES[entity])
    query = np.asarray(vector, dtype=np.float32)
    if exact:
        stmt = "SELECT record_id, embedding <=> %s AS distance FROM {} ORDER BY distance, record_id LIMIT %s"
        return sql.SQL(stmt).format(table), (query, int(k))
    # the ORDER BY must be the bare distance expression for the planner to use the index
    stmt = "SELECT record_id, embedding <=> %s AS distance FROM {} ORDER BY embedding <=> %s LIMIT %s"
    return sql.SQL(stmt).format(table), (query, query, int(k))


def nearest_jobs(
    conn: psycopg.Connection,
    vector: Sequence[float] | np.ndarray,
    k: int = 10,
    *,
    ef_search: int = DEFAULT_EF_SEARCH,
    exact: bool = False,
) -> list[tuple[str, float]]:
    """The ``k`` jobs nearest to one candidate's vector."""
    return nearest(conn, vector, k, entity="job", ef_search=ef_search, exact=exact)


_SETTINGS = ("hnsw.ef_search", "enable_seqscan", "enable_indexscan", "enable_bitmapscan")


@contextmanager
def _planner(conn: psycopg.Connection, *, k: int, ef_search: int, exact: bool) -> Iterator[None]:
    """Planner settings for one query (``SET LOCAL``, one round trip), never leaking to the caller.

    Called inside the caller's open transaction, ``conn.transaction()`` is only a savepoint, whose
    release keeps ``SET LOCAL`` values until the outer commit: put them back in that case.
    """
    nested = conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        if exact:
            conn.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")
        else:
            # ef_search below k would return fewer than k rows; on a small table the planner would
            # rather sort a sequential scan, and this path is the index's
            ef = sql.Literal(max(int(ef_search), int(k)))
            conn.execute(sql.SQL("SET LOCAL hnsw.ef_search = {}; SET LOCAL enable_seqscan = off").format(ef))
        yield
        if nested:
            conn.execute("; ".join(f"SET LOCAL {name} TO DEFAULT" for name in _SETTINGS))


def uses_index(
    conn: psycopg.Connection,
    vector: Sequence[float] | np.ndarray,
    k: int = 10,
    *,
    entity: str = "job",
    exact: bool = False,
) -> bool:
    """Whether :func:`nearest` (same settings) is answered by the HNSW index: for tests and benchmarks."""
    return "hnsw" in json.dumps(plan(conn, vector, k, entity=entity, exact=exact)).lower()


def plan(
    conn: psycopg.Connection,
    vector: Sequence[float] | np.ndarray,
    k: int = 10,
    *,
    entity: str = "job",
    ef_search: int = DEFAULT_EF_SEARCH,
    exact: bool = False,
    analyze: bool = False,
) -> dict:
    """The plan of :func:`nearest`'s query under its settings (``EXPLAIN (FORMAT JSON)``); with
    ``analyze`` it runs, and ``["Execution Time"]`` is the server's time without the client's."""
    stmt, params = _query(entity, vector, k, exact=exact)
    options = sql.SQL("ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON")
    stmt = sql.SQL("EXPLAIN ({}) {}").format(options, stmt)
    with _planner(conn, k=k, ef_search=ef_search, exact=exact):
        row = conn.execute(stmt, params).fetchone()
        assert row is not None  # EXPLAIN always returns its plan
        result = row[0]
    return (json.loads(result) if isinstance(result, str) else result)[0]
