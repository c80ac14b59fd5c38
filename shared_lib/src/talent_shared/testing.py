"""Pytest fixtures for every team's suite: a real embedded PostgreSQL with pgvector, migrated.

One server per test session (its start costs about a second, its stop is guaranteed by the
fixture's teardown); each test that touches data gets emptied tables and its own ``TALENT_*``
environment, so suites can run alone (``make test-candidates``) or together.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

TABLES = (
    "ingested_sources",
    "inbox",
    "rejects",
    "raw_records",
    "profiles",
    "candidate_vectors",
    "job_vectors",
    "matches",
    "match_inputs",
    "llm_usage",
    "llm_cache",
    "cost_estimates",
    "llm_budgets",
    "llm_prices",
)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    from talent_shared.db import embedded
    from talent_shared.db.connection import connect
    from talent_shared.db.migrations import migrate

    if os.environ.get("TALENT_TEST_DATABASE_URL"):
        url = os.environ["TALENT_TEST_DATABASE_URL"]
        with connect(url) as conn:
            migrate(conn, dim=384)
        yield url
        return
    # Not under pytest's basetemp: as root the server runs as another user, which needs to traverse
    # the parent folders, and any other pytest session resets /tmp/pytest-of-root to owner-only.
    folder = Path(tempfile.mkdtemp(prefix="talent-test-pg-"))
    folder.chmod(0o755)
    try:
        with embedded.running(folder / "pgdata") as url:
            with connect(url) as conn:
                migrate(conn, dim=384)
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def talent_env(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean database and settings pointing at it; yields the test's TALENT_HOME."""
    from talent_shared.db.connection import connect
    from talent_shared.settings import get_settings

    with connect(pg_url) as conn:
        conn.execute("TRUNCATE " + ", ".join(f"talent.{t}" for t in TABLES) + " RESTART IDENTITY")
    monkeypatch.setenv("TALENT_DATABASE_URL", pg_url)
    monkeypatch.setenv("TALENT_HOME", str(tmp_path))
    monkeypatch.setenv("TALENT_LANDING", str(tmp_path / "landing"))
    monkeypatch.delenv("TALENT_LLM_PROVIDER", raising=False)
    monkeypatch.delenv("TALENT_EMBEDDING_PROVIDER", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def db(talent_env: Path, pg_url: str):
    from talent_shared.db.connection import connect

    with connect(pg_url) as conn:
        yield conn


def store_records(conn, entity: str, records: list[dict], source: str = "test.jsonl") -> list[str]:
    """Validate and store records as the ingestion sensor would; returns their ids."""
    import json

    from talent_shared.ingest.parse import Accepted, parse_bytes
    from talent_shared.ingest.store import store_accepted

    data = "\n".join(json.dumps(r) for r in records).encode()
    results = list(parse_bytes(entity, source, data))  # type: ignore[arg-type]
    accepted = [r for r in results if isinstance(r, Accepted)]
    assert len(accepted) == len(records), [r for r in results if not isinstance(r, Accepted)]
    store_accepted(conn, entity, source, accepted)
    conn.commit()
    return [a.record.id for a in accepted]


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A folder for a test's platform state (database included), outside pytest's basetemp.

    As root, the embedded server runs as another user that must traverse every parent folder;
    pytest resets ``/tmp/pytest-of-root`` to owner-only whenever another session starts.
    """
    folder = Path(tempfile.mkdtemp(prefix="talent-test-state-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
