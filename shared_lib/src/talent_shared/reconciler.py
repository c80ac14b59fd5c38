"""The reconciler: each location's automation, level-triggered from the database's state.

Every tick asks the state, not the events, what has work: for an entity pipeline, the batches with
records that are stale for a stage (``talent_shared.lineage``); for ``matches``, whether any vector
differs from what matching consumed. It then requests a run for each such batch that no live run
already covers. A run that failed, an event that was missed, a tick that died: none of them can
leave a record behind, because the next tick sees the same state and asks again. What it will not
request is said. Records over the cap on live runs are *waiting*: a later tick requests them as
runs finish. Records held by the day's LLM budget are *stranded*: nothing runs them until the
budget is raised or the day turns, so the ``no_stranded_records`` asset check fails and an alert
fires. A batch given up after ``max_attempts`` failed runs at the same code versions has its open
records quarantined with the last run's failure, so nothing loops.

Why not Dagster's declarative automation here: its conditions are edge-triggered
(``since(handled)``); a change seen in the same tick as the asset's own previous materialization was
dropped on a real cluster, and a run that failed for good is never requested again. Dagster's own
advice for item-level state is a table the sensor checks (field notes, "What teams do instead of a
partition per item"); this is that table, read by a plain sensor. Staleness never looks at a clock.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import dagster as dg

from talent_shared.keys import EntityKeys
from talent_shared.resources import LandingZoneResource, PostgresResource
from talent_shared.settings import get_settings

if TYPE_CHECKING:
    import psycopg


class PipelineSpec(Protocol):
    """What the reconciler reads of a loaded pipeline (``talent_shared.pipeline.PipelineSpec``)."""

    @property
    def entity(self) -> Any: ...

    @property
    def location(self) -> str: ...

    @property
    def keys(self) -> EntityKeys: ...

    @property
    def partitions(self) -> dg.DynamicPartitionsDefinition: ...

    @property
    def normalized_code_version(self) -> str: ...

    @property
    def vectors_code_version(self) -> str: ...

    def llm_assets(self) -> list[tuple[str, str]]: ...

    def prompts(self) -> dict[str, Any]: ...

    @property
    def sensor(self) -> Any: ...


PIPELINE_TAG = "talent/pipeline"  # the location whose reconciler requested the run
CODE_TAG = "talent/code"  # a hash of the code versions the run was requested at
# The reconciler is the retry: a failed run's records are still stale, so the next tick asks again.
# A run retry from the instance's run_retries as well would race it for the same batch.
NO_RUN_RETRY = {"dagster/max_retries": "0"}
LIVE = [
    dg.DagsterRunStatus.QUEUED,
    dg.DagsterRunStatus.NOT_STARTED,
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]


def code_tag(code_versions: Iterable[str]) -> str:
    return hashlib.sha256("\x1f".join(code_versions).encode()).hexdigest()[:16]


def live_partitions(instance: dg.DagsterInstance, keys: Iterable[dg.AssetKey]) -> dict[str | None, int]:
    """Partition (``None`` for an unpartitioned run) -> live runs that may materialize any of ``keys``,
    whoever launched them (the reconciler, a backfill, the UI): a live run covers its partition's
    records. A run that names no asset selection (a whole-job run) is counted as covering: waiting
    one run longer is cheaper than two runs of one batch."""
    wanted = set(keys)
    out: dict[str | None, int] = {}
    for run in instance.get_runs(dg.RunsFilter(statuses=LIVE)):
        if run.asset_selection and not (set(run.asset_selection) & wanted):
            continue
        partition = run.tags.get("dagster/partition")
        out[partition] = out.get(partition, 0) + 1
    return out


def failed_in_a_row(
    instance: dg.DagsterInstance, location: str, partition: str | None, code: str, limit: int
) -> dg.DagsterRun | None:
    """The latest run if the last ``limit`` runs the reconciler requested for this partition at these
    code versions all failed; otherwise None."""
    tags = {PIPELINE_TAG: location, CODE_TAG: code}
    if partition is not None:
        tags["dagster/partition"] = partition
    runs = instance.get_runs(dg.RunsFilter(tags=tags), limit=limit)
    if len(runs) < limit or any(r.status != dg.DagsterRunStatus.FAILURE for r in runs):
        return None
    return runs[0]


def failure_reason(instance: dg.DagsterInstance, run: dg.DagsterRun) -> str:
    """The first step failure's message of a failed run (no record content: messages are ours)."""
    records = instance.get_records_for_run(run.run_id, of_type=dg.DagsterEventType.STEP_FAILURE, limit=1).records
    for record in records:
        event = record.event_log_entry.dagster_event
        data = getattr(event, "step_failure_data", None) if event else None
        error = getattr(data, "error", None)
        while error is not None and getattr(error, "cause", None) is not None:
            error = error.cause  # the step's own exception, not Dagster's wrapper
        if error is not None:
            return f"{error.cls_name}: {error.message.strip()}"[:300]
    return "run failed"


