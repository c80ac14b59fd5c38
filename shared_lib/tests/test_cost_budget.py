"""Budget guard: the ingestion sensor reports only what the day's budget covers and says why; work
resumes when the budget is raised (or the day turns); an LLM asset over budget fails fast with a
clear message; the meter's hard cap stops a step mid-way."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from talent_shared.ingest.sensor import build_ingest_sensor
from talent_shared.keys import RAW_CANDIDATES
from talent_shared.partitions import candidates_partitions
from talent_shared.testing import TEST_PROMPT, store_records


def _clean(db) -> None:
    db.execute("TRUNCATE talent.llm_budgets, talent.cost_estimates")
    db.commit()


def _observed(db, version: str, cost: str, n: int = 4, days_ago: int = 2) -> None:
    """Ledger history: n records of normalized_candidates at ``cost`` each (not today's spend)."""
    for i in range(n):
        db.execute(
            "INSERT INTO talent.llm_usage (call_id, run_id, asset_key, partition_key, code_location, code_version,"
            " provider, model, operation, cost_usd, status, created_at) VALUES (%s, 'hist', 'normalized_candidates',"
            " %s, 'candidates', %s, 'openai', 'gpt-4o-mini', 'chat', %s, 'ok', now() - make_interval(days => %s))",
            (f"hist-{i}", f"h-{i}", version, Decimal(cost), days_ago),
        )
    db.commit()


def _write(landing: Path, n: int) -> None:
    path = landing / "candidates" / "batch.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(json.dumps({"id": f"c-{i}", "name": "A", "resume_text": "ICU nurse."}) + "\n" for i in range(n))
    )


def _pipeline():
    from talent_candidates.definitions import pipeline

    return pipeline


def _tick(instance, cursor):
    sensor = build_ingest_sensor(
        "candidate", RAW_CANDIDATES, candidates_partitions, llm_assets=_pipeline().llm_assets()
    )
    return sensor(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_sensor_holds_what_the_budget_does_not_cover_and_resumes_when_raised(talent_env: Path, db) -> None:
    _clean(db)
    _observed(db, _pipeline().normalized_code_version, "0.01")
    db.execute("INSERT INTO talent.llm_budgets (code_location, daily_usd) VALUES ('candidates', 0.025)")
    db.commit()
    _write(talent_env / "landing", 5)
    with dg.instance_for_test() as instance:
        first = _tick(instance, None)
        assert [e.partition for e in first.asset_events] == ["c-0", "c-1"]  # 2 x $0.01 fit in $0.025
        held = _tick(instance, first.cursor)  # the two reported ones count although not yet spent
        assert not held.asset_events
        reason = held.skip_reason.skip_message
        assert "LLM budget" in reason and "3 of 3 pending candidate records held" in reason
        assert "daily budget $0.0250 for candidates" in reason and "UTC" in reason

        db.execute("UPDATE talent.llm_budgets SET daily_usd = 1 WHERE code_location = 'candidates'")
        db.commit()
        resumed = _tick(instance, held.cursor)
        assert [e.partition for e in resumed.asset_events] == ["c-2", "c-3", "c-4"]
        # a new day starts from zero: the cursor's day is what resets it
        stale_day = json.loads(resumed.cursor) | {"day": "2000-01-01", "released_usd": 99.0}
        db.execute("UPDATE talent.llm_budgets SET daily_usd = 0.025 WHERE code_location = 'candidates'")
        db.commit()
        store_records(db, "candidate", [{"id": "c-9", "name": "B", "resume_text": "Chef."}])
        next_day = _tick(instance, json.dumps(stale_day))
        assert [e.partition for e in next_day.asset_events] == ["c-9"]


def test_one_budget_source_and_free_providers_never_gate(talent_env: Path, db) -> None:
    from talent_shared.cost.budget import daily_budget, daily_budgets, set_daily_budget

    _clean(db)
    assert daily_budget(db, "candidates") == Decimal("25.0")  # TALENT_DAILY_BUDGET_USD default
    set_daily_budget(db, "candidates", Decimal("3.5"))
    assert daily_budget(db, "candidates") == Decimal("3.5")
    assert daily_budgets(db, ("jobs",)) == {"candidates": Decimal("3.5"), "jobs": Decimal("25.0")}
    set_daily_budget(db, "candidates", Decimal(0))
    db.commit()
    _write(talent_env / "landing", 3)
    with dg.instance_for_test() as instance:
        assert len(_tick(instance, None).asset_events) == 3  # local providers: $0 per record


def test_asset_over_budget_fails_fast_with_the_reason(talent_env: Path, db) -> None:
    from talent_shared.pipeline import entity_pipeline

    assets, _ = entity_pipeline(_pipeline())
    _clean(db)
    _observed(db, _pipeline().normalized_code_version, "0.01")
    db.execute("INSERT INTO talent.llm_budgets (code_location, daily_usd) VALUES ('candidates', 0.015)")
    db.commit()
    ids = store_records(db, "candidate", [{"id": f"c-{i}", "name": "A", "resume_text": "ICU nurse."} for i in range(2)])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("candidates", ids)
        result = dg.materialize(
            assets[:2],
            instance=instance,
            selection=[assets[1]],
            raise_on_error=False,
            tags={"dagster/asset_partition_range_start": ids[0], "dagster/asset_partition_range_end": ids[-1]},
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.event_specific_data.error.message
        assert "LLM budget" in message and "normalized_candidates over 2 partition(s)" in message
        assert "daily budget $0.0150 for candidates" in message
    assert db.execute("SELECT count(*) FROM talent.profiles").fetchone()[0] == 0
    assert db.execute("SELECT count(*) FROM talent.llm_usage WHERE run_id <> 'hist'").fetchone()[0] == 0


def test_meter_hard_cap_stops_mid_step(talent_env: Path, db, pg_url) -> None:
    from talent_shared.llm.client import MeteredLLM
    from talent_shared.llm.meter import BudgetExceeded, Meter, MeterContext
    from talent_shared.llm.replay import ReplayTransport, client, load
    from talent_shared.providers.openai_provider import OpenAILLM

    body = load(Path(__file__).parent / "fixtures" / "openai", "chat_completion_profile")
    transport = ReplayTransport(default_chat=body)
    with Meter(
        MeterContext(run_id="cap", code_location="candidates"),
        url=pg_url,
        budget_usd=Decimal("0.0003"),
        spent_before_usd=Decimal(0),
    ) as meter:
        llm = MeteredLLM(OpenAILLM(client(transport), "gpt-4o-mini"), meter)
        with pytest.raises(BudgetExceeded, match="budget of candidates exhausted"):
            for i in range(10):
                llm.extract_profile(TEST_PROMPT, f"text {i}", {})
    # each call costs ~$0.0002: the second crosses $0.0003; it is recorded, and no third call is made
    assert len(transport.requests) == 2
    assert db.execute("SELECT count(*) FROM talent.llm_usage WHERE run_id = 'cap'").fetchone()[0] == 2
