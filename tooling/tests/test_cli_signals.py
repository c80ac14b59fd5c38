"""Every ``talent`` command that starts the embedded PostgreSQL stops it again when it is stopped by
SIGTERM or SIGINT: nothing under its state folder outlives it (the server outlives a killed Python
process unless the command stops it).

Short commands are signalled as soon as their server appears (it is still starting, or just up);
servers (``serve-ingest``, ``cost exporter``) once they answer. ``talent dev`` and
``talent local run`` start the whole platform and are covered in ``tests/platform``.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from talent_platform.testing import free_port, processes_under

TALENT = str(Path(sys.executable).parent / "talent")


def _server_up(state: Path) -> bool:
    from talent_shared.db.embedded import is_running

    return is_running(state / "pgdata")


def _server_appeared(state: Path) -> bool:
    """Its pid file exists: the server is starting or up."""
    return (state / "pgdata" / "postmaster.pid").exists()


def _answers(url: str) -> Callable[[Path], bool]:
    def ready(state: Path) -> bool:
        try:
            return httpx.get(url, timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    return ready


@pytest.fixture(scope="module")
def state() -> Iterator[Path]:
    """One state folder for the module, its database created and migrated once and then stopped."""
    folder = Path(tempfile.mkdtemp(prefix="talent-test-signals-"))
    folder.chmod(0o755)
    env = _env(folder)
    try:
        done = subprocess.run([TALENT, "db", "migrate"], env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stdout + done.stderr
        assert processes_under(folder) == [], "talent db migrate left its server running"
        yield folder
    finally:
        from talent_shared.db.embedded import stop

        stop(folder / "pgdata")
        shutil.rmtree(folder, ignore_errors=True)


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TALENT_", "DAGSTER_"))}
    env["TALENT_HOME"] = str(state)
    return env


PORT = free_port()
EXPORTER_PORT = free_port()
COMMANDS: dict[str, tuple[list[str], Callable[[Path], bool], dict[str, str]]] = {
    "db migrate": (["db", "migrate"], _server_appeared, {}),
    "rejects": (["rejects", "--json"], _server_appeared, {}),
    "matches": (["matches", "--candidate", "c-1"], _server_appeared, {}),
    "cost estimate": (["cost", "estimate", "--json"], _server_appeared, {}),
    "cost exporter": (
        ["cost", "exporter", "--port", str(EXPORTER_PORT)],
        _answers(f"http://127.0.0.1:{EXPORTER_PORT}/healthz"),
        {},
    ),
    "serve-ingest": (
        ["serve-ingest", "--port", str(PORT)],
        _answers(f"http://127.0.0.1:{PORT}/healthz"),
        {"TALENT_INGEST_TOKEN": "signal-test-token"},
    ),
}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_stopped_by_a_signal_leaves_nothing_running(state: Path, command: str, sig: int) -> None:
    args, ready, extra = COMMANDS[command]
    assert not _server_up(state)
    proc = subprocess.Popen(
        [TALENT, *args],
        env={**_env(state), **extra},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # started as a background job of a non-interactive shell would start it: SIGINT ignored.
        # Ctrl-C must stop it all the same.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 120
        while not ready(state):
            assert proc.poll() is None or _server_up(state), f"{command} ended before its server came up"
            if proc.poll() is not None:
                break
            assert time.monotonic() < deadline, f"{command} never got ready"
            time.sleep(0.02)
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
            # This case has failed already; stop what the SIGKILL left so the next cases start clean.
            from talent_shared.db.embedded import stop

            stop(state / "pgdata")
    # killed by the signal itself would mean no handler ran, hence no stop
    assert proc.returncode != -sig, out
    time.sleep(0.2)
    assert processes_under(state) == [], (
        f"{command} left processes behind after {signal.Signals(sig).name}:\n{out[-2000:]}"
    )
    assert not _server_up(state)