@dataclass
class Tick:
    """What one tick saw and did; written to ``talent.reconciler_ticks`` for the exporter."""

    location: str
    stale: int = 0
    in_flight: int = 0
    requested: int = 0
    waiting: int = 0  # over the cap on live runs: not saved, it is stale - in flight - requested - stranded
    stranded: int = 0
    quarantined: int = 0
    reasons: list[str] = field(default_factory=list)

    def save(self, conn: psycopg.Connection) -> None:
        conn.execute(
            """
            INSERT INTO talent.reconciler_ticks
                (location, stale, in_flight, requested, stranded, quarantined, reason, ticked_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, now())
            ON CONFLICT (location) DO UPDATE SET stale = EXCLUDED.stale, in_flight = EXCLUDED.in_flight,
                requested = EXCLUDED.requested, stranded = EXCLUDED.stranded,
                quarantined = EXCLUDED.quarantined, reason = EXCLUDED.reason, ticked_at = now()
            """,
            (
                self.location,
                self.stale,
                self.in_flight,
                self.requested,
                self.stranded,
                self.quarantined,
                "; ".join(self.reasons)[:1000] or None,
            ),
        )

    def summary(self) -> str:
        text = (
            f"{self.stale} records with work: {self.in_flight} in flight, {self.requested} requested,"
            f" {self.waiting} waiting, {self.stranded} stranded"
        )
        return text + (f" ({'; '.join(self.reasons)})" if self.reasons else "")


