"""``talent local run`` and ``talent dev`` stopped by SIGTERM while the platform runs leave nothing
behind: no code server, daemon, webserver, run worker, nor the embedded PostgreSQL they started.
(``test_dev.py`` stops ``talent dev`` with SIGINT; the short commands are in
``platform/tests/test_cli_signals.py``.)"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.platform

REPO = Path(__file__).resolve().parents[2]
TALENT = str(Path(sys.executable).parent / "talent")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _leftovers(state: Path) -> list[str]:
    out = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and str(state) in " ".join(proc.info["cmdline"] or []):
                out.append(" ".join(proc.info["cmdline"]))
        except psutil.Error:
            pass
    return out


@pytest.mark.parametrize("command", ["local run", "dev"])
def test_sigterm_while_the_platform_runs_stops_everything(state_dir: Path, command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALENT_")}
    env["TALENT_HOME"] = str(state_dir)
    landing = REPO / "tests" / "data" / "professions" / "landing"
    args = (
        ["local", "run", "--landing", str(landing), "--state", str(state_dir), "--timeout", "600"]
        if command == "local run"
        else ["dev", "--port", str(_free_port()), "--no-demo"]
    )
    proc = subprocess.Popen([TALENT, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    daemon_log = state_dir / "logs" / "daemon.log"
    try:
        deadline = time.monotonic() + 240
        while not daemon_log.exists():  # the daemon starts last: Postgres and code servers are up
            assert proc.poll() is None, proc.communicate()[0][-3000:]
            assert time.monotonic() < deadline, "the platform never started"
            time.sleep(0.2)
        time.sleep(2)  # let the daemon get going (and possibly launch runs)
        assert _leftovers(state_dir), "nothing to stop?"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != -signal.SIGTERM, out[-3000:]
    time.sleep(0.5)
    assert _leftovers(state_dir) == [], out[-3000:]
