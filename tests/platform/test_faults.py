"""Faults on the local platform: SIGKILL the daemon, a code server, a run worker and PostgreSQL, each
in the middle of a burst of new records, and check that the platform finishes the work afterwards.

One platform serves the whole module (``faults``); the tests run in file order, each landing its
own burst of new records and killing one thing while that burst is being processed (a run for it
has started). After each fault, and the restart of what was killed, the checks are the same:

* every record landed so far has its profile, its vector and its top-K rows in ``talent.matches``;
* no run is left queued, starting, started or canceling, and no failed run is left waiting for its
  retry;
* every record's stages are done, each in one attempt (the record lineage: nothing processed twice);
* the LLM ledger counts no call twice: every paid call (not a cache hit) asked something never
  paid for before. The platform runs with the response cache on (``TALENT_LLM_CACHE=on``), as it is
  for a billable provider; the local providers are free and uncached by default, and then a
  re-executed call is a real second call, which the ledger rightly counts again.

Waits read the database and Dagster's instance, never the clock alone; a deadline that passes
fails with what was still missing and the tails of the platform's logs. What each fault cost
(records, ledger rows, runs, time to recover) is printed at the end of the module (``-s``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.platform

DEADLINE = 300.0  # seconds for the platform to finish a burst after a fault
# The soak's run with synchronous_commit off (``make test-faults-soak``) proves that the PostgreSQL
# crash lost commits the platform had made, and that the platform healed them: see
# ``test_postgres_killed_mid_burst``.
PROVE_LOSS = os.environ.get("TALENT_FAULTS_PROVE_LOSS") == "1"
BURST_CANDIDATES, BURST_JOBS = 6, 2
LOGS = ("daemon", "code-server-candidates", "code-server-jobs", "code-server-matching")


@dataclass
class Burst:
    name: str
    candidates: list[str]
    jobs: list[str]
    landed_at: float


@dataclass
class Faults:
    platform: object  # talent_platform.local.platform.Platform
    landing: Path
    instance: object  # dagster.DagsterInstance
    landed: dict[str, list[str]] = field(default_factory=lambda: {"candidate": [], "job": []})
    bursts: int = 0
    figures: dict[str, dict] = field(default_factory=dict)

    @property
    def pgdata(self) -> Path:
        return self.platform.state / "pgdata"  # type: ignore[attr-defined]

    # -- records ---------------------------------------------------------------------------------

    def land(self, name: str) -> Burst:
        """A burst of new records (ids never used before in this module), written atomically."""
        from talent_platform.seed import generate

        self.bursts += 1
        candidates, jobs = generate(BURST_CANDIDATES, BURST_JOBS, seed=1000 + self.bursts)
        staging = self.landing.parent / "staging"
        staging.mkdir(exist_ok=True)
        landed_at = time.time()
        for folder, records in (("candidates", candidates), ("jobs", jobs)):
            tmp = staging / f"{folder}-{name}.jsonl"
            tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
            os.replace(tmp, self.landing / folder / f"{name}.jsonl")
        burst = Burst(name, [r["id"] for r in candidates], [r["id"] for r in jobs], landed_at)
        self.landed["candidate"] += burst.candidates
        self.landed["job"] += burst.jobs
        return burst

    # -- reading the database (a new connection each time: PostgreSQL may be down) ---------------

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        from talent_shared.db.connection import connect

        with connect(self.platform.database_url) as conn:  # type: ignore[attr-defined]
            return conn.execute(sql, params).fetchall()

    def missing(self) -> dict[str, list[str]]:
        """What is not done yet for the records landed so far, by stage; empty when all is done."""
        from talent_shared.settings import Settings

        top_k = Settings().top_k
        cands, jobs = self.landed["candidate"], self.landed["job"]
        gaps: dict[str, list[str]] = {}

        def absent(sql: str, ids: list[str], entity: str | None = None) -> list[str]:
            params = (entity, ids) if entity else (ids,)
            have = {r[0] for r in self.query(sql, params)}
            return sorted(set(ids) - have)

        for entity, ids in (("candidate", cands), ("job", jobs)):
            gaps[f"raw {entity}s"] = absent(
                "SELECT record_id FROM talent.raw_records WHERE entity = %s AND record_id = ANY(%s)", ids, entity
            )
            gaps[f"{entity} profiles"] = absent(
                "SELECT record_id FROM talent.profiles WHERE entity = %s AND record_id = ANY(%s)", ids, entity
            )
            gaps[f"{entity} vectors"] = absent(
                f"SELECT record_id FROM talent.{entity}_vectors WHERE record_id = ANY(%s)", ids
            )
        for side, ids, want in (("candidate", cands, min(top_k, len(jobs))), ("job", jobs, min(top_k, len(cands)))):
            ranked = dict(
                self.query(
                    f"SELECT {side}_id, count(*) FROM talent.matches"
                    f" WHERE {side}_rank IS NOT NULL AND {side}_id = ANY(%s) GROUP BY {side}_id",
                    (ids,),
                )
            )
            gaps[f"top-{want} matches of {side}s"] = sorted(i for i in ids if ranked.get(i, 0) != want)
        return {stage: ids for stage, ids in gaps.items() if ids}

    def committed(self, burst: Burst) -> set[tuple[str, str, str]]:
        """What the database holds of the burst: its raw records and its records' done stages."""
        ids = burst.candidates + burst.jobs
        raw = self.query("SELECT 'raw', record_id, '' FROM talent.raw_records WHERE record_id = ANY(%s)", (ids,))
        done = self.query(
            "SELECT 'done', record_id, stage FROM talent.record_stages WHERE record_id = ANY(%s) AND status = 'done'",
            (ids,),
        )
        return {(kind, rid, stage) for kind, rid, stage in raw + done}

    def set_server(self, setting: str, value: str | None) -> None:
        """``ALTER SYSTEM`` on the platform's server (``None`` resets it), reloaded."""
        from talent_shared.db.connection import connect

        with connect(self.platform.database_url, autocommit=True) as conn:  # type: ignore[attr-defined]
            if value is None:
                conn.execute(f"ALTER SYSTEM RESET {setting}")
            else:
                conn.execute(f"ALTER SYSTEM SET {setting} = '{value}'")
            conn.execute("SELECT pg_reload_conf()")

    def ledger_rows(self) -> int:
        return int(self.query("SELECT count(*) FROM talent.llm_usage")[0][0])

    def matched(self, burst: Burst) -> int:
        return int(
            self.query(
                "SELECT count(DISTINCT candidate_id) FROM talent.matches"
                " WHERE candidate_rank IS NOT NULL AND candidate_id = ANY(%s)",
                (burst.candidates,),
            )[0][0]
        )

    # -- reading Dagster -----------------------------------------------------------------------

    def runs_since(self, since: float, statuses=None) -> list:
        from datetime import UTC, datetime

        from dagster._core.storage.dagster_run import RunsFilter

        return list(
            self.instance.get_runs(  # type: ignore[attr-defined]
                RunsFilter(created_after=datetime.fromtimestamp(since, tz=UTC), statuses=statuses or [])
            )
        )

    def unsettled(self) -> list[str]:
        """Runs not finished, failed runs still waiting for their retry, backfills in progress."""
        from dagster._core.execution.backfill import BulkActionsFilter, BulkActionStatus
        from dagster._core.storage.dagster_run import NOT_FINISHED_STATUSES, DagsterRunStatus, RunsFilter

        instance = self.instance
        found = [
            f"run {r.run_id[:8]} {r.status.value}"
            for r in instance.get_runs(RunsFilter(statuses=list(NOT_FINISHED_STATUSES)))  # type: ignore[attr-defined]
        ]
        found += [
            f"run {r.run_id[:8]} FAILURE waiting for its retry"
            for r in instance.get_runs(RunsFilter(statuses=[DagsterRunStatus.FAILURE]))  # type: ignore[attr-defined]
            if r.is_complete_and_waiting_to_retry
        ]
        found += [
            f"backfill {b.backfill_id} {b.status.value}"
            for b in instance.get_backfills(  # type: ignore[attr-defined]
                filters=BulkActionsFilter(statuses=[BulkActionStatus.REQUESTED, BulkActionStatus.CANCELING])
            )
        ]
        return found

    def started_run(self, burst: Burst, location: str | None = None):
        """A run created after the burst landed that is running now (in ``location`` if given)."""
        import dagster as dg

        for run in self.runs_since(burst.landed_at, statuses=[dg.DagsterRunStatus.STARTED]):
            origin = run.remote_job_origin
            if location is None or (origin is not None and origin.location_name == location):
                return run
        return None

    # -- waiting --------------------------------------------------------------------------------

    def logs(self) -> str:
        sup = self.platform.supervisor  # type: ignore[attr-defined]
        return "\n".join(f"--- {name}.log (tail) ---\n{sup.log_tail(name, 1500)}" for name in LOGS)

    def wait(self, what: str, probe: Callable[[], object], timeout: float = DEADLINE, interval: float = 0.5):
        """Until ``probe()`` returns something truthy; it may raise while PostgreSQL is down."""
        deadline = time.monotonic() + timeout
        last: object = None
        while True:
            try:
                last = probe()
            except Exception as exc:  # the database or a code server restarting
                last = exc
            else:
                if last:
                    return last
            if time.monotonic() > deadline:
                pytest.fail(f"{what}: not within {timeout:.0f}s; last seen: {last!r}\n{self.logs()}")
            time.sleep(interval)

    def wait_done(self, what: str) -> None:
        """Every landed record is processed and nothing is in flight, both seen together."""

        def probe():
            gaps, unsettled = self.missing(), self.unsettled()
            return True if not gaps and not unsettled else _Falsy({"missing": gaps, "in flight": unsettled})

        self.wait(f"{what}: everything processed and settled", probe)


