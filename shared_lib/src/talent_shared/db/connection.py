"""Connections to the platform database (psycopg 3 with pgvector types registered).

``TALENT_DATABASE_URL`` wins; otherwise the embedded server under ``TALENT_HOME`` is used, whose
URL is a Unix socket in its data directory. Dagster's own storage needs the psycopg2 scheme of the
same URL (dagster#33958), which :func:`dagster_storage_url` derives.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

import psycopg
from pgvector.psycopg import register_vector

from talent_shared.settings import Settings, get_settings

# Our tables live in their own schema, beside Dagster's storage tables in the same database.
SCHEMA = "talent"
SEARCH_PATH = f"-c search_path={SCHEMA},public"


def database_url(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if settings.database_url:
        return settings.database_url
    from talent_shared.db.embedded import embedded_url

    return embedded_url(settings.pgdata)


def dagster_storage_url(url: str) -> str:
    """The same database under the scheme dagster-postgres can use (psycopg2, see module doc)."""
    _scheme, sep, rest = url.partition("://")
    if not sep:
        raise ValueError(f"not a database URL: {url!r}")
    return f"postgresql+psycopg2://{rest}"


def socket_url(socket_dir: str, database: str = "postgres", user: str = "postgres") -> str:
    return f"postgresql://{user}@/{database}?host={quote(socket_dir)}"


@contextmanager
def connect(url: str | None = None, *, autocommit: bool = False, vector: bool = True) -> Iterator[psycopg.Connection]:
    """A connection that commits on success and rolls back on error."""
    with psycopg.connect(url or database_url(), autocommit=autocommit, options=SEARCH_PATH) as conn:
        if vector:
            try:
                register_vector(conn)
            except psycopg.ProgrammingError:
                # the extension does not exist yet: only migrations connect before it does
                conn.rollback()
        yield conn
