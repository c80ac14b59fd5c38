"""How a matching run uses its connection: reads in one snapshot, explains with no transaction
open, writes in one transaction, and waits while another run holds the matching lock."""

import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from psycopg import pq

from talent_candidates.reading import candidate_input
from talent_jobs.reading import job_input
from talent_matching.crossjoin import LOCK, run_matching
from talent_platform.seed import generate
from talent_shared.db.connection import connect
from talent_shared.profiles import normalize
from talent_shared.providers.local import LocalEmbedder, LocalLLM
from talent_shared.testing import TEST_PROMPT, store_records
from talent_shared.vectors import embed

K = 5
APP = "talent-test-matching"
READERS = {"candidate": candidate_input, "job": job_input}
WRITES = ("DELETE", "COPY", "INSERT", "UPDATE")


def _load(conn, entity: str, records: list[dict]) -> list[str]:
    ids = store_records(conn, entity, records)
    normalize(conn, entity, ids, LocalLLM(), READERS[entity], "test", prompt=TEST_PROMPT)
    embed(conn, entity, ids, LocalEmbedder(384))
    conn.commit()
    return ids


def _explain(candidate, job, overlap) -> str:
    return f"{candidate.title} for {job.title}"


@contextmanager
def _connection(pg_url: str, name: str) -> Iterator:
    """A connection as the asset opens one, named so that ``pg_stat_activity`` tells it apart."""
    with connect(pg_url) as conn:
        conn.execute("SELECT set_config('application_name', %s, false)", (name,))
        conn.commit()
        yield conn


@contextmanager
def _protocol(conn) -> Iterator[list[tuple[str, str]]]:
    """Every message the client sent meanwhile, as (type, text): libpq's own trace, so each
    ``Query``, ``Sync`` or ``CopyDone`` is a round trip whatever code sent it."""
    sent: list[tuple[str, str]] = []
    fd, path = tempfile.mkstemp()
    conn.pgconn.trace(fd)
    conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS | pq.Trace.REGRESS_MODE)
    try:
        yield sent
    finally:
        conn.pgconn.untrace()
        os.close(fd)
        messages: list[str] = []
        for line in Path(path).read_text().splitlines():
            if line.startswith(("F\t", "B\t")) or not messages:
                messages.append(line)
            else:  # a query's own line breaks are written as they are
                messages[-1] += " " + line
        os.unlink(path)
        for message in messages:
            fields = message.split("\t", 3)
            if fields[0] == "F":
                sent.append((fields[2], fields[3] if len(fields) > 3 else ""))


def _statements(sent: list[tuple[str, str]]) -> list[str]:
    """The SQL sent, in order (simple queries and the extended protocol's ``Parse``)."""
    out = []
    for kind, text in sent:
        if kind == "Query":
            out.append(text.strip('" ').upper())
        elif kind == "Parse":  # Parse\t<len>\t"<name>" "<query>" ...: the query is the second string
            out.append(" ".join(text.split('" "', 1)[-1].split()).upper())
    return out


def _idle_in_transaction(observer) -> int:
    (n,) = observer.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE %s AND state LIKE 'idle in transaction%%'",
        (f"{APP}%",),
    ).fetchone()
    return n


def test_a_run_reads_in_one_snapshot_explains_outside_and_writes_in_one_transaction(talent_env, db, pg_url) -> None:
    cands, jobs = generate(40, 12, seed=31)
    _load(db, "candidate", cands[:30])
    _load(db, "job", jobs)
    seen: list[tuple] = []
    with _connection(pg_url, APP) as conn, connect(pg_url, autocommit=True) as observer:

        def explain(candidate, job, overlap) -> str:
            (state,) = observer.execute(
                "SELECT state FROM pg_stat_activity WHERE pid = %s", (conn.info.backend_pid,)
            ).fetchone()
            seen.append((conn.info.transaction_status, state, _idle_in_transaction(observer)))
            return _explain(candidate, job, overlap)

        run_matching(conn, k=K, explain=explain)  # a first run: every list
        _load(db, "candidate", cands[30:])
        with _protocol(conn) as sent:
            report = run_matching(conn, k=K, explain=explain)
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE  # nothing left open, rows committed
    assert report.explained and len(seen) == 30 * 3 + report.explained
    assert set(seen) == {(pq.TransactionStatus.IDLE, "idle", 0)}

    statements = _statements(sent)
    begins = [i for i, s in enumerate(statements) if s.startswith("BEGIN")]
    commits = [i for i, s in enumerate(statements) if s.startswith("COMMIT")]
    assert len(begins) == len(commits) == 2
    (read_begin, write_begin), (read_end, write_end) = begins, commits
    assert "REPEATABLE READ" in statements[read_begin] and "READ ONLY" in statements[read_begin]
    reads = statements[read_begin + 1 : read_end]
    assert reads and all(s.startswith(("SELECT", "WITH")) for s in reads)
    assert any("TALENT.PROFILES" in s for s in reads)  # the explained pairs' profiles, in the snapshot
    writes = statements[write_begin + 1 : write_end]
    assert writes and all(s.startswith(WRITES) for s in writes)
    # the lock is taken before the snapshot's first statement and given back after the commit
    assert "PG_TRY_ADVISORY_LOCK" in statements[0] and "PG_ADVISORY_UNLOCK" in statements[-1]
    assert len(statements) == 2 + len(reads) + len(writes) + 4
    trips = sum(1 for kind, _ in sent if kind in ("Query", "Sync", "CopyDone"))
    assert trips == len(statements) + 1  # COPY's data is one more


