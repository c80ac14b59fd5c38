"""Knowing when the platform has nothing left to do, and what it did.

Idle means: no run queued or in progress, no backfill in progress, and every sensor (ingestion and
automation) has completed two ticks after the last thing that happened (a run ended, an asset was
materialized), both requesting nothing. Only then can another tick not start new work by itself.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path

import dagster as dg

from talent_platform.local.dagster_internals import get
from talent_shared.keys import OWNERS
from talent_shared.reconciler import LIVE


@dataclass(frozen=True)
class SensorRef:
    name: str
    origin_id: str
    selector_id: str


@dataclass
class WorkspaceView:
    sensors: list[SensorRef]
    # asset key -> {"location": where it is defined, "deps": upstream keys}, across all locations
    asset_graph: dict[str, dict]


def load_workspace(instance: dg.DagsterInstance, workspace: Path) -> WorkspaceView:
    """What the code servers serve, read over gRPC as the webserver and daemon read it."""
    from talent_platform.local.dagster_internals import get

    WorkspaceProcessContext, WorkspaceFileTarget = get("WorkspaceProcessContext"), get("WorkspaceFileTarget")

    refs: list[SensorRef] = []
    graph: dict[str, dict] = {}
    with WorkspaceProcessContext(instance, WorkspaceFileTarget([str(workspace)])) as ctx:
        request = ctx.create_request_context()
        for name, entry in sorted(request.get_code_location_entries().items()):
            if entry.code_location is None:
                raise RuntimeError(f"code location {name} failed to load: {entry.load_error}")
            for repo in entry.code_location.get_repositories().values():
                for sensor in repo.get_sensors():
                    refs.append(SensorRef(sensor.name, sensor.get_remote_origin_id(), sensor.selector_id))
                for node in repo.get_asset_node_snaps():
                    key = node.asset_key.to_user_string()
                    item = graph.setdefault(key, {"locations": [], "deps": []})
                    item["locations"].append(name)
                    for edge in node.parent_edges:
                        dep = edge.parent_asset_key.to_user_string()
                        if dep not in item["deps"]:
                            item["deps"].append(dep)
    return WorkspaceView(refs, graph)


@dataclass
class IdleState:
    idle: bool
    reason: str


def idle_state(instance: dg.DagsterInstance, sensors: list[SensorRef], since: float) -> IdleState:
    active = instance.get_run_records(dg.RunsFilter(statuses=LIVE), limit=1)
    if active:
        return IdleState(False, "runs in progress")
    if instance.get_backfills(
        filters=get("BulkActionsFilter")(
            statuses=[get("BulkActionStatus").REQUESTED, get("BulkActionStatus").CANCELING]
        ),
        limit=1,
    ):
        return IdleState(False, "backfill in progress")
    last = last_activity(instance, since)
    ticks = {ref: instance.get_ticks(ref.origin_id, ref.selector_id, limit=5) for ref in sensors}
    for ref in sensors:
        # two completed ticks that both started after the last activity and requested nothing:
        # one fresh tick may have been evaluated against state read just before that activity
        done = [t for t in ticks[ref] if t.status != get("TickStatus").STARTED][:2]
        if len(done) < 2 or any(t.timestamp <= last for t in done):
            return IdleState(False, f"waiting for fresh ticks of {ref.name}")
        if any(t.status != get("TickStatus").SKIPPED for t in done):
            return IdleState(False, f"{ref.name} last ticks were {[t.status.value for t in done]}")
    return IdleState(True, "idle")


def last_activity(instance: dg.DagsterInstance, since: float) -> float:
    """When something last happened: a run or backfill ended, or any of our assets was materialized."""
    last = since
    for backfill in instance.get_backfills(limit=20):
        if backfill.backfill_end_timestamp:
            last = max(last, backfill.backfill_end_timestamp)
    finished = instance.get_run_records(dg.RunsFilter(created_after=_dt(since)), limit=1)
    if finished and finished[0].end_time:
        last = max(last, finished[0].end_time)
    for keys in OWNERS.values():
        for key in keys:
            event = instance.get_latest_materialization_event(key)
            if event is not None:
                last = max(last, event.timestamp)
    return last


def _dt(ts: float):
    from datetime import datetime

    return datetime.fromtimestamp(ts, tz=UTC)


def wait_idle(
    instance: dg.DagsterInstance,
    sensors: list[SensorRef],
    since: float,
    timeout: float,
    check=None,
    on_poll: Callable[[IdleState], None] | None = None,
) -> IdleState:
    """``on_poll`` sees each state while it waits (``talent local run`` shows it)."""
    deadline = time.monotonic() + timeout
    state = IdleState(False, "not checked")
    while time.monotonic() < deadline:
        if check:
            check()
        state = idle_state(instance, sensors, since)
        if on_poll is not None:
            on_poll(state)
        if state.idle:
            return state
        time.sleep(0.5)
    return IdleState(False, f"timed out: {state.reason}")


@dataclass
class Counts:
    """How far the records of a run have got: what ``talent local run`` shows while it waits."""

    landed: dict[str, int] = field(default_factory=lambda: {"candidate": 0, "job": 0})
    rejected: int = 0
    normalized: int = 0
    embedded: int = 0
    matched: int = 0  # candidates whose top list was written

    def rows(self) -> dict[str, str]:
        landed = self.landed["candidate"] + self.landed["job"]
        return {
            "landed": f"{self.landed['candidate']} candidates, {self.landed['job']} jobs"
            + (f" ({self.rejected} rejected)" if self.rejected else ""),
            "processed": f"normalized {self.normalized}/{landed}, embedded {self.embedded}/{landed}",
            "matched": f"{self.matched} candidates",
        }


def counts(conn, since: float) -> Counts:
    """One read of the records stored, processed and matched since ``since``; ``talent local run``
    repeats it every couple of seconds while it waits, on a connection of its own."""
    started = _dt(since)
    out = Counts()
    for entity, n in conn.execute(
        "SELECT entity, count(*) FROM talent.raw_records WHERE stored_at >= %s GROUP BY entity", (started,)
    ):
        out.landed[entity] = n
    out.rejected = conn.execute("SELECT count(*) FROM talent.rejects WHERE rejected_at >= %s", (started,)).fetchone()[0]
    for stage, n in conn.execute(
        "SELECT stage, count(*) FROM talent.record_stages WHERE status = 'done' AND updated_at >= %s GROUP BY stage",
        (started,),
    ):
        if stage == "normalized":
            out.normalized = n
        else:
            out.embedded += n
    out.matched = conn.execute(
        "SELECT count(DISTINCT candidate_id) FROM talent.matches WHERE candidate_rank IS NOT NULL AND computed_at >= %s",
        (started,),
    ).fetchone()[0]
    conn.commit()  # end the read's transaction: the next read sees what landed since
    return out


@dataclass
class Summary:
    records: dict[str, dict[str, int]] = field(default_factory=dict)
    rejected: list[dict] = field(default_factory=list)
    materializations: dict[str, int] = field(default_factory=dict)  # per batch (matches: per run)
    processed: dict[str, int] = field(default_factory=dict)  # records each stage processed (the lineage)
    runs: dict[str, int] = field(default_factory=dict)
    matches: dict[str, list[dict]] = field(default_factory=dict)
    llm: dict[str, float] = field(default_factory=dict)
    asset_graph: dict[str, dict] = field(default_factory=dict)
    idle: bool = False
    reason: str = ""
    seconds: float = 0.0


def summarize(instance: dg.DagsterInstance, conn, since: float) -> Summary:
    summary = Summary()
    started = _dt(since)
    for entity in ("candidate", "job"):
        accepted = conn.execute(
            "SELECT count(*) FROM talent.raw_records WHERE entity = %s AND stored_at >= %s", (entity, started)
        ).fetchone()[0]
        rejected = conn.execute(
            "SELECT count(*) FROM talent.rejects WHERE entity = %s AND rejected_at >= %s", (entity, started)
        ).fetchone()[0]
        summary.records[entity] = {"accepted": accepted, "rejected": rejected}
    summary.rejected = [
        {"entity": e, "source": s, "line": line, "reason": r}
        for e, s, line, r in conn.execute(
            "SELECT entity, source, line, reason FROM talent.rejects WHERE rejected_at >= %s ORDER BY id", (started,)
        )
    ]
    for keys in OWNERS.values():
        for key in keys:
            count, cursor = 0, None
            while True:
                page = instance.fetch_materializations(
                    dg.AssetRecordsFilter(asset_key=key, after_timestamp=since), limit=10_000, cursor=cursor
                )
                count += len(page.records)
                if not page.has_more:
                    break
                cursor = page.cursor
            summary.materializations[key.to_user_string()] = count
    for entity, stage, n in conn.execute(
        "SELECT entity, stage, count(*) FROM talent.record_stages WHERE status = 'done' AND updated_at >= %s"
        " GROUP BY entity, stage",
        (started,),
    ):
        summary.processed[f"normalized_{entity}s" if stage == "normalized" else f"{entity}_vectors"] = n
    statuses = Counter(r.dagster_run.status for r in instance.get_run_records(dg.RunsFilter(created_after=started)))
    summary.runs = {
        "success": statuses[dg.DagsterRunStatus.SUCCESS],
        "failure": statuses[dg.DagsterRunStatus.FAILURE] + statuses[dg.DagsterRunStatus.CANCELED],
    }
    for cid, jid, score in conn.execute(
        "SELECT candidate_id, job_id, score FROM talent.matches WHERE candidate_rank IS NOT NULL"
        " ORDER BY candidate_id, candidate_rank"
    ):
        summary.matches.setdefault(cid, []).append({"job_id": jid, "score": round(float(score), 4)})
    calls, tin, tout, cost = conn.execute(
        "SELECT count(*), coalesce(sum(input_tokens), 0), coalesce(sum(output_tokens), 0), coalesce(sum(cost_usd), 0)"
        " FROM talent.llm_usage WHERE created_at >= %s",
        (started,),
    ).fetchone()
    summary.llm = {"calls": int(calls), "input_tokens": int(tin), "output_tokens": int(tout), "cost_usd": float(cost)}
    return summary