class _Falsy(dict):
    """A probe's report of what is still missing: falsy, but shown in the failure message."""

    def __bool__(self) -> bool:
        return False


@pytest.fixture(scope="module")
def faults() -> Iterator[Faults]:
    from talent_platform.local.platform import running_platform
    from talent_platform.testing import processes_under

    base = Path(tempfile.mkdtemp(prefix="talent-faults-"))
    base.chmod(0o755)
    landing = base / "landing"
    for folder in ("candidates", "jobs"):
        (landing / folder).mkdir(parents=True)
    report: dict[str, dict] = {}
    try:
        with (
            running_platform(base / "state", str(landing), extra_env={"TALENT_LLM_CACHE": "on"}) as platform,
            platform.instance() as instance,
        ):
            state = Faults(platform, landing, instance, figures=report)
            yield state
        assert processes_under(base) == [], "processes outlived the platform"
    finally:
        for name, figures in report.items():
            print(f"\n{name}: {json.dumps(figures)}")
        # a killed PostgreSQL that was not restarted (a failed test) is stopped here, if it runs
        from talent_shared.db import embedded

        with contextlib.suppress(Exception):
            embedded.stop(base / "state" / "pgdata")
        shutil.rmtree(base, ignore_errors=True)


# -- the checks after every fault ---------------------------------------------------------------


