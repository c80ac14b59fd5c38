"""The local platform's speed settings do what they claim, against the real server and Dagster."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
from collections.abc import Iterator

import pytest
import sqlalchemy.pool
import yaml

from talent_platform.local.code_server import forkserver_context, use_forkserver
from talent_platform.local.config import instance_config
from talent_shared.dagster_storage import PooledPostgresStorage
from talent_shared.db.connection import connect, dagster_storage_url


def _instance(tmp_path, pg_url: str, pool_size: int):
    import dagster as dg

    home = tmp_path / f"dagster-{pool_size}"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config(pg_url, pool_size=pool_size)))
    return dg.DagsterInstance.from_config(str(home))


def test_dagster_storage_is_pooled_and_survives_the_instance_ref(tmp_path, pg_url: str) -> None:
    """Every storage engine pools, in this process and in a run worker built from the ref."""
    import dagster as dg

    with _instance(tmp_path, pg_url, pool_size=3) as instance:
        ref = instance.get_ref()
        assert ref.storage_data.class_name == PooledPostgresStorage.__name__
        assert isinstance(ref.storage, PooledPostgresStorage)
        for worker in (instance, dg.DagsterInstance.from_ref(ref)):
            for part in (worker._run_storage, worker._event_storage, worker._schedule_storage):
                pool = part._engine.pool  # type: ignore[attr-defined]
                assert isinstance(pool, sqlalchemy.pool.QueuePool), type(pool)
                assert pool.size() == 3
        # it is a working storage: a run and its events round-trip
        run = instance.create_run_for_job(dg.GraphDefinition("noop").to_job(), run_id=None)
        instance.report_engine_event("hello", run)
        assert "hello" in [e.dagster_event.message for e in instance.all_logs(run.run_id) if e.dagster_event]
        # the per-storage refs older readers use stay loadable by the stock classes
        from dagster_postgres import PostgresEventLogStorage

        data = ref.storage.event_storage_data
        assert data.class_name == "PostgresEventLogStorage"
        assert "pool_size" not in yaml.safe_load(data.config_yaml)
        PostgresEventLogStorage.from_config_value(None, yaml.safe_load(data.config_yaml))


@contextlib.contextmanager
def _statements(engine) -> Iterator[list[str]]:
    """The SQL statements sent through ``engine`` inside the block."""
    import sqlalchemy

    statements: list[str] = []

    def listener(_conn, _cursor, statement, *_) -> None:
        statements.append(statement)

    sqlalchemy.event.listen(engine, "before_cursor_execute", listener)
    try:
        yield statements
    finally:
        sqlalchemy.event.remove(engine, "before_cursor_execute", listener)


def _planned_rows(instance, run_id: str) -> tuple[list[tuple], dict]:
    """What a run's creation left in the event log: (event type, asset, partition) per row, and
    each asset's row as the UI and automation read it."""
    rows = [
        (e.dagster_event.event_type_value, e.dagster_event.asset_key.to_string(), e.dagster_event.partition)
        for e in instance.all_logs(run_id)
        if e.dagster_event and e.dagster_event.asset_key
    ]
    assets = {
        r.asset_entry.asset_key.to_user_string(): r.asset_entry.last_run_id
        for r in instance.get_asset_records()
        if r.asset_entry.last_run_id == run_id
    }
    return rows, assets


