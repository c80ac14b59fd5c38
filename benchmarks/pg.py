"""The benchmarks' own embedded PostgreSQL under ``.bench/pg``, kept between runs.

Each job set lives in its own database (``bench_jobs_<n>``), migrated like the platform's, its
``job_vectors`` bulk-loaded with binary COPY and its HNSW index (migration ``0003_hnsw_vectors``)
rebuilt once on the full table. A marker row keeps the load and build times, so a later run reuses
the database instead of paying ~1 min of index build again (``--rebuild`` forces it).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from benchmarks.common import BENCH, log
from benchmarks.data import DATA_VERSION, DIM, Dataset

PGDATA = BENCH / "pg" / "pgdata"
INDEX = "job_vectors_embedding_hnsw"
INDEX_SQL = (
    f"CREATE INDEX {INDEX} ON talent.job_vectors USING hnsw (embedding vector_cosine_ops)"
    " WITH (m = 16, ef_construction = 64)"
)


@contextmanager
def server() -> Iterator[str]:
    from talent_shared.db import embedded

    with embedded.running(PGDATA) as url:
        yield url


def _db_url(url: str, name: str) -> str:
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def job_database(url: str, jobs: Dataset, *, rebuild: bool = False) -> tuple[str, dict]:
    """A database whose ``talent.job_vectors`` holds ``jobs`` with the HNSW index built; returns
    its URL and how long loading and the index build took (when they ran, or from the marker)."""
    from talent_shared.db.connection import connect
    from talent_shared.db.migrations import migrate

    name = f"bench_jobs_{len(jobs)}"
    key = f"{DATA_VERSION}:{len(jobs)}:{jobs.ids[0]}:{jobs.ids[-1]}"
    with psycopg.connect(url, autocommit=True) as admin:
        exists = admin.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and rebuild:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            admin.execute(f'CREATE DATABASE "{name}"')
    db_url = _db_url(url, name)
    with connect(db_url) as conn:
        migrate(conn, dim=DIM)
        conn.execute("CREATE TABLE IF NOT EXISTS public.bench_marker (key text PRIMARY KEY, info jsonb NOT NULL)")
        row = conn.execute("SELECT info FROM public.bench_marker WHERE key = %s", (key,)).fetchone()
    if row:
        return db_url, {**row[0], "cached": True}
    with connect(db_url) as conn:
        info = _load(conn, jobs)
        conn.execute("DELETE FROM public.bench_marker")
        conn.execute(
            "INSERT INTO public.bench_marker (key, info) VALUES (%s, %s)", (key, psycopg.types.json.Jsonb(info))
        )
    return db_url, {**info, "cached": False}


def _load(conn: psycopg.Connection, jobs: Dataset) -> dict:
    conn.execute("TRUNCATE talent.job_vectors")
    conn.execute(f"DROP INDEX IF EXISTS talent.{INDEX}")
    started = time.perf_counter()
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY talent.job_vectors (record_id, embedding, data_version, model) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy,
    ):
        copy.set_types(["text", "vector", "text", "text"])
        for rid, vec in zip(jobs.ids, jobs.vectors, strict=True):
            copy.write_row((rid, vec, rid, "hashing-v1"))
    copy_seconds = time.perf_counter() - started
    conn.commit()
    log(f"COPY {len(jobs):,} job vectors: {copy_seconds:.1f}s")
    workers = conn.execute("SHOW max_parallel_maintenance_workers").fetchone()[0]
    conn.execute("SET maintenance_work_mem = '2GB'")  # the whole graph in memory, else the build crawls
    started = time.perf_counter()
    conn.execute(INDEX_SQL)
    build_seconds = time.perf_counter() - started
    conn.execute("ANALYZE talent.job_vectors")
    conn.commit()
    size = conn.execute(f"SELECT pg_relation_size('talent.{INDEX}')").fetchone()[0]
    log(
        f"HNSW build on {len(jobs):,} x {DIM}: {build_seconds:.1f}s ({size / 2**20:.0f} MB, {workers} parallel workers)"
    )
    return {
        "rows": len(jobs),
        "copy_seconds": round(copy_seconds, 2),
        "index_build_seconds": round(build_seconds, 2),
        "index_mb": round(size / 2**20, 1),
        "parallel_maintenance_workers": int(workers),
    }