def _nothing_processed_twice(state: Faults) -> None:
    """Every record's stages were done once: a run killed mid-step wrote no outcome (its transaction
    never committed), and the next run of its batch processed it, so a done row says one attempt.
    Read from the record lineage, which Dagster's per-batch materializations cannot show."""
    rows = state.query(
        "SELECT entity, stage, record_id, attempts FROM talent.record_stages WHERE status <> 'done' OR attempts <> 1"
    )
    assert not rows, f"records not done in exactly one attempt: {rows[:10]}"


def _ledger_counts_no_call_twice(state: Faults) -> None:
    from talent_shared.llm.meter import partition_count

    rows = state.query(
        "SELECT asset_key, partition_key, operation, count(*) FROM talent.llm_usage"
        " WHERE NOT cache_hit AND status = 'ok' GROUP BY 1, 2, 3"
    )
    # one profile call per record: a record's partition on two paid calls is a call paid twice
    twice = [(a, p, n) for a, p, op, n in rows if op == "chat" and a.startswith("normalized_") and n > 1]
    assert not twice, f"paid profile calls made twice for one record: {twice}"
    # every paid call stored its answer in the cache (first writer wins, in the same transaction as
    # its ledger row): more paid calls than cached answers means an input was paid for twice
    paid_chat = sum(n for _, _, op, n in rows if op == "chat")
    paid_texts = sum(partition_count(p) * n for _, p, op, n in rows if op == "embeddings")
    cached_chat, cached_texts = state.query(
        "SELECT count(*) FILTER (WHERE prompt_version NOT LIKE 'embed:%%'),"
        " count(*) FILTER (WHERE prompt_version LIKE 'embed:%%') FROM talent.llm_cache"
    )[0]
    assert (paid_chat, paid_texts) == (cached_chat, cached_texts), (
        f"paid chat calls {paid_chat} vs distinct cached answers {cached_chat};"
        f" paid embedded texts {paid_texts} vs distinct cached texts {cached_texts}"
    )


