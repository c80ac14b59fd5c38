"""Budget guard: the reconciler requests only the batches the day's budget covers and says why; work
resumes when the budget is raised (or the day turns); an LLM asset over budget fails fast with a
clear message; the meter's hard cap stops a step mid-way."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest

from talent_shared.testing import TEST_PROMPT, store_records, tick


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
    from talent_shared.reconciler import entity_reconciler

    result = tick(entity_reconciler(_pipeline()), instance, cursor)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _requested(result) -> list[str]:
    return [r.partition_key for r in result.run_requests or []]


def _held(db) -> str:
    return db.execute("SELECT reason FROM talent.reconciler_ticks WHERE location = 'candidates'").fetchone()[0] or ""


@pytest.fixture
def one_per_batch(talent_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_BATCH_SIZE", "1")
    get_settings.cache_clear()
    return talent_env


def test_reconciler_holds_what_the_budget_does_not_cover_and_resumes_when_raised(one_per_batch: Path, db) -> None:
    _clean(db)
    _observed(db, _pipeline().normalized_code_version, "0.01")
    db.execute("INSERT INTO talent.llm_budgets (code_location, daily_usd) VALUES ('candidates', 0.025)")
    db.commit()
    store_records(db, "candidate", [{"id": f"c-{i}", "name": "A", "resume_text": "ICU nurse."} for i in range(5)])
    with dg.instance_for_test() as instance:
        first = _tick(instance, None)
        assert _requested(first) == ["b000000", "b000001"]  # 2 x $0.01 fit in $0.025
        reason = _held(db)
        assert "LLM budget" in reason and "3 candidate records held" in reason
        assert "daily budget $0.0250 for candidates" in reason and "UTC" in reason
        assert db.execute("SELECT stranded FROM talent.reconciler_ticks").fetchone()[0] == 3
        held = _tick(instance, first.cursor)  # what it released counts although not yet spent
        assert _requested(held) == []

        db.execute("UPDATE talent.llm_budgets SET daily_usd = 1 WHERE code_location = 'candidates'")
        db.commit()
        resumed = _tick(instance, held.cursor)
        assert _requested(resumed) == [f"b00000{i}" for i in range(5)]  # nothing ran them yet: all stale
        # a new day starts from zero: the cursor's day is what resets it
        stale_day = json.loads(resumed.cursor) | {"day": "2000-01-01", "released_usd": 99.0}
        db.execute("UPDATE talent.llm_budgets SET daily_usd = 0.025 WHERE code_location = 'candidates'")
        db.commit()
        next_day = _tick(instance, json.dumps(stale_day))
        assert _requested(next_day) == ["b000000", "b000001"]


def test_one_budget_source_and_free_providers_never_gate(one_per_batch: Path, db) -> None:
    from talent_shared.cost.budget import daily_budget, daily_budgets, set_daily_budget

    _clean(db)
    assert daily_budget(db, "candidates") == Decimal("25.0")  # TALENT_DAILY_BUDGET_USD default
    set_daily_budget(db, "candidates", Decimal("3.5"))
    assert daily_budget(db, "candidates") == Decimal("3.5")
    assert daily_budgets(db, ("jobs",)) == {"candidates": Decimal("3.5"), "jobs": Decimal("25.0")}
    set_daily_budget(db, "candidates", Decimal(0))
    db.commit()
    store_records(db, "candidate", [{"id": f"c-{i}", "name": "A", "resume_text": "ICU nurse."} for i in range(3)])
    with dg.instance_for_test() as instance:
        assert len(_requested(_tick(instance, None))) == 3  # local providers: $0 per record


def test_asset_over_budget_fails_fast_with_the_reason(talent_env: Path, db) -> None:
    from talent_shared.pipeline import entity_pipeline
    from talent_shared.resources import deployment_resources

    assets = entity_pipeline(_pipeline())
    _clean(db)
    _observed(db, _pipeline().normalized_code_version, "0.01")
    db.execute("INSERT INTO talent.llm_budgets (code_location, daily_usd) VALUES ('candidates', 0.015)")
    db.commit()
    store_records(db, "candidate", [{"id": f"c-{i}", "name": "A", "resume_text": "ICU nurse."} for i in range(2)])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("candidate_batches", ["b000000"])
        result = dg.materialize(
            assets[:2],
            resources=deployment_resources(),
            instance=instance,
            selection=[assets[1]],
            raise_on_error=False,
            partition_key="b000000",
        )
        assert not result.success
        failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
        message = failure.event_specific_data.error.message
        assert "LLM budget" in message and "normalized_candidates over 2 record(s)" in message
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


def test_an_observed_mean_reads_the_newest_calls_only(talent_env, db, monkeypatch) -> None:
    """Every step and every ingestion tick asks for a mean: it is taken over the newest
    ``SAMPLE_CALLS`` paid calls, not over every row of the window (a row per record after a load)."""
    from talent_shared.cost import budget

    _observed(db, "v1", "0.010", n=6, days_ago=3)  # older and dearer
    for i in range(4):
        db.execute(
            "INSERT INTO talent.llm_usage (call_id, run_id, asset_key, partition_key, code_location, code_version,"
            " provider, model, operation, cost_usd, status, created_at) VALUES (%s, 'new', 'normalized_candidates',"
            " %s, 'candidates', 'v1', 'openai', 'gpt-4o-mini', 'chat', 0.001, 'ok', now() - interval '1 day')",
            (f"new-{i}", f"n-{i}"),
        )
    db.commit()
    whole = budget.observed_cost_per_partition(db, "candidates", "normalized_candidates")
    assert whole == (Decimal("0.064") / 10, 10)
    monkeypatch.setattr(budget, "SAMPLE_CALLS", 4)
    assert budget.observed_cost_per_partition(db, "candidates", "normalized_candidates") == (Decimal("0.001"), 4)
    assert budget.observed_cost_per_call(db, "candidates", "normalized_candidates") == (Decimal("0.001"), 4)


def test_todays_spend_is_the_ledgers_sum_of_the_day(talent_env, db) -> None:
    """``spent_today`` reads the day's total a trigger keeps beside the ledger (migration 0013): it
    equals the sum of the location's rows of the UTC day, whatever else was inserted: earlier days,
    another location, unpriced calls, several rows in one statement, a call inserted twice."""
    from talent_shared.cost.budget import spent_today

    def row(call: str, location: str | None, cost: str | None, days_ago: int = 0) -> tuple:
        return (call, location, None if cost is None else Decimal(cost), days_ago)

    insert = (
        "INSERT INTO talent.llm_usage (call_id, code_location, provider, model, operation, cost_usd, status,"
        " created_at) VALUES (%s, %s, 'openai', 'gpt-4o-mini', 'chat', %s, 'ok', now() - make_interval(days => %s))"
        " ON CONFLICT (call_id) DO NOTHING"
    )
    rows = [
        row("a", "candidates", "0.25"),
        row("b", "candidates", "0.5"),
        row("c", "candidates", None),  # unpriced: counted nowhere
        row("d", "candidates", "7", days_ago=1),  # yesterday
        row("e", "jobs", "3"),
        row("f", None, "11"),  # no location
    ]
    with db.cursor() as cur:
        cur.executemany(insert, rows)
        cur.execute(insert, row("a", "candidates", "0.25"))  # the same call again: ignored by the ledger
        cur.execute(  # many rows in one statement
            "INSERT INTO talent.llm_usage (call_id, code_location, provider, model, operation, cost_usd, status)"
            " SELECT 'g' || i, 'candidates', 'openai', 'gpt-4o-mini', 'chat', 0.125, 'ok' FROM generate_series(1, 4) i"
        )
    db.commit()
    ledger = (
        "SELECT coalesce(sum(cost_usd), 0) FROM talent.llm_usage"
        " WHERE code_location = %s AND created_at >= date_trunc('day', now(), 'UTC')"
    )
    for location, want in (("candidates", Decimal("1.25")), ("jobs", Decimal("3")), ("matching", Decimal("0"))):
        assert spent_today(db, location) == want == db.execute(ledger, (location,)).fetchone()[0]
    assert db.execute("SELECT count(*) FROM talent.llm_spend_daily").fetchone()[0] == 3  # two days, two places
    db.execute("TRUNCATE talent.llm_usage")
    assert spent_today(db, "candidates") == 0