def entity_reconciler(spec: PipelineSpec) -> dg.SensorDefinition:
    """The sensor of an ingesting location: each tick takes the entity's arrivals
    (``talent_shared.ingest.sensor.take_arrivals``), then requests a run of ``normalized_*`` and
    ``*_vectors`` for every batch with stale records, each run processing only those records.

    One sensor, not an ingestion sensor and a reconciler side by side: the sensor daemon evaluates
    every sensor once per loop (``MIN_INTERVAL_LOOP_TIME``, 5 s in Dagster 1.13, whatever a sensor's
    own interval), so a reconciler beside the ingestion sensor saw a new record one loop after it was
    stored. Here the tick that stores a record requests its run. It keeps the ingestion sensor's name,
    so an upgraded deployment keeps its inbox position (the cursor holds both halves' state)."""
    from talent_shared.ingest.sensor import Cursor as InboxCursor
    from talent_shared.ingest.sensor import take_arrivals

    keys = spec.keys
    location, entity = spec.location, spec.entity
    targets = [keys.normalized, keys.vectors]
    own = spec.sensor

    @dg.sensor(
        name=f"{location}_ingest",
        minimum_interval_seconds=own.minimum_interval_seconds or get_settings().sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=dg.AssetSelection.assets(*targets),
        description=(
            f"Reads {entity} records from the landing zone and the inbox (rejects are quarantined), then"
            f" requests a run for every {entity} batch with records not done at current versions, in flight"
            " or quarantined (level-triggered, from the record lineage)."
        ),
    )
    def _reconciler(
        context: dg.SensorEvaluationContext, postgres: PostgresResource, landing: LandingZoneResource
    ) -> dg.SensorResult:
        from talent_shared import lineage

        url = postgres.get_url()
        inbox = InboxCursor.parse(context.cursor)
        arrived, new_keys, _ = take_arrivals(
            context, url, landing.zone(), entity, keys.raw, spec.partitions, inbox, own
        )
        cfg = get_settings()
        versions: dict[lineage.Stage, str] = {
            "normalized": spec.normalized_code_version,
            "vectors": spec.vectors_code_version,
        }
        code = code_tag(versions.values())
        cursor = _Cursor.parse(context.cursor)
        tick = Tick(location)
        requests: list[dg.RunRequest] = []
        add: list[str] = list(new_keys)
        with postgres.connect() as conn:
            work = lineage.stale_batches(conn, entity, versions, cfg.max_attempts)
            tick.stale = sum(work.values())
            live = live_partitions(context.instance, targets)
            free = max(cfg.max_runs_per_tick - sum(live.values()), 0)
            affordable = _budget(conn, spec, work, cursor, tick)
            assert spec.partitions.name is not None
            for key in sorted(work):
                if key in live:
                    tick.in_flight += work[key]
                    continue
                # the cap before any per-batch question to Dagster: a tick asks about at most
                # `free` batches, however many are stale (a bulk load makes thousands)
                if len(requests) >= free:
                    tick.waiting += work[key]
                    capped = f"cap of {cfg.max_runs_per_tick} live runs reached"
                    if capped not in tick.reasons:
                        tick.reasons.append(capped)
                    continue
                if key not in affordable:
                    tick.stranded += work[key]
                    continue
                failed = failed_in_a_row(context.instance, location, key, code, cfg.max_attempts)
                if failed is not None:
                    reason = f"{cfg.max_attempts} runs failed in a row ({failure_reason(context.instance, failed)})"
                    tick.quarantined += _quarantine_batch(conn, entity, key, versions, reason)
                    continue
                if key not in add and not context.instance.has_dynamic_partition(spec.partitions.name, key):
                    add.append(key)  # stored by a tick whose partition request was lost
                requests.append(
                    dg.RunRequest(
                        partition_key=key,
                        asset_selection=targets,
                        asset_check_keys=[],  # the stranded check is reported by this sensor, not a step
                        tags={PIPELINE_TAG: location, CODE_TAG: code, **NO_RUN_RETRY},
                    )
                )
                tick.requested += work[key]
            tick.save(conn)
        if tick.stale or tick.quarantined:
            context.log.info(tick.summary())
        checks = _report_check(keys.vectors, tick, cursor)
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[spec.partitions.build_add_request(add)] if add else [],
            asset_events=[*arrived, *checks],
            cursor=json.dumps({**json.loads(inbox.dump()), **json.loads(cursor.dump())}),
            skip_reason=None if requests or checks or arrived else tick.summary(),
        )

    return _reconciler


def _quarantine_batch(conn: psycopg.Connection, entity: str, key: str, versions: dict[Any, str], reason: str) -> int:
    """Quarantine a batch's open records at the current code versions: a deploy or a changed input
    makes them work again; nothing retries them meanwhile."""
    total = 0
    for stage, code in versions.items():
        cur = conn.execute(
            """
            UPDATE talent.record_stages SET status = 'quarantined', code_version = %s, reason = %s,
                attempts = attempts + 1, updated_at = now()
            WHERE entity = %s AND stage = %s AND partition_key = %s
              AND (status IN ('pending', 'failed') OR code_version IS DISTINCT FROM %s)
            """,
            (code, reason, entity, stage, key, code),
        )
        total += cur.rowcount
        conn.execute(
            "UPDATE talent.batch_stages SET code_version = %s WHERE entity = %s AND stage = %s AND partition_key = %s",
            (code, entity, stage, key),
        )
    return total