def _check_all(
    state: Faults, name: str, burst: Burst, *, ledger_before: int, started: float, fault_at: float, run=None
) -> dict:
    import dagster as dg

    state.wait_done(name)
    recovered = time.monotonic() - fault_at
    _nothing_processed_twice(state)
    _ledger_counts_no_call_twice(state)
    runs = Counter(r.status for r in state.runs_since(burst.landed_at))
    figures = {
        "records in burst": len(burst.candidates) + len(burst.jobs),
        "candidates of the burst matched": f"{state.matched(burst)}/{len(burst.candidates)}",
        "ledger rows before/after": [ledger_before, state.ledger_rows()],
        "runs succeeded": runs[dg.DagsterRunStatus.SUCCESS],
        "runs failed": runs[dg.DagsterRunStatus.FAILURE] + runs[dg.DagsterRunStatus.CANCELED],
        "seconds from fault to done": round(recovered, 1),
        "seconds from landing to done": round(time.monotonic() - started, 1),
    }
    if run is not None:
        ended = state.instance.get_run_by_id(run.run_id)  # type: ignore[attr-defined]
        outcome = ended.status.value if ended is not None else "gone (its run row was lost by the crash)"
        figures["run in progress at the fault"] = f"{run.job_name} {run.run_id[:8]} -> {outcome}"
    state.figures[name] = figures
    return figures


# -- the faults, in order ------------------------------------------------------------------------


def test_a_burst_without_fault_completes(faults: Faults) -> None:
    before, started = faults.ledger_rows(), time.monotonic()
    burst = faults.land("burst-0")
    _check_all(faults, "no fault", burst, ledger_before=before, started=started, fault_at=started)


def test_daemon_killed_mid_burst(faults: Faults) -> None:
    sup = faults.platform.supervisor  # type: ignore[attr-defined]
    before, started = faults.ledger_rows(), time.monotonic()
    burst = faults.land("burst-daemon")
    run = faults.wait("a run for the burst started", lambda: faults.started_run(burst), interval=0.2)
    fault_at = time.monotonic()
    sup.kill("daemon")
    sup.restart("daemon")
    _check_all(faults, "daemon", burst, ledger_before=before, started=started, fault_at=fault_at, run=run)


