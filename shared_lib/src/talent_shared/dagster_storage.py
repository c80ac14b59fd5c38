"""Dagster's Postgres storage with pooled connections and batched "planned" events.

dagster-postgres builds its run, event-log and schedule storages on SQLAlchemy ``NullPool``
engines: every event a run writes opens a new connection, which is a new backend process on the
server. Measured on this machine (embedded server, Unix socket): ~15 ms per event with a fresh
connection, ~1.4 ms with a pooled one; a run over 1,000 records writes ~4,000 events. Its config
has no pool settings (only the webserver gets a pool, through ``optimize_for_webserver``), so this
class is the stock storage with the three engines swapped for ``QueuePool`` engines, selected in
``dagster.yaml`` as ``storage: custom:`` (the instance then hands the same class to every run
worker through its ``InstanceRef``).

Sizes: a run worker writes from one thread; the daemon's threads (sensors, automation, queue,
monitoring) share one engine per storage. ``pool_size`` connections stay open per storage and
process, ``max_overflow`` more open while needed; ``pool_pre_ping`` replaces a connection the
server dropped (a restarted Postgres) instead of failing the next event write.

Planned events: creating a run over N partitions writes one ``ASSET_MATERIALIZATION_PLANNED``
event per partition and asset, and hands them to ``store_event_batch`` when
``DAGSTER_EVENT_BATCH_SIZE`` is set. dagster-postgres batches only materializations and
observations; anything else falls back to ``store_event`` one at a time: two transactions and two
pool checkouts per event, ~8 ms each in the daemon (py-spy, benchmarks/README.md "Growth"). A
5,000-record run is 10,000 events, ~110-170 s between the run's creation and its submission, which
crossed the run monitor's start timeout. :class:`PlannedBatchEventLogStorage` writes such a batch
the way dagster-postgres writes a batch of materializations: one multi-row insert, then the asset
rows for the last event of each asset. The rows are the ones ``store_event`` writes (one per
partition: a failed run's records still show as failed), minus the ``NOTIFY`` dagster-postgres
keeps only for version skew and skips for its own batches too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import yaml
from dagster import DagsterEventType, Field, IntSource
from dagster._config.config_schema import UserConfigSchema
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.config import pg_config
from dagster._core.storage.event_log.schema import SqlEventLogStorageTable
from dagster._serdes import ConfigurableClassData
from dagster_postgres import DagsterPostgresStorage, PostgresEventLogStorage
from dagster_postgres.utils import create_pg_engine, get_token_provider_from_config, pg_url_from_config

POOL_KEYS = ("pool_size", "max_overflow", "pool_recycle")


class PlannedBatchEventLogStorage(PostgresEventLogStorage):
    def store_event_batch(self, events: Sequence[EventLogEntry]) -> None:
        if not events or not all(
            e.dagster_event is not None
            and e.dagster_event.event_type == DagsterEventType.ASSET_MATERIALIZATION_PLANNED
            and e.dagster_event.asset_key is not None
            for e in events
        ):
            super().store_event_batch(events)
            return
        with self._connect() as conn:
            result = conn.execute(self.prepare_insert_event_batch(events).returning(SqlEventLogStorageTable.c.id))
            event_ids = [int(row[0]) for row in result.fetchall()]
        last: dict[Any, tuple[EventLogEntry, int]] = {}
        for event, event_id in zip(events, event_ids, strict=True):
            last[event.get_dagster_event().asset_key] = (event, event_id)
        with self.index_transaction() as conn:
            self._store_asset_event_tags(conn, events, event_ids)
            for event, event_id in last.values():
                self._store_asset_event(conn, event, event_id)


class PooledPostgresStorage(DagsterPostgresStorage):
    def __init__(
        self,
        postgres_url: str,
        should_autocreate_tables: bool = True,
        inst_data: ConfigurableClassData | None = None,
        token_provider: Any = None,
        *,
        pool_size: int = 2,
        max_overflow: int = 8,
        pool_recycle: int = 300,
    ):
        super().__init__(postgres_url, should_autocreate_tables, inst_data, token_provider)
        self._event_log_storage._engine.dispose()
        # the tables exist now (the stock storage above created them when asked to)
        self._event_log_storage = PlannedBatchEventLogStorage(
            postgres_url, should_autocreate_tables=False, token_provider=token_provider
        )
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage._engine.dispose()  # the NullPool engine holds nothing open
            storage._engine = create_pg_engine(
                postgres_url,
                token_provider,
                isolation_level="AUTOCOMMIT",
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_recycle=pool_recycle,
                pool_pre_ping=True,
            )

    @classmethod
    def config_type(cls) -> UserConfigSchema:
        return {
            **pg_config(),  # type: ignore[dict-item]
            "pool_size": Field(IntSource, is_required=False, default_value=2),
            "max_overflow": Field(IntSource, is_required=False, default_value=8),
            "pool_recycle": Field(IntSource, is_required=False, default_value=300),
        }

    @classmethod
    def from_config_value(  # type: ignore[override]
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> PooledPostgresStorage:
        return cls(
            inst_data=inst_data,
            postgres_url=pg_url_from_config(config_value),
            should_autocreate_tables=config_value.get("should_autocreate_tables", True),
            token_provider=get_token_provider_from_config(config_value),
            **{key: config_value[key] for key in POOL_KEYS if key in config_value},
        )

    def _stock_data(self, class_name: str) -> ConfigurableClassData | None:
        """The per-storage refs older readers use: the stock classes, without the pool keys they
        would reject."""
        if self.inst_data is None:
            return None
        config = {k: v for k, v in (yaml.safe_load(self.inst_data.config_yaml) or {}).items() if k not in POOL_KEYS}
        return ConfigurableClassData("dagster_postgres", class_name, yaml.safe_dump(config))

    @property
    def event_storage_data(self) -> ConfigurableClassData | None:
        return self._stock_data("PostgresEventLogStorage")

    @property
    def run_storage_data(self) -> ConfigurableClassData | None:
        return self._stock_data("PostgresRunStorage")

    @property
    def schedule_storage_data(self) -> ConfigurableClassData | None:
        return self._stock_data("PostgresScheduleStorage")


def storage_config(postgres_url: str, pool_size: int) -> dict:
    """The ``storage`` block of ``dagster.yaml``: pooled, or dagster-postgres's own with ``pool_size`` 0."""
    if pool_size <= 0:
        return {"postgres": {"postgres_url": postgres_url}}
    return {
        "custom": {
            "module": __name__,
            "class": PooledPostgresStorage.__name__,
            "config": {"postgres_url": postgres_url, "pool_size": pool_size},
        }
    }
