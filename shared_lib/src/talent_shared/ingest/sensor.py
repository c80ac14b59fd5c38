"""The ingestion sensor a location runs for its entity.

One sensor per entity reads every source (landing zone files, then inbox rows), stores what is
valid, quarantines what is not, and reports a ``raw_*`` materialization per changed record with
its content hash as the data version. The cursor holds the last inbox id and the last stored
``seq``; files are remembered by fingerprint in the database, so thousands of files do not bloat
the cursor. Nothing in here raises out of a tick because of a record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

import dagster as dg

from talent_shared.records import Entity
from talent_shared.settings import get_settings

if TYPE_CHECKING:
    from talent_shared.ingest.sources import LandingZone

RAW_CODE_VERSION = "raw-1"


@dataclass(frozen=True)
class SensorSettings:
    """What a location sets on its ingestion sensor; ``None`` follows the deployment's settings."""

    minimum_interval_seconds: int | None = None
    max_records_per_tick: int | None = None


@dataclass
class Cursor:
    inbox_id: int = 0
    seq: int = 0
    # budget gate: the UTC day and the projected LLM cost of the records reported that day, so
    # records reported but not yet processed (no spend in the ledger yet) still count
    day: str = ""
    released_usd: float = 0.0

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        return cls(**json.loads(text)) if text else cls()

    def dump(self) -> str:
        data: dict = {"inbox_id": self.inbox_id, "seq": self.seq}
        if self.day:
            data.update(day=self.day, released_usd=self.released_usd)
        return json.dumps(data)


@dataclass
class TickReport:
    files_read: int = 0
    accepted: int = 0
    changed: int = 0
    rejected: int = 0


def ingest_sources(entity: Entity, zone: LandingZone, cursor: Cursor, *, limit: int, log=None) -> TickReport:
    """Read new or changed files and new inbox rows into the database (one transaction per source)."""
    import psycopg

    from talent_shared.db import connect
    from talent_shared.ingest import store
    from talent_shared.ingest.parse import Accepted, Rejection, parse_bytes, parse_value

    report = TickReport()
    with connect() as conn:
        known = store.known_fingerprints(conn, entity)
        for landed in zone.list(entity):
            if known.get(landed.name) == landed.fingerprint:
                continue
            if report.accepted + report.rejected >= limit:
                break
            try:
                data = zone.read(landed.name)
            except OSError as exc:  # a file vanished or is unreadable: try again next tick
                if log:
                    log.warning(f"could not read {landed.name}: {exc}")
                continue
            results = list(parse_bytes(entity, landed.name, data))
            accepted = [r for r in results if isinstance(r, Accepted)]
            rejected = [r for r in results if isinstance(r, Rejection)]
            try:
                with conn.transaction():
                    report.changed += store.store_accepted(conn, entity, landed.name, accepted)
                    store.store_rejections(conn, entity, landed.name, rejected)
                    store.mark_read(conn, entity, landed.name, landed.fingerprint)
            except psycopg.DataError as exc:
                # the database refused a record parsing let through: quarantine the file, keep ticking
                rejected = [Rejection(None, f"store: the database refused the file ({type(exc).__name__})")]
                accepted = []
                with conn.transaction():
                    store.store_rejections(conn, entity, landed.name, rejected)
                    store.mark_read(conn, entity, landed.name, landed.fingerprint)
            report.files_read += 1
            report.accepted += len(accepted)
            report.rejected += len(rejected)
            for r in rejected:
                if log:
                    log.warning(f"rejected {entity} {landed.name}:{r.line}: {r.reason}")
        for inbox_id, payload in store.inbox_after(conn, entity, cursor.inbox_id, limit):
            source = f"inbox:{inbox_id}"
            result = parse_value(entity, 1, payload)
            with conn.transaction():
                if isinstance(result, Accepted):
                    report.changed += store.store_accepted(conn, entity, source, [result])
                    report.accepted += 1
                else:
                    store.store_rejections(conn, entity, source, [result])
                    report.rejected += 1
                    if log:
                        log.warning(f"rejected {entity} {source}: {result.reason}")
            cursor.inbox_id = inbox_id
    return report


