"""The inbox is read in commit order: a producer whose transaction commits after a later row was
read is not skipped (an ``id > cursor`` reader skipped it forever)."""

from __future__ import annotations

import dagster as dg
import psycopg

from talent_shared.ingest.sensor import Cursor, build_ingest_sensor
from talent_shared.ingest.store import InboxCursor, inbox_after, write_inbox
from talent_shared.keys import RAW_CANDIDATES
from talent_shared.partitions import candidates_partitions
from talent_shared.testing import tick

GOOD = {"id": "c-early", "name": "Ana", "resume_text": "ICU nurse, 5 years."}


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    sensor = build_ingest_sensor("candidate", RAW_CANDIDATES, candidates_partitions)
    result = tick(sensor, instance, cursor)
    assert isinstance(result, dg.SensorResult)
    return result


def _stored(db) -> set[str]:
    return {r for (r,) in db.execute("SELECT record_id FROM talent.raw_records WHERE entity = 'candidate'")}


def test_a_producer_that_commits_late_is_read_after_it_commits(talent_env, pg_url: str, db) -> None:
    slow = psycopg.connect(pg_url, options="-c search_path=talent,public")
    try:
        # the slow producer takes the lower id and keeps its transaction open
        assert write_inbox(slow, "candidate", GOOD, "slow")
        # a fast producer takes a higher id and commits
        assert write_inbox(db, "candidate", {**GOOD, "id": "c-late"}, "fast")
        db.commit()
        with dg.instance_for_test() as instance:
            first = _tick(instance, None)
            # nothing past the open writer is read: neither row, and the cursor stays put
            assert _stored(db) == set()
            assert Cursor.parse(first.cursor) == Cursor(0, 0)
            slow.commit()
            second = _tick(instance, first.cursor)
            assert _stored(db) == {"c-early", "c-late"}
            third = _tick(instance, second.cursor)
            assert third.cursor == second.cursor
    finally:
        slow.close()


def test_a_later_writer_does_not_hold_back_an_earlier_committed_row(talent_env, pg_url: str, db) -> None:
    assert write_inbox(db, "candidate", GOOD, "first")
    db.commit()
    slow = psycopg.connect(pg_url, options="-c search_path=talent,public")
    try:
        assert write_inbox(slow, "candidate", {**GOOD, "id": "c-late"}, "slow")
        rows = inbox_after(db, "candidate", InboxCursor(), 10)
        assert [p["id"] for _, p in rows] == ["c-early"]  # type: ignore[index]
        db.commit()
        slow.rollback()  # an aborted writer leaves nothing to wait for
        assert [p["id"] for _, p in inbox_after(db, "candidate", rows[-1][0], 10)] == []  # type: ignore[index]
    finally:
        slow.close()


def test_an_old_style_cursor_keeps_its_meaning(talent_env, db) -> None:
    assert Cursor.parse('{"inbox_id": 7, "seq": 3, "day": "2026-01-01", "released_usd": 0.5}') == Cursor(0, 7)
    for i in range(3):
        assert write_inbox(db, "candidate", {**GOOD, "id": f"c-{i}"}, f"k{i}")
    db.commit()
    # rows written before migration 0008 carry txid 0: an old cursor reads exactly the rows after it
    db.execute("UPDATE talent.inbox SET txid = '0'")
    db.commit()
    first_id = db.execute("SELECT min(id) FROM talent.inbox").fetchone()[0]
    rows = inbox_after(db, "candidate", first_id, 10)
    assert [p["id"] for _, p in rows] == ["c-1", "c-2"]  # type: ignore[index]
