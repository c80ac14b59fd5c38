"""Migrations apply once, in order, and refuse a silent change of embedding dimension."""

import pytest

from talent_shared.db.connection import connect
from talent_shared.db.migrations import MIGRATIONS, MigrationError, migrate


def test_migrate_is_idempotent_and_complete(pg_url: str) -> None:
    with connect(pg_url) as conn:
        assert migrate(conn, dim=384) == []  # the session fixture applied everything already
        applied = [v for (v,) in conn.execute("SELECT version FROM talent.schema_migrations ORDER BY version")]
    assert applied == sorted(v for v, _ in MIGRATIONS)
    assert len(set(applied)) == len(MIGRATIONS)


def test_dimension_change_is_refused(pg_url: str) -> None:
    with (
        connect(pg_url) as conn,
        pytest.raises(MigrationError, match=r"\[384\]-dimensional vectors but TALENT_EMBEDDING_DIM=1536"),
    ):
        migrate(conn, dim=1536)


def test_vector_extension_and_tables(pg_url: str) -> None:
    with connect(pg_url) as conn:
        (version,) = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'").fetchone()
        (dims,) = conn.execute(
            "SELECT atttypmod FROM pg_attribute WHERE attrelid = 'talent.job_vectors'::regclass AND attname = 'embedding'"
        ).fetchone()
    assert version.startswith("0.8") and dims == 384


def test_no_role_but_the_owner_creates_in_public_after_migrating(pg_url: str) -> None:
    """A database created on PostgreSQL 14 or older (and kept through every major upgrade since)
    lets PUBLIC create in ``public``; after the migrations no role may, roles step or not."""
    import uuid
    from urllib.parse import urlsplit, urlunsplit

    import psycopg

    suffix = uuid.uuid4().hex[:8]
    database, role = f"talent_public_{suffix}", f"talent_public_{suffix}"
    with connect(pg_url, autocommit=True, vector=False) as admin:
        admin.execute(f"CREATE DATABASE {database}")
        admin.execute(f"CREATE ROLE {role} NOLOGIN")
    url = urlunsplit(urlsplit(pg_url)._replace(path=f"/{database}"))
    try:
        with connect(url, autocommit=True, vector=False) as conn:
            conn.execute("GRANT CREATE ON SCHEMA public TO PUBLIC")  # as PostgreSQL 14 created it
            can_create = f"SELECT has_schema_privilege('{role}', 'public', 'CREATE')"
            assert conn.execute(can_create).fetchone() == (True,)
            migrate(conn, dim=384)
            assert conn.execute(can_create).fetchone() == (False,)
            conn.execute(f"SET ROLE {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("CREATE TABLE public.planted (x int)")
    finally:
        with connect(pg_url, autocommit=True, vector=False) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
            admin.execute(f"DROP ROLE IF EXISTS {role}")