def test_planned_events_of_a_big_run_are_written_in_batches_with_the_stock_rows(
    tmp_path, pg_url: str, monkeypatch
) -> None:
    """A run over 300 partitions of two assets: the same 600 planned rows as dagster-postgres
    writes one event at a time, in a handful of inserts instead of 600 (talent_shared.dagster_storage)."""
    import dagster as dg

    monkeypatch.setenv("DAGSTER_EVENT_BATCH_SIZE", "200")
    parts = dg.DynamicPartitionsDefinition(name="planned_test")

    @dg.asset(partitions_def=parts)
    def planned_a() -> None: ...

    @dg.asset(partitions_def=parts, deps=[planned_a])
    def planned_b() -> None: ...

    job = dg.Definitions(assets=[planned_a, planned_b]).resolve_implicit_global_asset_job_def()
    keys = [f"r-{i:04d}" for i in range(300)]
    tags = {"dagster/asset_partition_range_start": keys[0], "dagster/asset_partition_range_end": keys[-1]}
    got = {}
    for pool_size in (0, 2):  # dagster-postgres as shipped, then ours
        with _instance(tmp_path, pg_url, pool_size=pool_size) as instance:
            instance.add_dynamic_partitions(parts.name, keys)
            with _statements(instance._event_storage._engine) as statements:
                run = instance.create_run_for_job(job, tags=tags)
            inserts = sum(s.lstrip().upper().startswith("INSERT INTO EVENT_LOGS") for s in statements)
            got[pool_size] = (*_planned_rows(instance, run.run_id), inserts, run.run_id)
    (stock_rows, stock_assets, stock_inserts, stock_run), (rows, assets, batched_inserts, run_id) = got[0], got[2]
    assert len(rows) == 600 and sorted(rows) == sorted(stock_rows)
    assert {r[2] for r in rows} == set(keys)
    assert assets == {"planned_a": run_id, "planned_b": run_id}
    assert stock_assets == {"planned_a": stock_run, "planned_b": stock_run}
    assert stock_inserts >= 600, stock_inserts
    assert batched_inserts <= 3 + 2, batched_inserts  # 3 batches of 200 plus the run's own events


def test_pool_size_zero_is_dagster_postgres_as_shipped(tmp_path, pg_url: str) -> None:
    from dagster_postgres import DagsterPostgresStorage

    with _instance(tmp_path, pg_url, pool_size=0) as instance:
        assert type(instance.get_ref().storage) is DagsterPostgresStorage
        assert isinstance(instance._event_storage._engine.pool, sqlalchemy.pool.NullPool)


def test_embedded_server_commits_asynchronously(pg_url: str) -> None:
    """The local trade (talent_shared.db.embedded): set on the server, so every client gets it."""
    with connect(pg_url) as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "off"


def test_synchronous_commit_can_be_turned_back_on(state_dir, monkeypatch) -> None:
    from talent_shared.db import embedded

    # state_dir, not tmp_path: the server's own user must traverse the folders, and another pytest
    # session resets /tmp/pytest-of-root to owner-only whenever it starts
    monkeypatch.setenv("TALENT_EMBEDDED_SYNCHRONOUS_COMMIT", "on")
    with embedded.running(state_dir / "pgdata") as url, connect(url) as conn:
        assert conn.execute("SHOW synchronous_commit").fetchone()[0] == "on"


def test_code_server_starts_runs_from_the_forkserver() -> None:
    """The one hook into Dagster: a server built after ``use_forkserver`` has the forkserver
    context. Fails if an upgrade renames ``_mp_ctx`` (then runs would silently spawn again)."""
    from dagster._core.utils import FuturesAwareThreadPoolExecutor
    from dagster._grpc.server import DagsterApiServer

    ctx = forkserver_context(None)
    use_forkserver(ctx)
    with FuturesAwareThreadPoolExecutor(max_workers=1) as pool:
        server = DagsterApiServer(threading.Event(), logging.getLogger("test"), pool)
        try:
            assert server._mp_ctx is ctx
            assert server._mp_ctx.get_start_method() == "forkserver"
        finally:
            server._server_termination_event.set()
    assert multiprocessing.get_start_method(allow_none=True) != "forkserver"  # nothing global changed


@pytest.mark.parametrize("argv", [["-m", "talent_matching.definitions", "-p", "1"], ["--module-name", "x.y"]])
def test_code_server_preloads_the_location_it_serves(argv) -> None:
    from talent_platform.local import code_server

    assert code_server._module(argv) == argv[1]


def test_dagster_storage_url_is_what_the_pool_connects_to(pg_url: str) -> None:
    assert dagster_storage_url(pg_url).startswith("postgresql+psycopg2://")


def test_daemon_loops_are_shortened_where_dagster_reads_them() -> None:
    """Fails if an upgrade renames the constants (then the loops silently go back to 5 s)."""
    import importlib

    from talent_platform.local.daemon import shorten_loops
    from talent_platform.local.dagster_internals import DAEMON_LOOP_CONSTANTS as CONSTANTS

    before = {(m, n): getattr(importlib.import_module(m), n) for m, n in CONSTANTS}
    assert set(before.values()) == {5}, before  # Dagster's own pace, what the module doc measures
    try:
        shorten_loops(1)
        assert {getattr(importlib.import_module(m), n) for m, n in CONSTANTS} == {1}
    finally:
        for (m, n), value in before.items():
            setattr(importlib.import_module(m), n, value)
