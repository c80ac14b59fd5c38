"""The entity reconciler's decisions, tick by tick, against a real Dagster instance and Postgres:
the cap on live runs, a live run covering its batch, quarantine after failed runs in a row, and a
tick's questions to Dagster bounded by the cap, not by how many batches are stale."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from talent_shared.resources import PostgresResource
from talent_shared.testing import store_records, tick


def _pipeline():
    from talent_candidates.definitions import pipeline

    return pipeline


def _tick(instance, cursor=None):
    from talent_shared.reconciler import entity_reconciler

    result = tick(entity_reconciler(_pipeline()), instance, cursor)
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    return result


def _requested(result) -> list[str]:
    return [r.partition_key for r in result.run_requests or []]


def _tick_row(db) -> dict:
    row = db.execute(
        "SELECT stale, in_flight, requested, stranded, quarantined, reason FROM talent.reconciler_ticks"
        " WHERE location = 'candidates'"
    ).fetchone()
    return dict(zip(("stale", "in_flight", "requested", "stranded", "quarantined", "reason"), row, strict=True))


def _code() -> str:
    from talent_shared.reconciler import code_tag

    spec = _pipeline()
    return code_tag([spec.normalized_code_version, spec.vectors_code_version])


def _run(instance, partition: str, status: dg.DagsterRunStatus, code: str | None = None) -> None:
    from talent_shared.reconciler import CODE_TAG, PIPELINE_TAG

    tags = {"dagster/partition": partition, PIPELINE_TAG: "candidates", CODE_TAG: code or _code()}
    spec = _pipeline()
    instance.add_run(
        dg.DagsterRun(
            job_name="__ASSET_JOB",
            status=status,
            tags=tags,
            asset_selection={spec.keys.normalized, spec.keys.vectors},
        )
    )


@pytest.fixture
def small_batches(talent_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_BATCH_SIZE", "1")
    monkeypatch.setenv("TALENT_MAX_RUNS_PER_TICK", "3")
    get_settings.cache_clear()
    yield talent_env
    get_settings.cache_clear()


def _records(n: int) -> list[dict]:
    return [{"id": f"c-{i}", "name": "A", "resume_text": "ICU nurse."} for i in range(n)]


def test_the_cap_counts_live_runs_and_a_live_run_covers_its_batch(small_batches: Path, db) -> None:
    store_records(db, "candidate", _records(6))
    with dg.instance_for_test() as instance:
        first = _tick(instance)
        assert _requested(first) == ["b000000", "b000001", "b000002"]
        row = _tick_row(db)
        # over the cap is waiting, not stranded: a later tick requests them as runs finish
        assert (row["stale"], row["requested"], row["stranded"]) == (6, 3, 0)
        assert row["reason"] == "cap of 3 live runs reached"  # said once, however many batches wait
        assert all(r.asset_check_keys == [] for r in first.run_requests)  # the check is not a step

        for key in _requested(first):  # the daemon started them: live, so covering their batches
            _run(instance, key, dg.DagsterRunStatus.STARTED)
        second = _tick(instance, first.cursor)
        assert _requested(second) == []
        row = _tick_row(db)
        assert (row["in_flight"], row["requested"], row["stranded"]) == (3, 0, 0)

        # one finished (its records are still stale here: nothing ran them): a slot for the next batch
        for run in instance.get_runs(dg.RunsFilter(tags={"dagster/partition": "b000000"})):
            instance.delete_run(run.run_id)
        _run(instance, "b000000", dg.DagsterRunStatus.SUCCESS)
        third = _tick(instance, second.cursor)
        assert _requested(third) == ["b000000"]  # the lowest batch with work and no live run


def test_failed_runs_in_a_row_quarantine_the_batch_with_the_reason(small_batches: Path, db) -> None:
    store_records(db, "candidate", _records(2))
    with dg.instance_for_test() as instance:
        for _ in range(2):
            _run(instance, "b000000", dg.DagsterRunStatus.FAILURE)
        # two failures: still requested (three attempts by default)
        assert _requested(_tick(instance)) == ["b000000", "b000001"]
        _run(instance, "b000000", dg.DagsterRunStatus.FAILURE)
        assert _requested(_tick(instance)) == ["b000001"]
        row = _tick_row(db)
        assert row["quarantined"] == 2  # its one record, both stages
        statuses = db.execute(
            "SELECT DISTINCT status, reason FROM talent.record_stages WHERE partition_key = 'b000000'"
        ).fetchall()
        assert [s for s, _ in statuses] == ["quarantined"]
        assert all("3 runs failed in a row" in r for _, r in statuses)
        # quarantined: no longer work, so the next tick neither requests nor counts it
        assert _requested(_tick(instance)) == ["b000001"] and _tick_row(db)["stale"] == 1

        # failures at other code versions do not count against the current ones
        store_records(db, "candidate", [{"id": "c-9", "name": "B", "resume_text": "Welder."}])
        (key,) = [k for (k,) in db.execute("SELECT partition_key FROM talent.raw_records WHERE record_id = 'c-9'")]
        for _ in range(3):
            _run(instance, key, dg.DagsterRunStatus.FAILURE, code="an-older-deploy")
        assert key in _requested(_tick(instance))


def test_a_ticks_questions_to_dagster_follow_the_cap_not_the_stale_batches(
    small_batches: Path, db, monkeypatch: pytest.MonkeyPatch
) -> None:
    store_records(db, "candidate", _records(40))
    with dg.instance_for_test() as instance:
        asked: list[object] = []
        get_runs = instance.get_runs
        has_partition = instance.has_dynamic_partition

        def counted_get_runs(*args, **kwargs):
            asked.append(("get_runs", args, kwargs))
            return get_runs(*args, **kwargs)

        def counted_has_partition(*args, **kwargs):
            asked.append(("has_dynamic_partition", args))
            return has_partition(*args, **kwargs)

        monkeypatch.setattr(instance, "get_runs", counted_get_runs)
        monkeypatch.setattr(instance, "has_dynamic_partition", counted_has_partition)
        result = _tick(instance)
        assert len(_requested(result)) == 3 and _tick_row(db)["stale"] == 40
        # the live runs once, then per requested batch: its failed runs and its partition
        assert len(asked) <= 1 + 2 * 3, asked


def _checks(result) -> list:
    return [e for e in result.asset_events or [] if isinstance(e, dg.AssetCheckEvaluation)]


def test_the_stranded_check_fails_while_the_budget_holds_records_and_passes_when_it_is_raised(
    small_batches: Path, db
) -> None:
    from talent_shared.reconciler import STRANDED_CHECK, stranded_check

    db.execute("TRUNCATE talent.llm_budgets, talent.reconciler_ticks")
    db.execute(
        "INSERT INTO talent.llm_usage (call_id, run_id, asset_key, partition_key, code_location, code_version,"
        " provider, model, operation, cost_usd, status, created_at) VALUES ('h', 'hist', 'normalized_candidates',"
        " 'h', 'candidates', %s, 'openai', 'gpt-4o-mini', 'chat', 0.01, 'ok', now() - interval '2 days')",
        (_pipeline().normalized_code_version,),
    )
    db.execute("INSERT INTO talent.llm_budgets (code_location, daily_usd) VALUES ('candidates', 0.015)")
    db.commit()
    store_records(db, "candidate", _records(3))
    key = _pipeline().keys.vectors
    check = stranded_check("candidates", key)
    with dg.instance_for_test() as instance:
        first = _tick(instance)
        assert _requested(first) == ["b000000"]  # $0.01 of $0.015; two records held by the budget
        (held,) = _checks(first)
        assert held.check_name == STRANDED_CHECK and held.asset_key == key and not held.passed
        assert held.metadata["stranded"].value == 2 and "LLM budget" in (held.description or "")
        executed = check(postgres=PostgresResource())  # what the UI's "execute" reads: the last tick
        assert not executed.passed and executed.metadata["stranded"].value == 2

        _run(instance, "b000000", dg.DagsterRunStatus.STARTED)
        again = _tick(instance, first.cursor)
        assert _checks(again) == []  # the same count: nothing new to store

        db.execute("UPDATE talent.llm_budgets SET daily_usd = 1 WHERE code_location = 'candidates'")
        db.commit()
        raised = _tick(instance, again.cursor)
        (cleared,) = _checks(raised)
        assert cleared.passed and cleared.metadata["stranded"].value == 0
        assert check(postgres=PostgresResource()).passed

        db.execute("UPDATE talent.reconciler_ticks SET ticked_at = now() - interval '1 hour'")
        db.commit()
        stalled = check(postgres=PostgresResource())
        assert not stalled.passed and "last ticked" in (stalled.description or "")


def test_the_tick_that_stores_a_record_requests_its_run(talent_env: Path, db) -> None:
    """Arrivals and reconciliation are one tick: a record landed as a file and one posted to the
    inbox are stored, their batch materialized as ``raw_candidates`` and its run requested together,
    so no record waits a sensor-daemon loop between being stored and being requested."""
    import json

    from talent_shared.ingest.store import write_inbox

    landing = talent_env / "landing" / "candidates"
    landing.mkdir(parents=True)
    (landing / "drop.jsonl").write_text(json.dumps(_records(1)[0]) + "\n")
    write_inbox(db, "candidate", {"id": "c-inbox", "name": "B", "resume_text": "Welder."}, "key-1")
    db.commit()
    with dg.instance_for_test() as instance:
        first = _tick(instance)
        assert [e.partition for e in first.asset_events if isinstance(e, dg.AssetMaterialization)] == ["b000000"]
        assert _requested(first) == ["b000000"]
        assert _tick_row(db)["requested"] == 2
        cursor = json.loads(first.cursor)
        assert cursor["inbox_id"] >= 1 and "released_usd" in cursor  # both halves' state in one cursor
        again = _tick(instance, first.cursor)
        assert not again.asset_events or all(
            not isinstance(e, dg.AssetMaterialization) for e in again.asset_events
        )  # nothing new arrived: the inbox position held


def test_an_upgraded_ingestion_cursor_keeps_its_inbox_position(talent_env: Path, db) -> None:
    """A deployment from before the two were one sensor has the ingestion sensor's cursor under this
    name (the inbox position alone): its rows already read are not read again."""
    import json

    from talent_shared.ingest.store import write_inbox

    write_inbox(db, "candidate", {"id": "c-read", "name": "B", "resume_text": "Welder."}, "key-1")
    (inbox_id,) = db.execute("SELECT max(id) FROM talent.inbox").fetchone()
    (txid,) = db.execute("SELECT max(txid::text::bigint) FROM talent.inbox").fetchone()
    db.commit()
    old = json.dumps({"inbox_txid": txid, "inbox_id": inbox_id})  # what the ingestion sensor wrote
    with dg.instance_for_test() as instance:
        result = _tick(instance, old)
        assert not [e for e in result.asset_events or [] if isinstance(e, dg.AssetMaterialization)]
        assert _tick_row(db)["stale"] == 0
        assert json.loads(result.cursor)["inbox_id"] == inbox_id
        fresh = _tick(instance)  # the same row under an empty cursor is taken: the position is what held it
        assert _requested(fresh) == ["b000000"]
