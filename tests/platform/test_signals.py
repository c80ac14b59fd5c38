"""``talent local run`` and ``talent dev`` stopped by SIGTERM while the platform runs leave nothing
behind: no code server, daemon, webserver, run worker, nor the embedded PostgreSQL they started.
(``test_dev.py`` stops ``talent dev`` with SIGINT; the short commands are in
``tooling/tests/test_cli_signals.py``.)"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from talent_platform.testing import free_port, processes_under

pytestmark = pytest.mark.platform

REPO = Path(__file__).resolve().parents[2]
TALENT = str(Path(sys.executable).parent / "talent")


@pytest.mark.parametrize("command", ["local run", "dev"])
def test_sigterm_while_the_platform_runs_stops_everything(state_dir: Path, command: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALENT_")}
    env["TALENT_HOME"] = str(state_dir)
    landing = REPO / "tests" / "data" / "professions" / "landing"
    args = (
        ["local", "run", "--landing", str(landing), "--state", str(state_dir), "--timeout", "600"]
        if command == "local run"
        else ["dev", "--port", str(free_port()), "--no-demo"]
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
        assert processes_under(state_dir), "nothing to stop?"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode != -signal.SIGTERM, out[-3000:]
    time.sleep(0.5)
    assert processes_under(state_dir) == [], out[-3000:]