def test_code_server_killed_mid_burst(faults: Faults) -> None:
    sup = faults.platform.supervisor  # type: ignore[attr-defined]
    before, started = faults.ledger_rows(), time.monotonic()
    burst = faults.land("burst-code-server")
    run = faults.wait(
        "a candidates run for the burst started", lambda: faults.started_run(burst, "candidates"), interval=0.2
    )
    fault_at = time.monotonic()
    sup.kill("code-server-candidates")
    sup.restart("code-server-candidates")
    _check_all(faults, "code server", burst, ledger_before=before, started=started, fault_at=fault_at, run=run)


def _run_worker_pid(instance, run_id: str) -> int | None:
    """The pid of a run's worker, from the engine event the code server's subprocess reports first."""
    for entry in instance.all_logs(run_id):
        match = re.match(r"Started process for run \(pid: (\d+)\)", entry.message or "")
        if match:
            return int(match.group(1))
    return None


def _kill_a_run_worker(faults: Faults, burst: Burst) -> tuple[str, int] | None:
    """SIGKILL the worker of a candidates run of ``burst`` while it runs; None if every such run
    ended before its worker could be killed."""
    import dagster as dg
    import psutil

    sup = faults.platform.supervisor  # type: ignore[attr-defined]

    def running_worker():
        run = faults.started_run(burst, "candidates")
        if run is None:
            done = faults.runs_since(burst.landed_at)
            if done and all(r.is_finished for r in done) and not faults.missing():
                return "finished"  # the burst went through before a worker could be caught
            return None
        pid = _run_worker_pid(faults.instance, run.run_id)
        return (run.run_id, pid) if pid else None

    found = faults.wait("a candidates run of the burst with a live worker", running_worker, interval=0.1)
    if found == "finished":
        return None
    run_id, pid = found  # type: ignore[misc]
    worker = psutil.Process(pid)
    # only ever a descendant of our own code server (forked by its forkserver, see local/code_server.py)
    server = sup.process("code-server-candidates").pid
    assert server in [p.pid for p in worker.parents()], worker.cmdline()
    with contextlib.suppress(psutil.NoSuchProcess):
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
        run = faults.instance.get_run_by_id(run_id)  # type: ignore[attr-defined]
        if run is not None and run.status != dg.DagsterRunStatus.SUCCESS:
            return run_id, pid
    return None


def test_run_worker_killed_mid_burst(faults: Faults) -> None:
    import dagster as dg

    before, started = faults.ledger_rows(), time.monotonic()
    for attempt in range(3):  # a run that ends before its worker is caught: the next burst
        burst = faults.land(f"burst-run-worker-{attempt}")
        killed = _kill_a_run_worker(faults, burst)
        if killed:
            break
        faults.wait_done(f"run worker, attempt {attempt}")
    else:
        pytest.fail("no candidates run could be caught running in three bursts")
    fault_at = time.monotonic()
    run_id, _ = killed
    failed = faults.wait(
        "the killed run marked failed",
        lambda: (r := faults.instance.get_run_by_id(run_id)) is not None and r.is_finished and r,  # type: ignore[attr-defined]
    )
    assert failed.status == dg.DagsterRunStatus.FAILURE, failed.status
    figures = _check_all(
        faults, "run worker", burst, ledger_before=before, started=started, fault_at=fault_at, run=failed
    )
    # the reconciler is the retry: the killed run's batch stayed stale, so a later run of the same
    # batch (same pipeline and partition tags) processed it; Dagster's run retries are off for its runs
    same = {k: failed.tags.get(k) for k in ("talent/pipeline", "dagster/partition")}
    assert same["talent/pipeline"], failed.tags
    again = [
        r
        for r in faults.runs_since(burst.landed_at)
        if r.run_id != run_id and all(r.tags.get(k) == v for k, v in same.items())
    ]
    figures["later runs of the killed run's batch"] = [r.status.value for r in again]
    assert any(r.status == dg.DagsterRunStatus.SUCCESS for r in again), figures
    assert not [r for r in faults.runs_since(burst.landed_at) if r.parent_run_id == run_id], "a run retry raced it"


