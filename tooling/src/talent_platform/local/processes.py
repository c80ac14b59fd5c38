"""Child processes that always die with their parent.

Each child runs in its own session (process group), so stopping it reaches the grandchildren
Dagster spawns (run workers, code-server subprocesses). ``stop_all`` sends SIGTERM to every group,
waits, then SIGKILLs what is left; it runs from ``finally`` blocks and from signal handlers.

Each child's command line is remembered under its name, so a child that died (or was killed with
:meth:`Supervisor.kill`) can be started again as it was with :meth:`Supervisor.restart`. The
process group of a child that is replaced stays on the list of groups ``stop_all`` signals: a
killed code server's run workers may outlive it and finish their runs, but not the platform.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Supervisor:
    log_dir: Path
    env: dict[str, str]
    children: list[tuple[str, subprocess.Popen]] = field(default_factory=list)
    argvs: dict[str, list[str]] = field(default_factory=dict)
    # process groups of children that were replaced by a restart (their leftovers are stopped too)
    retired: list[subprocess.Popen] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str]) -> subprocess.Popen:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the child
        proc = subprocess.Popen(list(argv), env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.children.append((name, proc))
        self.argvs[name] = list(argv)
        return proc

    def process(self, name: str) -> subprocess.Popen:
        """The current process of the child called ``name``."""
        for child, proc in self.children:
            if child == name:
                return proc
        raise KeyError(f"no child called {name!r}; children: {[n for n, _ in self.children]}")

    def kill(self, name: str, sig: int = signal.SIGKILL, timeout: float = 30.0) -> int:
        """Send ``sig`` to the child process itself (not its group, as a crash of that one process
        would) and, for SIGKILL, wait until it is gone; returns its pid. :meth:`check` reports it
        as exited until :meth:`restart` replaces it."""
        proc = self.process(name)
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
        if sig == signal.SIGKILL:
            proc.wait(timeout)
        return proc.pid

    def restart(self, name: str, timeout: float = 10.0) -> subprocess.Popen:
        """Start the child called ``name`` again with the command line it was started with, after
        stopping its current process if that still runs."""
        old = self.process(name)
        if old.poll() is None:
            _signal_group(old, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                old.wait(timeout)
            _signal_group(old, signal.SIGKILL)
            old.wait(timeout)
        self.children = [(n, p) for n, p in self.children if p is not old]
        self.retired.append(old)
        return self.start(name, self.argvs[name])

    def log_tail(self, name: str, chars: int = 2000) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    def check(self) -> None:
        for name, proc in self.children:
            if proc.poll() is not None:
                tail = self.log_tail(name)
                raise RuntimeError(f"{name} exited with {proc.returncode}; last log lines:\n{tail}")

    def stop_all(self, timeout: float = 10.0) -> None:
        procs = [proc for _, proc in reversed(self.children)] + self.retired
        for proc in procs:
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in procs:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            _signal_group(proc, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(2)
        self.children.clear()
        self.retired.clear()


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@contextmanager
def signals_raise() -> Iterator[None]:
    """Turn SIGTERM/SIGHUP into KeyboardInterrupt so ``finally`` blocks run on ``kill``."""

    def _raise(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGTERM, signal.SIGHUP)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