@dataclass
class _Cursor:
    """The UTC day and the projected LLM cost of the records released that day (records requested
    but not yet processed, with no spend in the ledger yet, still count against the budget), and the
    stranded count last reported to the asset check (a result is stored only when it changes)."""

    day: str = ""
    released_usd: float = 0.0
    reported: int | None = None

    @classmethod
    def parse(cls, text: str | None) -> _Cursor:
        """This half of a cursor that may hold other keys (an entity sensor's inbox position)."""
        data = json.loads(text) if text else {}
        return cls(**{k: data[k] for k in ("day", "released_usd", "reported") if k in data})

    def dump(self) -> str:
        return json.dumps({"day": self.day, "released_usd": self.released_usd, "reported": self.reported})


STRANDED_CHECK = "no_stranded_records"
# a check result older than this says nothing: the reconciler has stopped (TalentReconcilerStalled)
STALLED_AFTER_S = 600


def _check_result(key: dg.AssetKey, row: tuple | None) -> dg.AssetCheckEvaluation:
    """The ``no_stranded_records`` verdict from a ``talent.reconciler_ticks`` row (stale, in flight,
    stranded, quarantined, reason, seconds since the tick)."""
    if row is None:
        return dg.AssetCheckEvaluation(
            asset_key=key, check_name=STRANDED_CHECK, passed=False, description="the reconciler has never ticked"
        )
    stale, in_flight, stranded, quarantined, reason, age = row
    stalled = age is not None and age > STALLED_AFTER_S
    return dg.AssetCheckEvaluation(
        asset_key=key,
        check_name=STRANDED_CHECK,
        passed=not stranded and not stalled,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(f"the reconciler last ticked {age:.0f} s ago" if stalled else (reason or "no record is stranded")),
        metadata={
            "stale": stale,
            "in_flight": in_flight,
            "stranded": stranded,
            "quarantined_this_tick": quarantined,
        },
    )


def stranded_check(location: str, key: dg.AssetKey) -> dg.AssetChecksDefinition:
    """Fails while records of ``location`` are stranded: stale, not in flight, and not requested
    for a reason a later tick does not fix by itself (the LLM budget, runs failing in a row). The
    reconciler reports it whenever the count changes; executing it reads the reconciler's last tick
    (``talent.reconciler_ticks``), which is state, so a missed event cannot hide a stranded record."""

    @dg.asset_check(
        asset=key,
        name=STRANDED_CHECK,
        description=f"No record of {location} is stranded (stale with no run to process it).",
    )
    def _check(postgres: PostgresResource) -> dg.AssetCheckResult:
        with postgres.connect() as conn:
            row = conn.execute(
                "SELECT stale, in_flight, stranded, quarantined, reason, extract(epoch FROM now() - ticked_at)"
                " FROM talent.reconciler_ticks WHERE location = %s",
                (location,),
            ).fetchone()
        got = _check_result(key, row)
        return dg.AssetCheckResult(
            passed=got.passed, severity=got.severity, description=got.description, metadata=got.metadata
        )

    return _check


def _report_check(key: dg.AssetKey, tick: Tick, cursor: _Cursor) -> list[dg.AssetCheckEvaluation]:
    """This tick's check result, if the stranded count changed since the last one reported."""
    if cursor.reported == tick.stranded:
        return []
    cursor.reported = tick.stranded
    row = (tick.stale, tick.in_flight, tick.stranded, tick.quarantined, "; ".join(tick.reasons) or None, 0.0)
    return [_check_result(key, row)]


