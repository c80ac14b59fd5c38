"""``talent db roles`` (what the platform chart's migrate hook runs after ``talent db migrate``), and
the platform's own database users working as their least-privilege roles: the cost exporter as
``talent_exporter`` (every section of a scrape, no error) and the webhook as ``talent_ingest``
(shared_lib/tests/test_roles.py has the full role matrix)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from talent_shared.testing import role_url


def test_talent_db_roles_command(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from talent_platform.cli import app
    from talent_shared.db.connection import connect
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_DATABASE_URL", pg_url)
    monkeypatch.setenv("TALENT_DB_PASSWORD_EXPORTER", "exporter-password-from-a-secret")
    get_settings.cache_clear()
    try:
        for _ in range(2):  # idempotent: the hook runs it on every deploy
            result = CliRunner().invoke(app, ["db", "roles"])
            assert result.exit_code == 0, result.output
            assert "set the password of talent_exporter" in result.output
            assert "exporter-password-from-a-secret" not in result.output
    finally:
        get_settings.cache_clear()
    with connect(role_url(pg_url, "talent_exporter", "exporter-password-from-a-secret")) as conn:
        assert conn.execute("SELECT current_user").fetchone() == ("talent_exporter",)


def test_the_exporter_scrapes_as_talent_exporter(db, pg_url: str, role_passwords: dict[str, str]) -> None:
    from talent_platform.cost.exporter import LedgerCollector

    db.execute(
        "INSERT INTO talent.llm_usage (call_id, code_location, asset_key, provider, model, operation, status, cost_usd)"
        " VALUES ('c1', 'jobs', 'normalized_jobs', 'openai', 'gpt-4o-mini', 'chat', 'ok', 0.5)"
    )
    db.execute(
        "INSERT INTO talent.raw_records (entity, record_id, content_hash, payload, source, ordinal, partition_key)"
        " VALUES ('job', 'j1', 'h', '{}', 's', 0, 'b000000')"
    )
    db.execute("INSERT INTO talent.cost_estimates (code_location, estimate_usd) VALUES ('jobs', 1)")
    db.commit()
    collector = LedgerCollector(role_url(pg_url, "talent_exporter", role_passwords["talent_exporter"]))
    families = {f.name: f for f in collector.collect()}
    assert collector.scrape_errors == 0
    assert [s.value for s in families["talent_exporter_db_up"].samples] == [1]
    records = {s.labels.get("entity"): s.value for s in families["talent_records_processed"].samples}
    assert records.get("job") == 1


def test_the_webhook_writes_the_inbox_as_talent_ingest(
    talent_env: Path, db, pg_url: str, role_passwords: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from starlette.testclient import TestClient

    from talent_platform.webhook import create_app
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_DATABASE_URL", role_url(pg_url, "talent_ingest", role_passwords["talent_ingest"]))
    monkeypatch.setenv("TALENT_INGEST_TOKEN", "test-token-0123456789abcdef")
    get_settings.cache_clear()
    record = {"id": "c-web", "name": "Ana Example", "resume_text": "ICU nurse, 5 years."}
    headers = {"Authorization": "Bearer test-token-0123456789abcdef", "Content-Type": "application/json"}
    with TestClient(create_app(get_settings(), max_body_bytes=8192)) as client:
        first = client.post("/v1/candidates", content=json.dumps(record), headers=headers)
        again = client.post("/v1/candidates", content=json.dumps(record), headers=headers)  # reads the inbox back
    get_settings.cache_clear()
    assert first.status_code == 202 and first.json() == {"id": "c-web", "duplicate": False}
    assert again.status_code == 202 and again.json() == {"id": "c-web", "duplicate": True}
    db.commit()
    assert db.execute("SELECT entity FROM talent.inbox").fetchall() == [("candidate",)]
