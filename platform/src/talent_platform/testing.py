"""What the tooling's tests share: a free port, the processes a test left behind, waiting for a server.

Every test that starts a ``talent`` command or the local platform ends by asking
:func:`processes_under` for what still runs with its state folder on the command line: the
embedded PostgreSQL outlives a killed parent unless a command stops it, so that list must be empty.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

from talent_platform.local.processes import free_port

__all__ = ["free_port", "processes_under", "wait_healthy"]


def processes_under(folder: Path) -> list[str]:
    """Command lines of the live (non-zombie) processes that name ``folder``."""
    import psutil  # a test dependency, not the tooling's

    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            cmdline = " ".join(proc.info["cmdline"] or [])
        except psutil.Error:
            continue
        if str(folder) in cmdline:
            found.append(cmdline)
    return found


def wait_healthy(base: str, proc: subprocess.Popen, *, timeout: float = 120, what: str = "serve-ingest") -> None:
    """Until ``base``/healthz answers 200; fails with the process's output if it exits first."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, f"{what} exited:\n{proc.communicate()[0]}"
        assert time.monotonic() < deadline, f"{what} never answered on {base}/healthz"
        time.sleep(0.1)