def _budget(
    conn: psycopg.Connection, spec: PipelineSpec, work: dict[str, int], cursor: _Cursor, tick: Tick
) -> set[str]:
    """The batches whose projected LLM cost fits what is left of the location's daily budget, in
    batch order (``talent_shared.cost.budget``); the rest wait for the next day or a raised budget."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from talent_shared.cost import budget

    if not work:
        return set()
    try:
        sample_ids = [
            r
            for (r,) in conn.execute(
                """
                SELECT record_id FROM talent.record_stages
                WHERE entity = %s AND stage = 'normalized' AND partition_key = ANY(%s) LIMIT 20
                """,
                (spec.entity, sorted(work)),
            )
        ]
        sample = [
            json.dumps(p)
            for (p,) in conn.execute(
                "SELECT payload FROM talent.raw_records WHERE entity = %s AND record_id = ANY(%s)",
                (spec.entity, sample_ids),
            )
        ]
        per_record, how = budget.cost_per_record(conn, spec.location, sample, spec.llm_assets(), spec.prompts())
        today = datetime.now(UTC).strftime("%Y-%m-%d")
        if cursor.day != today:
            cursor.day, cursor.released_usd = today, 0.0
        total = sum(work.values())
        allowed, status = budget.affordable(
            conn, spec.location, per_record, total, committed=Decimal(str(cursor.released_usd))
        )
    except Exception as exc:  # the gate must not stop the pipeline because an estimate failed
        tick.reasons.append(f"budget check failed, not gating: {type(exc).__name__}")
        return set(work)
    out: set[str] = set()
    for key in sorted(work):
        if work[key] > allowed:
            break
        allowed -= work[key]
        out.add(key)
        cursor.released_usd += float(per_record * work[key])
    if len(out) < len(work):
        held = sum(n for k, n in work.items() if k not in out)
        tick.reasons.append(
            status.message(f"{held} {spec.entity} records held; {total} x ${per_record:.6f}/record ({how}) =")
        )
    return out


def asset_reconciler(
    location: str,
    key: dg.AssetKey,
    has_work: Callable[[psycopg.Connection], int],
    code_version: str,
) -> dg.SensorDefinition:
    """The reconciler of an unpartitioned incremental asset (``matches``): a run whenever
    ``has_work`` (read from the database) is non-zero and no run of it is live."""

    @dg.sensor(
        name=f"{location}_reconciler",
        minimum_interval_seconds=get_settings().sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        asset_selection=dg.AssetSelection.assets(key),
        description=f"Requests {key.to_user_string()} whenever its inputs differ from what it consumed.",
    )
    def _reconciler(context: dg.SensorEvaluationContext, postgres: PostgresResource) -> dg.SensorResult:
        cfg = get_settings()
        code = code_tag([code_version])
        cursor = _Cursor.parse(context.cursor)
        tick = Tick(location)
        requests = []
        with postgres.connect() as conn:
            if live_partitions(context.instance, [key]):
                # the live run consumes what differs now, and anything newer is asked about after
                # it ends. Not asked meanwhile: the question compares what was written since the
                # last run's snapshot, all of a bulk load until the run that matches it writes, so
                # asking every tick of that run would cost the whole comparison each time. The
                # counts are the last tick's, all in flight.
                last = conn.execute(
                    "SELECT stale FROM talent.reconciler_ticks WHERE location = %s", (location,)
                ).fetchone()
                tick.stale = tick.in_flight = last[0] if last else 0
                tick.reasons.append("a run is live: counts from the last tick that asked")
            elif stale := has_work(conn):
                tick.stale = stale
                if (failed := failed_in_a_row(context.instance, location, None, code, cfg.max_attempts)) is not None:
                    tick.stranded = stale
                    tick.reasons.append(
                        f"{cfg.max_attempts} runs failed in a row ({failure_reason(context.instance, failed)});"
                        " waiting for a new code version"
                    )
                else:
                    requests.append(
                        dg.RunRequest(
                            asset_selection=[key],
                            asset_check_keys=[],
                            tags={PIPELINE_TAG: location, CODE_TAG: code, **NO_RUN_RETRY},
                        )
                    )
                    tick.requested = stale
            tick.save(conn)
        if tick.stale:
            context.log.info(tick.summary())
        checks = _report_check(key, tick, cursor)
        return dg.SensorResult(
            run_requests=requests,
            asset_events=checks,
            cursor=cursor.dump(),
            skip_reason=None if requests or checks else tick.summary(),
        )

    return _reconciler
