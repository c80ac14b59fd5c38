"""Ingestion: every kind of bad input is quarantined with its line and reason; good records beside
it go through; files are read once; unchanged records request nothing."""

import json
from pathlib import Path

import dagster as dg
import pytest

from talent_shared.ingest.sensor import build_ingest_sensor
from talent_shared.keys import RAW_CANDIDATES
from talent_shared.partitions import candidates_partitions
from talent_shared.testing import records_of, tick

GOOD = {"id": "c-good", "name": "Ana", "resume_text": "ICU nurse, 5 years."}


def _write(landing: Path, name: str, data: bytes) -> None:
    path = landing / "candidates" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    sensor = build_ingest_sensor("candidate", RAW_CANDIDATES, candidates_partitions)
    result = tick(sensor, instance, cursor)
    assert isinstance(result, dg.SensorResult)
    return result


def _apply(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """What the sensor daemon does with a result: add partitions, record the events."""
    for request in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
    for event in result.asset_events or []:
        instance.report_runless_asset_event(event)


BAD_FILES = {
    "broken.json": (b'{"id": "c-1", "name": ', 1, "json: "),
    "missing.json": (json.dumps({"id": "c-2", "name": "x"}).encode(), 1, "resume_text: Field required"),
    "wrongtype.json": (json.dumps({**GOOD, "id": "c-3", "years_experience": "ten"}).encode(), 1, "years_experience: "),
    "badid.json": (json.dumps({**GOOD, "id": "../etc/passwd"}).encode(), 1, "id: String should match pattern"),
    "latin1.json": ('{"id": "c-4", "name": "Jos\xe9", "resume_text": "x"}'.encode("latin-1"), 1, "encoding: not UTF-8"),
    "empty.json": (b"  \n", None, "file: empty"),
    "toolong.json": (
        json.dumps({**GOOD, "id": "c-5", "name": "n" * 201}).encode(),
        1,
        "name: String should have at most 200",
    ),
    "array.json": (json.dumps([GOOD]).encode(), 1, "record: expected a JSON object, got list"),
    "hugeint.json": (b'{"id": "c-6", "name": "n", "resume_text": "x", "n": ' + b"9" * 5000 + b"}", 1, "json: "),
    "deep.json": (b"[" * 100_000 + b"]" * 100_000, 1, "json: "),
    "nan.json": (b'{"id": "c-7", "name": "n", "resume_text": "x", "score": NaN}', 1, "json: NaN is not a JSON number"),
    "nul.json": (
        json.dumps({**GOOD, "id": "c-8", "resume_text": "a\u0000b"}).encode(),
        1,
        "resume_text: contains a NUL character",
    ),
    "surrogate.json": (
        b'{"id": "c-9", "name": "\\ud800", "resume_text": "x"}',
        1,
        "name: contains an unpaired surrogate",
    ),
}


def test_every_bad_input_is_rejected_with_reason_and_good_records_pass(one_record_per_batch: Path, db) -> None:
    landing = one_record_per_batch / "landing"
    for name, (data, _, _) in BAD_FILES.items():
        _write(landing, name, data)
    lines = [
        json.dumps({**GOOD, "id": "c-10"}),
        "{not json",
        json.dumps({**GOOD, "id": "c-11", "skills": [1]}),
        json.dumps({**GOOD, "id": "c-12", "resume_text": "'; DROP TABLE talent.raw_records; --<b>bold</b>"}),
    ]
    _write(landing, "batch.jsonl", ("\n".join(lines) + "\n").encode())
    _write(landing, "good.json", json.dumps(GOOD).encode())

    with dg.instance_for_test() as instance:
        result = _tick(instance, None)
        _apply(instance, result)
        batches = sorted(e.partition for e in result.asset_events)
        assert records_of(db, "candidate", batches) == ["c-10", "c-12", "c-good"]
        assert sorted(result.dynamic_partitions_requests[0].partition_keys) == batches

        rejects = {(s, line): r for s, line, r in db.execute("SELECT source, line, reason FROM talent.rejects")}
        for name, (_, line, reason) in BAD_FILES.items():
            assert any(reason in r for r in [rejects.get((f"candidates/{name}", line), "")]), (name, rejects)
        assert rejects[("candidates/batch.jsonl", 2)].startswith("json: ")
        assert rejects[("candidates/batch.jsonl", 3)].startswith("skills.0: ")
        assert (
            db.execute("SELECT payload->>'resume_text' FROM talent.raw_records WHERE record_id = 'c-12'")
            .fetchone()[0]
            .startswith("'; DROP")
        )

        # the sensor keeps ticking: nothing new, nothing requested, files not re-read
        again = _tick(instance, result.cursor)
        assert not again.asset_events and again.skip_reason
        assert "0 files read" in again.skip_reason.skip_message


def test_changed_record_requests_only_its_partition(one_record_per_batch: Path, db) -> None:
    landing = one_record_per_batch / "landing"
    _write(
        landing,
        "a.jsonl",
        (json.dumps({**GOOD, "id": "c-1"}) + "\n" + json.dumps({**GOOD, "id": "c-2"}) + "\n").encode(),
    )
    with dg.instance_for_test() as instance:
        first = _tick(instance, None)
        _apply(instance, first)
        assert len(first.asset_events) == 2
        # same content rewritten (new mtime): read again, but nothing changed
        _write(
            landing,
            "a.jsonl",
            (json.dumps({**GOOD, "id": "c-2"}) + "\n" + json.dumps({**GOOD, "id": "c-1"}) + "\n").encode(),
        )
        same = _tick(instance, first.cursor)
        assert not same.asset_events
        # one record edited: exactly its partition, with a new data version
        _write(
            landing,
            "a.jsonl",
            (
                json.dumps({**GOOD, "id": "c-2"})
                + "\n"
                + json.dumps({**GOOD, "id": "c-1", "resume_text": "Chef."})
                + "\n"
            ).encode(),
        )
        edited = _tick(instance, same.cursor)
        assert records_of(db, "candidate", [e.partition for e in edited.asset_events]) == ["c-1"]
        assert edited.asset_events[0].tags["dagster/data_version"] != first.asset_events[0].tags["dagster/data_version"]
        assert not edited.dynamic_partitions_requests


def test_a_tick_whose_events_were_lost_loses_no_record(one_record_per_batch: Path, db) -> None:
    """A tick whose cursor and events were never saved: the replay reports nothing new (the file is
    known), and the record is still there to process, found from state by the reconciler."""
    from talent_shared import lineage

    _write(one_record_per_batch / "landing", "a.json", json.dumps(GOOD).encode())
    with dg.instance_for_test() as instance:
        first = _tick(instance, None)
        assert len(first.asset_events) == 1
        replay = _tick(instance, None)  # the first tick's result never reached the daemon
        assert not replay.asset_events
    assert lineage.stale_batches(db, "candidate", {"normalized": "n", "vectors": "v"}, 3) == {"b000000": 1}


def test_inbox_rows_are_validated_and_cursor_advances(one_record_per_batch: Path, db) -> None:
    from talent_shared.ingest.store import write_inbox

    assert write_inbox(db, "candidate", {**GOOD, "id": "c-in"}, "k1")
    assert not write_inbox(db, "candidate", {**GOOD, "id": "c-in"}, "k1")
    assert write_inbox(db, "candidate", {"id": "c-bad"}, "k2")
    db.commit()
    with dg.instance_for_test() as instance:
        result = _tick(instance, None)
        assert records_of(db, "candidate", [e.partition for e in result.asset_events]) == ["c-in"]
        last_id = db.execute("SELECT max(id) FROM talent.inbox").fetchone()[0]
        assert json.loads(result.cursor)["inbox_id"] == last_id
        assert db.execute("SELECT source FROM talent.rejects").fetchone()[0] == f"inbox:{last_id}"


@pytest.mark.parametrize("limit", [1])
def test_tick_work_is_capped(one_record_per_batch: Path, db, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_MAX_RECORDS_PER_TICK", str(limit))
    get_settings.cache_clear()
    for i in range(3):
        _write(one_record_per_batch / "landing", f"r{i}.json", json.dumps({**GOOD, "id": f"c-{i}"}).encode())
    with dg.instance_for_test() as instance:
        seen, cursor = [], None
        for _ in range(5):
            result = _tick(instance, cursor)
            seen += records_of(db, "candidate", [e.partition for e in result.asset_events or []])
            cursor = result.cursor
        assert sorted(seen) == ["c-0", "c-1", "c-2"]
