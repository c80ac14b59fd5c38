"""Top K of one side for a single vector, through pgvector: the HNSW index or an exact scan.

The one-new-record path: a candidate arriving alone needs its K nearest jobs, and an HNSW index
(``vector_cosine_ops``, m=16, ef_construction=64, migration ``0003_hnsw_vectors``) answers that in
a few milliseconds at 100k rows where pgvector's exact scan takes tens (benchmarks/README.md). The
exact variant turns index scans off, so the planner sorts a sequential scan: it is the reference
for recall, not a serving path. Distances are cosine distances (``1 - cosine``; the stored
vectors are unit length, so ``1 - dot``). For a bulk "many new x all" cross-join pull the vectors
once and multiply in numpy instead (``crossjoin.py``).

**ef_search by table size.** ``hnsw.ef_search`` (the length of the index's candidate list) is
chosen from the table's estimated row count unless the caller passes one: 100 below 15,000 rows,
200 from there on (``EF_SEARCH_BY_ROWS``), for recall@10 of at least 0.95 against the exact scan on
every HNSW build measured (``benchmarks/README.md``, "nearest: ef_search by table size").
pgvector's default of 40 is not enough even on small tables: pgvector's parallel build is not
deterministic, and an unlucky build strands a few queries in the wrong region of the graph, which
a longer candidate list reaches. Beyond 100k nothing was measured: 200 is kept, and a caller that
needs more passes ``ef_search``. ``hnsw.iterative_scan`` (pgvector 0.8) stays off: it lets a scan
go on past ``ef_search`` when a filter drops rows, and these queries have no filter.

The row estimate costs no scan and no extra round trip: it is computed in the statement that sets
the planner's options, like the planner's own estimate (the density ``reltuples / relpages`` from
the last VACUUM or ANALYZE times the table's current pages, so a bulk load since then counts). A
table never vacuumed or analyzed since it had rows has no estimate and gets the larger value.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import psycopg
from psycopg import sql

TABLES = {"candidate": "candidate_vectors", "job": "job_vectors"}
# hnsw.ef_search by the table's estimated rows: the first step whose bound is above them (None: no
# bound); why in the module docstring
EF_SEARCH_BY_ROWS: tuple[tuple[int | None, int], ...] = ((15_000, 100), (None, 200))

# the table's rows as the planner would estimate them; NULL when it has rows but no statistics yet
_ROWS = sql.SQL(
    "SELECT CASE WHEN pg_relation_size(c.oid) = 0 THEN 0"
    " WHEN c.relpages > 0 AND c.reltuples >= 0"
    " THEN c.reltuples / c.relpages * (pg_relation_size(c.oid) / current_setting('block_size')::float8) END"
    " AS rows FROM pg_class c WHERE c.oid = {}::regclass"
)


def ef_search_for(rows: float | None, k: int = 10) -> int:
    """The default ``hnsw.ef_search`` for a table of about ``rows`` rows (``None``: not estimated yet)."""
    for bound, ef in EF_SEARCH_BY_ROWS:
        if bound is None or (rows is not None and rows < bound):
            return max(ef, int(k))
    raise AssertionError("EF_SEARCH_BY_ROWS ends without a bound")


def _ef_search_sql(rows: sql.Composable) -> sql.Composed:
    """:func:`ef_search_for` (before the ``k`` floor) as a SQL expression of ``rows``."""
    steps = [sql.SQL("WHEN {} < {} THEN {}").format(rows, bound, ef) for bound, ef in EF_SEARCH_BY_ROWS if bound]
    return sql.SQL("CASE {} ELSE {} END").format(sql.SQL(" ").join(steps), EF_SEARCH_BY_ROWS[-1][1])


def estimated_rows(conn: psycopg.Connection, entity: str = "job") -> float | None:
    """The rows of ``entity``'s vector table as the default ``ef_search`` sees them (no scan)."""
    row = conn.execute(_ROWS.format(_table_name(entity))).fetchone()
    assert row is not None  # the table exists, else the cast to regclass raised
    return None if row[0] is None else float(row[0])


def _table_name(entity: str) -> sql.Literal:
    return sql.Literal(f"talent.{TABLES[entity]}")


def nearest(
    conn: psycopg.Connection,
    vector: Sequence[float] | np.ndarray,
    k: int = 10,
    *,
    entity: str = "job",
    ef_search: int | None = None,
    exact: bool = False,
) -> list[tuple[str, float]]:
    """The ``k`` records of ``entity`` nearest to ``vector``: ``[(record_id, cosine distance)]``, nearest first.

    ``ef_search`` bounds the HNSW candidate list (at least ``k``, else the index returns fewer rows
    than asked); by default it follows the table's size (:func:`ef_search_for`). ``exact`` scans
    every row instead (ties broken by record id).
    """
    stmt, params = _query(entity, vector, k, exact=exact)
    with _planner(conn, entity=entity, k=k, ef_search=ef_search, exact=exact):
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
    ef_search: int | None = None,
    exact: bool = False,
) -> list[tuple[str, float]]:
    """The ``k`` jobs nearest to one candidate's vector."""
    return nearest(conn, vector, k, entity="job", ef_search=ef_search, exact=exact)


_SETTINGS = ("hnsw.ef_search", "enable_seqscan", "enable_indexscan", "enable_bitmapscan")


@contextmanager
def _planner(
    conn: psycopg.Connection, *, entity: str, k: int, ef_search: int | None, exact: bool
) -> Iterator[int | None]:
    """Planner settings for one query (``SET LOCAL``, one round trip), never leaking to the caller;
    yields the ``hnsw.ef_search`` in force (``None`` for the exact scan).

    Called inside the caller's open transaction, ``conn.transaction()`` is only a savepoint, whose
    release keeps ``SET LOCAL`` values until the outer commit: put them back in that case.
    """
    nested = conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        ef: int | None = None
        if exact:
            conn.execute("SET LOCAL enable_indexscan = off; SET LOCAL enable_bitmapscan = off")
        else:
            # ef_search below k would return fewer than k rows; on a small table the planner would
            # rather sort a sequential scan, and this path is the index's. set_config(..., true) is
            # SET LOCAL with a computed value: the size estimate costs no round trip of its own
            chosen = _ef_search_sql(sql.Identifier("rows")) if ef_search is None else sql.Literal(int(ef_search))
            stmt = sql.SQL(
                "SELECT set_config('hnsw.ef_search', GREATEST({}, {})::text, true),"
                " set_config('enable_seqscan', 'off', true) FROM ({}) AS estimate"
            ).format(chosen, sql.Literal(int(k)), _ROWS.format(_table_name(entity)))
            row = conn.execute(stmt).fetchone()
            assert row is not None  # the table exists, else the cast to regclass raised
            ef = int(row[0])
        yield ef
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
    ef_search: int | None = None,
    exact: bool = False,
    analyze: bool = False,
) -> dict:
    """The plan of :func:`nearest`'s query under its settings (``EXPLAIN (FORMAT JSON)``); with
    ``analyze`` it runs, and ``["Execution Time"]`` is the server's time without the client's."""
    stmt, params = _query(entity, vector, k, exact=exact)
    options = sql.SQL("ANALYZE, FORMAT JSON" if analyze else "FORMAT JSON")
    stmt = sql.SQL("EXPLAIN ({}) {}").format(options, stmt)
    with _planner(conn, entity=entity, k=k, ef_search=ef_search, exact=exact):
        row = conn.execute(stmt, params).fetchone()
        assert row is not None  # EXPLAIN always returns its plan
        result = row[0]
    return (json.loads(result) if isinstance(result, str) else result)[0]
