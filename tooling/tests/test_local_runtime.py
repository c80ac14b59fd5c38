"""The local platform's speed settings do what they claim, against the real server and Dagster."""

from __future__ import annotations

import logging
import multiprocessing
import threading

import pytest
import sqlalchemy.pool
import yaml

from talent_platform.local.code_server import forkserver_context, use_forkserver
from talent_platform.local.config import instance_config
from talent_shared.db.connection import connect, dagster_storage_url


def test_dagster_storage_is_dagster_postgres_as_shipped(tmp_path, pg_url: str) -> None:
    """The instance, and a run worker built from its ref, use dagster-postgres's own storage."""
    import dagster as dg
    from dagster_postgres import DagsterPostgresStorage

    (tmp_path / "dagster.yaml").write_text(yaml.safe_dump(instance_config(pg_url)))
    with dg.DagsterInstance.from_config(str(tmp_path)) as instance:
        ref = instance.get_ref()
        assert (ref.storage_data.module_name, ref.storage_data.class_name) == (
            "dagster_postgres",
            "DagsterPostgresStorage",
        )
        assert type(ref.storage) is DagsterPostgresStorage
        with dg.DagsterInstance.from_ref(ref) as worker:
            assert isinstance(worker._event_storage._engine.pool, sqlalchemy.pool.NullPool)
        # it is a working storage: a run and its events round-trip
        run = instance.create_run_for_job(dg.GraphDefinition("noop").to_job(), run_id=None)
        instance.report_engine_event("hello", run)
        assert "hello" in [e.dagster_event.message for e in instance.all_logs(run.run_id) if e.dagster_event]


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


def test_dagster_storage_url_uses_psycopg2(pg_url: str) -> None:
    """dagster-postgres' NOTIFY breaks under psycopg 3 (dagster#33958)."""
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


def test_every_forkserver_preload_imports_and_warms_what_the_steps_load(tmp_path) -> None:
    """The standard library's forkserver skips a preload module that fails to import, silently: a
    fresh interpreter imports each one, and after ``warm`` both tokenizers are
    built (each step of a run worker paid them on its first call)."""
    import os
    import subprocess
    import sys

    from talent_platform.local.code_server import PRELOAD

    script = (
        "import importlib, sys\n"
        f"for name in {PRELOAD!r}:\n"
        "    importlib.import_module(name)\n"
        "from talent_shared.llm.encodings import _encoding\n"
        "assert _encoding.cache_info().currsize == 2, _encoding.cache_info()\n"
    )
    env = {**os.environ, "TALENT_HOME": str(tmp_path)}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
