"""The ingestion sensor a location runs for its entity.

One sensor per entity reads every source (landing zone files, then inbox rows in commit order),
stores what is valid and quarantines what is not. Storing a record opens its lineage in the same
transaction (``talent_shared.lineage``), so from then on the reconciler (``talent_shared.reconciler``)
sees it as work whatever happens to this tick; the sensor then reports one ``raw_*`` materialization
per batch it wrote to, with the batch's content version as data version, for Dagster's catalog. The
cursor holds the inbox position (writer transaction id, row id); files are remembered by fingerprint
in the database, so thousands of files do not bloat the cursor. Nothing in here raises out of a tick
because of a record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import dagster as dg

from talent_shared.records import Entity
from talent_shared.resources import LandingZoneResource, PostgresResource
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
    """The inbox position in commit order. A cursor written before commit-order reading
    (``{"inbox_id": N, ...}``) reads as (0, N): rows written before migration 0008 carry txid 0."""

    inbox_txid: int = 0
    inbox_id: int = 0

    @classmethod
    def parse(cls, text: str | None) -> Cursor:
        data = json.loads(text) if text else {}
        return cls(int(data.get("inbox_txid", 0)), int(data.get("inbox_id", 0)))

    def dump(self) -> str:
        return json.dumps({"inbox_txid": self.inbox_txid, "inbox_id": self.inbox_id})


@dataclass
class TickReport:
    files_read: int = 0
    accepted: int = 0
    changed: int = 0
    rejected: int = 0
    touched: set[str] = field(default_factory=set)  # batches written


def ingest_sources(
    entity: Entity, zone: LandingZone, cursor: Cursor, *, limit: int, log=None, url: str | None = None
) -> TickReport:
    """Read new or changed files and new inbox rows into the database (one transaction per source)."""
    import psycopg

    from talent_shared.db import connect
    from talent_shared.ingest import store
    from talent_shared.ingest.parse import Accepted, Rejection, parse_bytes, parse_value

    report = TickReport()
    with connect(url) as conn:
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
                    report.changed += store.store_accepted(conn, entity, landed.name, accepted, touched=report.touched)
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
        position = store.InboxCursor(cursor.inbox_txid, cursor.inbox_id)
        for at, payload in store.inbox_after(conn, entity, position, limit):
            source = f"inbox:{at.id}"
            result = parse_value(entity, 1, payload)
            with conn.transaction():
                if isinstance(result, Accepted):
                    report.changed += store.store_accepted(conn, entity, source, [result], touched=report.touched)
                    report.accepted += 1
                else:
                    store.store_rejections(conn, entity, source, [result])
                    report.rejected += 1
                    if log:
                        log.warning(f"rejected {entity} {source}: {result.reason}")
            cursor.inbox_txid, cursor.inbox_id = at.txid, at.id
    return report


def take_arrivals(
    context: dg.SensorEvaluationContext,
    url: str,
    zone: LandingZone,
    entity: Entity,
    raw_key: dg.AssetKey,
    partitions: dg.DynamicPartitionsDefinition,
    cursor: Cursor,
    settings: SensorSettings,
) -> tuple[list[dg.AssetMaterialization], list[str], str | None]:
    """One ingestion tick's work: every source read into the database, ``cursor`` advanced. Returns
    the ``raw_*`` materializations of the batches written to, the batch keys that are new
    partitions, and why nothing changed (``None`` when something did)."""
    from talent_shared.db import connect
    from talent_shared.ingest import store

    limit = settings.max_records_per_tick or get_settings().max_records_per_tick
    report = ingest_sources(entity, zone, cursor, limit=limit, log=context.log, url=url)
    if not report.touched:
        return [], [], f"no changed {entity} records ({report.files_read} files read, {report.rejected} rejected)"
    with connect(url) as conn:
        versions = store.batch_versions(conn, entity, report.touched)
    assert partitions.name is not None
    new_keys = [k for k in sorted(versions) if not context.instance.has_dynamic_partition(partitions.name, k)]
    events = [
        dg.AssetMaterialization(
            asset_key=raw_key,
            partition=key,
            tags={
                "dagster/data_version": version,
                "dagster/data_version_is_user_provided": "true",
                "dagster/code_version": RAW_CODE_VERSION,
            },
        )
        for key, version in sorted(versions.items())
    ]
    context.log.info(
        f"{report.changed} changed {entity} records in {len(versions)} batches"
        f" ({len(new_keys)} new), {report.rejected} rejected"
    )
    return events, new_keys, None


def build_ingest_sensor(
    entity: Entity,
    raw_key: dg.AssetKey,
    partitions: dg.DynamicPartitionsDefinition,
    *,
    name: str | None = None,
    settings: SensorSettings | None = None,
) -> dg.SensorDefinition:
    """Ingestion alone, as a sensor of its own. A location's pipeline does not deploy it: its
    reconciler takes the arrivals at the start of each tick (``talent_shared.reconciler``), so a
    record stored by a tick is requested by the same tick rather than one sensor-daemon loop later."""
    own = settings or SensorSettings()

    @dg.sensor(
        name=name or f"{entity}_ingest",
        minimum_interval_seconds=own.minimum_interval_seconds or get_settings().sensor_interval_seconds,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Reads {entity} records from the landing zone and the inbox; rejects are quarantined.",
    )
    def _sensor(
        context: dg.SensorEvaluationContext, postgres: PostgresResource, landing: LandingZoneResource
    ) -> dg.SensorResult:
        cursor = Cursor.parse(context.cursor)
        url, zone = postgres.get_url(), landing.zone()
        events, new_keys, skip = take_arrivals(context, url, zone, entity, raw_key, partitions, cursor, own)
        return dg.SensorResult(
            cursor=cursor.dump(),
            dynamic_partitions_requests=[partitions.build_add_request(new_keys)] if new_keys else [],
            asset_events=events,
            skip_reason=skip,
        )

    return _sensor
