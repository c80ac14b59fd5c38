"""What the tooling's tests share: a free port, the processes a test left behind, waiting for a server.

Every test that starts a ``talent`` command or the local platform ends by asking
:func:`processes_under` for what still runs with its state folder on the command line: the
embedded PostgreSQL outlives a killed parent unless a command stops it, so that list must be empty.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from talent_platform.local.processes import free_port

__all__ = ["free_port", "in_terminal", "kill_postgres", "processes_under", "wait_healthy"]


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


def kill_postgres(pgdata: Path, *, timeout: float = 60) -> int:
    """SIGKILL the embedded PostgreSQL serving ``pgdata`` (its postmaster, as a crash would) and wait
    until none of its processes is left, so ``talent_shared.db.embedded.start`` can start it again on
    the same folder (its shared memory must be released first). Returns the postmaster's pid."""
    import os
    import signal

    import psutil

    pid = int((Path(pgdata) / "postmaster.pid").read_text().split()[0])
    postmaster = psutil.Process(pid)
    family = [postmaster, *postmaster.children(recursive=True)]
    os.kill(pid, signal.SIGKILL)
    # the backends notice their postmaster is gone and exit by themselves; quickly, but not at once
    _, alive = psutil.wait_procs(family, timeout=timeout)
    if alive:
        for proc in alive:
            proc.kill()
        _, alive = psutil.wait_procs(alive, timeout=10)
    if alive:
        raise RuntimeError(f"PostgreSQL processes outlived their postmaster: {[p.pid for p in alive]}")
    return pid


def asgi_post(app, token: str, headers: list[tuple[bytes, bytes]], receive) -> list[dict]:
    """POST /v1/candidates straight into an ASGI ``app`` with the body ``receive`` gives, bearer
    ``token`` and ``headers`` added; returns the messages the app sent. At the ASGI level nothing
    buffers the body for the app, so tests see exactly when it stops reading."""
    import anyio

    sent: list[dict] = []

    async def send(message: dict) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": "/v1/candidates",
        "raw_path": b"/v1/candidates",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"authorization", f"Bearer {token}".encode()), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }

    async def main() -> None:
        with anyio.fail_after(10):
            await app(scope, receive, send)

    anyio.run(main)
    return sent


def in_terminal(
    argv: list[str],
    env: dict[str, str],
    *,
    timeout: float = 300,
    columns: int = 100,
    stdout_pipe: bool = False,
    interrupt_when: Callable[[str], bool] | None = None,
) -> tuple[int, str, str]:
    """Run ``argv`` with a pseudo-terminal as its stderr (and stdout, unless ``stdout_pipe``: then
    stdout is a pipe, as in ``talent ... --json | jq``), as a user at a terminal runs it. Returns the
    exit code, what the terminal received (control sequences included) and the piped stdout.

    ``interrupt_when`` sees what the terminal received so far; once it says yes, the command gets
    SIGINT, as from Ctrl-C (for a command that runs until then, such as ``talent dev``)."""
    import fcntl
    import os
    import pty
    import select
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    proc = subprocess.Popen(
        argv,
        env={**env, "TERM": "xterm-256color", "COLUMNS": str(columns)},
        stdin=follower,
        stdout=subprocess.PIPE if stdout_pipe else follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    screen = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while True:
            assert time.monotonic() < deadline, (
                f"{argv} still runs after {timeout}s:\n{screen.decode(errors='replace')}"
            )
            ready, _, _ = select.select([leader], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(leader, 65536)
                except OSError:  # EIO: every holder of the terminal closed it
                    break
                if not chunk:
                    break
                screen += chunk
            elif proc.poll() is not None:
                break  # it ended and the terminal has nothing more to give
            if interrupt_when is not None and interrupt_when(screen.decode(errors="replace")):
                proc.send_signal(signal.SIGINT)
                interrupt_when = None
        out = proc.stdout.read().decode() if proc.stdout else ""
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(leader)
    return code, screen.decode(errors="replace"), out
