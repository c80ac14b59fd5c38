"""``talent db migrate``: what the platform chart's migrate hook runs (the migrations themselves are
tested in shared_lib/tests/test_migrations.py)."""

import pytest


def test_talent_db_migrate_command(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from talent_platform.cli import app
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_DATABASE_URL", pg_url)
    get_settings.cache_clear()
    result = CliRunner().invoke(app, ["db", "migrate"])
    get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "up to date" in result.output
