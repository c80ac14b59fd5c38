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
