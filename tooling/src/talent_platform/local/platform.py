"""Start, watch and stop the local platform; used by ``talent dev`` and ``talent local run``.

``running_platform`` owns every process it starts: Postgres (when it started it), a gRPC code
server per location, the daemon and optionally the webserver. Leaving the ``with`` block, by
return, exception, Ctrl-C or SIGTERM, stops all of them.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import AbstractContextManager, ExitStack, contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from talent_platform.local.config import DAGSTER_ENV, write_configs
from talent_platform.local.processes import Supervisor, free_port, signals_raise
from talent_shared.keys import LOCATIONS

if TYPE_CHECKING:
    from talent_platform.progress import Progress


@dataclass
class Platform:
    state: Path
    dagster_home: Path
    workspace: Path
    database_url: str
    ports: dict[str, int]
    supervisor: Supervisor
    webserver_url: str | None = None
    started_at: float = 0.0

    def instance(self):
        import dagster as dg

        return dg.DagsterInstance.from_config(str(self.dagster_home))


def _bin(name: str) -> str:
    local = Path(sys.executable).parent / name
    return str(local) if local.exists() else (shutil.which(name) or name)


def wait_grpc(port: int, supervisor: Supervisor, timeout: float) -> None:
    """Until the code server on ``port`` answers a ping (failing early if a child exited)."""
    from talent_platform.local.dagster_internals import get

    client = get("DagsterGrpcClient")(port=port, host="127.0.0.1")
    deadline = time.monotonic() + timeout
    while True:
        supervisor.check()
        try:
            client.ping("ready")
            return
        except Exception:
            if time.monotonic() > deadline:
                raise TimeoutError(f"code server on port {port} did not answer within {timeout:.0f}s") from None
            time.sleep(0.3)


def _wait_http(url: str, supervisor: Supervisor, timeout: float) -> None:
    """Until the webserver answers: its process listens well before it has loaded the workspace."""
    deadline = time.monotonic() + timeout
    while True:
        supervisor.check()
        try:
            with urllib.request.urlopen(f"{url}/server_info", timeout=2) as response:
                if response.status == 200:
                    return
        except (OSError, urllib.error.URLError):
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"the webserver at {url} did not answer within {timeout:.0f}s")
        time.sleep(0.3)


def _step(progress: Progress | None, description: str, done: str = "done") -> AbstractContextManager[None]:
    return progress.step(description, done) if progress is not None else nullcontext()


@contextmanager
def running_platform(
    state: Path,
    landing: str,
    *,
    webserver_port: int | None = None,
    sensor_interval_seconds: int = 2,
    extra_env: dict[str, str] | None = None,
    progress: Progress | None = None,
) -> Iterator[Platform]:
    """``progress`` is told each thing as it starts and when it answers (``talent dev`` and
    ``talent local run`` show it: a first start on a fresh state takes a while)."""
    from talent_shared.db import embedded
    from talent_shared.db.connection import connect
    from talent_shared.db.migrations import migrate
    from talent_shared.settings import Settings

    state = state.resolve()
    dagster_home = state / "dagster"
    with ExitStack() as stack:
        stack.enter_context(signals_raise())
        settings = Settings(home=state, landing=landing)
        database_url = settings.database_url
        if not database_url:
            with _step(progress, "starting PostgreSQL", "up"):
                database_url = stack.enter_context(embedded.running(settings.pgdata))
        with _step(progress, "applying database migrations"), connect(database_url) as conn:
            applied = migrate(conn, dim=settings.embedding_dim)
        if progress is not None and applied:
            progress.note(f"applied migrations {', '.join(applied)}")
        ports = {name: free_port() for name in LOCATIONS}
        workspace = write_configs(
            dagster_home, database_url, ports, automation_interval_seconds=sensor_interval_seconds
        )
        # Dagster's storage schema is created here, once: three code servers starting together on a
        # fresh database otherwise race to create the same tables (DuplicateTable, a failed start).
        import dagster as dg

        with _step(progress, "preparing Dagster's storage"), dg.DagsterInstance.from_config(str(dagster_home)):
            pass
        env = {
            **DAGSTER_ENV,
            **os.environ,
            **(extra_env or {}),
            "DAGSTER_HOME": str(dagster_home),
            "TALENT_HOME": str(state),
            "TALENT_LANDING": landing,
            "TALENT_DATABASE_URL": database_url,
            "TALENT_SENSOR_INTERVAL_SECONDS": str(sensor_interval_seconds),
            "PYTHONWARNINGS": "ignore",
        }
        supervisor = Supervisor(state / "logs", env)
        stack.callback(supervisor.stop_all)
        # dagster api grpc with run workers forked from a preloaded process (see code_server);
        # TALENT_LOCAL_RUN_WORKERS=spawn runs Dagster's own server (benchmarks compare the two)
        if env.get("TALENT_LOCAL_RUN_WORKERS", "forkserver") == "spawn":
            server = [_bin("dagster"), "api", "grpc"]
        else:
            server = [sys.executable, "-m", "talent_platform.local.code_server"]
        for name in LOCATIONS:
            supervisor.start(
                f"code-server-{name}",
                [
                    *server,
                    "-m",
                    f"talent_{name}.definitions",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(ports[name]),
                    "--location-name",
                    name,
                ],
            )
        for name in LOCATIONS:  # loading in parallel: the first one waited for takes the longest
            with _step(progress, f"code location {name}", f"serving on port {ports[name]}"):
                wait_grpc(ports[name], supervisor, timeout=120)
        url = None
        if webserver_port is not None:
            supervisor.start(
                "webserver",
                [_bin("dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p", str(webserver_port)],
            )
            url = f"http://127.0.0.1:{webserver_port}"
        # dagster-daemon with 1 s sensor/automation loops instead of 5 s (see local/daemon.py)
        with _step(progress, "starting the daemon (sensors, automation, run queue)", "started"):
            supervisor.start(
                "daemon", [sys.executable, "-m", "talent_platform.local.daemon", "run", "-w", str(workspace)]
            )
        if url is not None:
            with _step(progress, "starting the Dagster UI", f"ready at {url}"):
                _wait_http(url, supervisor, timeout=180)
        yield Platform(state, dagster_home, workspace, database_url, ports, supervisor, url, time.time())