def test_a_second_run_waits_for_the_first_and_matches_what_came_after_its_snapshot(talent_env, db, pg_url) -> None:
    """Two runs overlap (a launch from the UI and the reconciler's): the second waits on the lock
    while the first explains, then matches only the candidate stored after the first one's
    snapshot; the tables end as a from-scratch run leaves them."""
    cands, jobs = generate(13, 6, seed=32)
    first_ids = _load(db, "candidate", cands[:12])
    _load(db, "job", jobs)
    reports: dict[str, object] = {}
    said: list[str] = []
    late: list[str] = []

    def second() -> None:
        with _connection(pg_url, f"{APP}-second") as conn:
            reports["second"] = run_matching(conn, k=K, explain=_explain, log=said.append)

    waiter = threading.Thread(target=second, daemon=True)

    def explain(candidate, job, overlap) -> str:
        if not late:  # first call: a candidate arrives after the snapshot, and another run starts
            late.extend(_load(db, "candidate", cands[12:]))
            waiter.start()
            _until(lambda: _waiting_for_lock(db), "the second run to wait on the lock")
        return _explain(candidate, job, overlap)

    with _connection(pg_url, APP) as conn:
        first = run_matching(conn, k=K, explain=explain)
    waiter.join(timeout=60)
    assert not waiter.is_alive()
    second_report = reports["second"]
    assert first.changed_candidates == sorted(first_ids) and first.waited_s == 0
    assert second_report.changed_candidates == late and not second_report.changed_jobs  # type: ignore[attr-defined]
    assert second_report.waited_s > 0  # type: ignore[attr-defined]
    assert said and "waiting" in said[0]
    assert not _advisory_locks(db)

    incremental = _exact(db)
    db.execute("TRUNCATE talent.matches, talent.match_inputs")
    run_matching(db, k=K, explain=_explain)
    assert _exact(db) == incremental


def test_a_failed_run_gives_the_lock_back_and_leaves_nothing_open(talent_env, db, pg_url) -> None:
    cands, jobs = generate(6, 3, seed=33)
    _load(db, "candidate", cands)
    _load(db, "job", jobs)

    def broken(candidate, job, overlap) -> str:
        raise RuntimeError("the LLM is down")

    with _connection(pg_url, APP) as conn:
        with pytest.raises(RuntimeError, match="the LLM is down"):
            run_matching(conn, k=K, explain=broken)
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        assert not _advisory_locks(db)
        assert db.execute("SELECT count(*) FROM talent.matches").fetchone()[0] == 0  # nothing half-written
        report = run_matching(conn, k=K, explain=_explain)
    assert len(report.changed_candidates) == 6 and report.waited_s == 0


def _advisory_locks(db) -> list:
    """The matching lock's holders and waiters."""
    rows = db.execute(
        "SELECT granted FROM pg_locks WHERE locktype = 'advisory' AND objid = hashtext(%s)::oid", (LOCK,)
    ).fetchall()
    db.commit()
    return rows


def _waiting_for_lock(db) -> bool:
    return any(not granted for (granted,) in _advisory_locks(db))


def _until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _exact(db) -> tuple[dict, dict]:
    rows = db.execute(
        "SELECT candidate_id, job_id, score, candidate_rank, job_rank, similarity, skill_overlap, experience_fit,"
        " lexical, seniority_fit, candidate_version, job_version, explanation FROM talent.matches"
    ).fetchall()
    inputs = db.execute("SELECT entity, record_id, data_version, floor_score, floor_id FROM talent.match_inputs")
    return {(r[0], r[1]): r[2:] for r in rows}, {(e, r): rest for e, r, *rest in inputs}


def test_a_meter_sharing_the_connection_keeps_its_rows_and_the_runs(talent_env, db) -> None:
    """A meter on the run's own connection (benchmarks, ad-hoc use) writes its ledger rows during
    the explanations, and this ``explain`` reads the spend so far there too, which leaves a
    transaction open: the ledger rows and the run's rows are all committed, none rolled back."""
    from talent_shared.llm.client import MeteredLLM
    from talent_shared.llm.meter import Meter
    from talent_shared.testing import EXPLAIN_TEST_PROMPT

    cands, jobs = generate(5, 3, seed=34)
    _load(db, "candidate", cands)
    _load(db, "job", jobs)
    ledger = "SELECT count(*) FROM talent.llm_usage"
    before = db.execute(ledger).fetchone()[0]
    with Meter(conn=db) as meter:
        llm = MeteredLLM(LocalLLM(), meter)

        def explain(candidate, job, overlap) -> str:
            text = llm.explain_match(EXPLAIN_TEST_PROMPT, candidate, job, overlap)[0]
            db.execute("SELECT sum(cost_usd) FROM talent.llm_usage")
            return text

        report = run_matching(db, k=K, explain=explain)
    assert db.info.transaction_status == pq.TransactionStatus.IDLE
    db.rollback()  # nothing is left to roll back
    assert report.explained == 5 * 3
    assert db.execute(ledger).fetchone()[0] - before == report.explained
    assert db.execute("SELECT count(*) FROM talent.matches").fetchone()[0] == report.rows_written > 0
