"""``talent cost budget``: shows and sets the daily budgets in the one place they live."""

import json
from decimal import Decimal


def test_shows_defaults_sets_one_and_refuses_an_unknown_location(talent_env, db) -> None:
    from typer.testing import CliRunner

    from talent_platform.cli import app
    from talent_shared.cost.budget import daily_budget

    runner = CliRunner()
    shown = runner.invoke(app, ["cost", "budget", "--json"])
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output) == {"candidates": 25.0, "jobs": 25.0, "matching": 25.0}

    raised = runner.invoke(app, ["cost", "budget", "jobs", "40.5"])
    assert raised.exit_code == 0, raised.output
    assert "jobs" in raised.output and "$40.50/day" in raised.output
    assert daily_budget(db, "jobs") == Decimal("40.5") and daily_budget(db, "candidates") == Decimal(25)

    refused = runner.invoke(app, ["cost", "budget", "job", "1"])
    assert refused.exit_code != 0 and "'job' is not a code location" in refused.output