def test_postgres_killed_mid_burst(faults: Faults) -> None:
    """PostgreSQL killed while a run for the burst works. With ``TALENT_FAULTS_PROVE_LOSS=1`` and
    synchronous_commit off, the kill comes the moment the burst's first stage is committed done,
    with the WAL writer writing every 10 s: what was committed but not yet written is lost by the
    crash (the test asserts that something of the burst was), and the platform must redo it."""
    from talent_platform.testing import kill_postgres
    from talent_shared.db import embedded

    prove = PROVE_LOSS and not embedded.synchronous_commit()
    if PROVE_LOSS and not prove:
        pytest.fail("TALENT_FAULTS_PROVE_LOSS=1 needs TALENT_EMBEDDED_SYNCHRONOUS_COMMIT=off")
    before, started = faults.ledger_rows(), time.monotonic()
    if prove:
        faults.set_server("wal_writer_delay", "10s")
    try:
        burst = faults.land("burst-postgres")
        run = faults.wait("a run for the burst started", lambda: faults.started_run(burst), interval=0.2)
        if prove:
            faults.wait(
                "a stage of the burst committed done",
                lambda: any(kind == "done" for kind, _, _ in faults.committed(burst)),
                interval=0.02,
            )
        held = faults.committed(burst)
        fault_at = time.monotonic()
        kill_postgres(faults.pgdata)
        url = embedded.start(faults.pgdata)
        assert url == faults.platform.database_url  # type: ignore[attr-defined]
        lost = held - faults.committed(burst)
    finally:
        if prove:
            faults.wait("the WAL writer's delay reset", lambda: faults.set_server("wal_writer_delay", None) or True)
    figures = _check_all(faults, "postgres", burst, ledger_before=before, started=started, fault_at=fault_at, run=run)
    figures["committed rows of the burst lost by the crash"] = sorted("/".join(filter(None, row)) for row in lost)
    if prove:
        assert lost, f"the crash lost nothing of the burst ({len(held)} rows held): nothing was healed"


def test_a_run_left_started_without_a_worker_is_failed_and_its_work_redone(faults: Faults) -> None:
    """What a crash under synchronous_commit off can leave (seen once in the soak's run with it off):
    a run whose worker exited after writing RUN_SUCCESS, a commit the crash then lost, so the run
    reads STARTED with no process anywhere. Run monitoring fails it through the local run launcher's
    health check (``talent_platform.local.launcher``: its code server holds no execution for it);
    until then the matching reconciler counts the next burst as in flight and requests nothing."""
    import dagster as dg

    before, started = faults.ledger_rows(), time.monotonic()
    done = faults.runs_since(0, statuses=[dg.DagsterRunStatus.SUCCESS])
    stuck = next(r for r in done if r.remote_job_origin and r.remote_job_origin.location_name == "matching")
    faults.query(
        "UPDATE public.runs SET status = 'STARTED', end_time = NULL,"
        " run_body = replace(run_body, '\"PipelineRunStatus.SUCCESS\"', '\"PipelineRunStatus.STARTED\"')"
        " WHERE run_id = %s RETURNING run_id",
        (stuck.run_id,),
    )
    reread = faults.instance.get_run_by_id(stuck.run_id)  # type: ignore[attr-defined]
    assert reread is not None and reread.status == dg.DagsterRunStatus.STARTED  # what the crash leaves
    burst = faults.land("burst-stuck-run")
    fault_at = time.monotonic()
    figures = _check_all(faults, "stuck run", burst, ledger_before=before, started=started, fault_at=fault_at)
    ended = faults.instance.get_run_by_id(stuck.run_id)  # type: ignore[attr-defined]
    figures["the stuck run"] = f"{stuck.run_id[:8]} -> {ended.status.value}"
    assert ended.status == dg.DagsterRunStatus.FAILURE, figures