def _within_budget(
    entity: Entity,
    raw_key: dg.AssetKey,
    pending: list,
    cursor: Cursor,
    log,
    llm_assets: list[tuple[str, str]] | None = None,
) -> tuple[list, str | None]:
    """The budget gate (see ``talent_shared.cost.budget``): report only the pending records whose
    projected LLM cost fits in what is left of the location's daily budget. The rest stay behind the
    cursor (``seq`` advances only over what is reported) and go out on a later tick, once the UTC
    day turns or the budget is raised. What counts as spent is the larger of the ledger's spend today
    and the projected cost of what this sensor reported today (kept in the cursor). Returns (records
    to report, why some were held or None)."""
    from datetime import UTC, datetime
    from decimal import Decimal

    from talent_shared.cost import budget
    from talent_shared.db import connect
    from talent_shared.keys import owner_of

    location = owner_of(raw_key)
    try:
        with connect() as conn:
            sample_ids = [r.record_id for r in pending[:20]]
            sample = [
                json.dumps(p)
                for (p,) in conn.execute(
                    "SELECT payload FROM talent.raw_records WHERE entity = %s AND record_id = ANY(%s)",
                    (entity, sample_ids),
                )
            ]
            per_record, how = budget.cost_per_record(conn, location, sample, llm_assets or [])
            today = datetime.now(UTC).strftime("%Y-%m-%d")
            if cursor.day != today:
                cursor.day, cursor.released_usd = today, 0.0
            allowed, status = budget.affordable(
                conn, location, per_record, len(pending), committed=Decimal(str(cursor.released_usd))
            )
    except Exception as exc:  # the gate must not stop ingestion because an estimate failed
        if log:
            log.warning(f"budget check failed, not gating this tick: {exc}")
        return pending, None
    cursor.released_usd += float(per_record * allowed)
    if allowed >= len(pending):
        return pending, None
    held = status.message(
        f"{len(pending) - allowed} of {len(pending)} pending {entity} records held;"
        f" {len(pending)} x ${per_record:.6f}/record ({how}) ="
    )
    return pending[:allowed], held


def build_ingest_sensor(
    entity: Entity,
    raw_key: dg.AssetKey,
    partitions: dg.DynamicPartitionsDefinition,
    *,
    name: str | None = None,
    settings: SensorSettings | None = None,
    llm_assets: list[tuple[str, str]] | None = None,
) -> dg.SensorDefinition:
    """``llm_assets``: (key, code version) of the location's LLM assets, which the budget gate prices."""
    own = settings or SensorSettings()

    @dg.sensor(
        name=name or f"{partitions.name}_ingest",
        minimum_interval_seconds=own.minimum_interval_seconds or get_settings().sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Reads {entity} records from the landing zone and the inbox; rejects are quarantined.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        from talent_shared.db import connect
        from talent_shared.ingest import store
        from talent_shared.ingest.sources import landing_zone

        cfg = get_settings()
        limit = own.max_records_per_tick or cfg.max_records_per_tick
        cursor = Cursor.parse(context.cursor)
        zone = landing_zone(cfg.landing_location, endpoint_url=cfg.s3_endpoint_url)
        report = ingest_sources(entity, zone, cursor, limit=limit, log=context.log)
        with connect() as conn:
            pending = store.records_after(conn, entity, cursor.seq, limit)
        if not pending:
            return dg.SensorResult(
                cursor=cursor.dump(),
                skip_reason=f"no changed {entity} records ({report.files_read} files read, {report.rejected} rejected)",
            )
        pending, held = _within_budget(entity, raw_key, pending, cursor, context.log, llm_assets)
        if not pending:
            return dg.SensorResult(cursor=cursor.dump(), skip_reason=held)
        assert partitions.name is not None
        existing = set(context.instance.get_dynamic_partitions(partitions.name))
        new_keys = [r.record_id for r in pending if r.record_id not in existing]
        events = [
            dg.AssetMaterialization(
                asset_key=raw_key,
                partition=r.record_id,
                tags={
                    "dagster/data_version": r.content_hash,
                    "dagster/data_version_is_user_provided": "true",
                    "dagster/code_version": RAW_CODE_VERSION,
                },
                metadata={"source": r.source, "line": r.line or 0, "seq": r.seq},
            )
            for r in pending
        ]
        cursor.seq = pending[-1].seq
        context.log.info(
            f"{len(pending)} changed {entity} records, {len(new_keys)} new partitions, {report.rejected} rejected"
        )
        if held:
            context.log.warning(held)
        return dg.SensorResult(
            cursor=cursor.dump(),
            dynamic_partitions_requests=[partitions.build_add_request(new_keys)] if new_keys else [],
            asset_events=events,
        )

    return _sensor
