"""``dagster api grpc`` whose run workers are forked from a preloaded process instead of spawned.

Dagster's code server starts every run in a fresh interpreter (``multiprocessing`` "spawn"): the
new process imports dagster, dagster-postgres, SQLAlchemy and the location's definitions again
before it writes its first event. On the 2-core machine that is ~3 s quiet and 10-18 s under load,
paid twice for every record (its pipeline run, then the matching run), and it was most of a
record's time from landing to matched (benchmarks/README.md, "Orchestration").

Here the server keeps one ``forkserver`` process that has imported all of that once (the
standard library's ``set_forkserver_preload``) and forks each run worker from it: a run starts in
milliseconds plus its own work. The forkserver is a clean single-threaded process, so forking it
is safe where forking the multi-threaded gRPC server would not be; it exits with the server (it
reads from a pipe the server holds), and it stays in the server's process group, so the local
Supervisor's ``stop_all`` reaches it and its run workers.

Local platform only: on Kubernetes every run is its own pod (``K8sRunLauncher``). The one hook
into Dagster is the server's ``_mp_ctx`` attribute (dagster 1.13, ``dagster/_grpc/server.py``);
``tooling/tests/test_code_server.py`` fails if a Dagster upgrade moves it.
"""

from __future__ import annotations

import multiprocessing
import sys
import threading
from collections.abc import Sequence

# What a run worker imports before its first event (Dagster, its Postgres storage; the location's
# module is added from argv), then what the steps import when they run (measured with
# ``python -X importtime``: onnxruntime ~1-2.6 s, the vectors and cross-join modules ~0.6 s each).
# Imports only: nothing that starts threads (an onnxruntime session) may be created before a fork.
# A module the forkserver cannot import is skipped by the standard library, not an error.
PRELOAD = [
    "dagster",
    "dagster_postgres",
    "talent_shared.pipeline",
    "talent_shared.llm.client",
    "talent_shared.profiles",
    "talent_shared.vectors",
    "talent_shared.providers.minilm",
    "onnxruntime",
    "talent_matching.crossjoin",
    "talent_platform.local.warm",
]


def forkserver_context(module: str | None) -> multiprocessing.context.BaseContext:
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload([*PRELOAD, *([module] if module else [])])  # type: ignore[attr-defined]
    return ctx


def use_forkserver(ctx: multiprocessing.context.BaseContext) -> None:
    """Every ``DagsterApiServer`` built from now on starts its runs from ``ctx``."""
    from talent_platform.local.dagster_internals import get

    server = get("DagsterApiServer")
    original = server.__init__
    if getattr(original, "_talent_forkserver", False):
        return

    def __init__(self, *args, **kwargs) -> None:
        original(self, *args, **kwargs)
        if not hasattr(self, "_mp_ctx"):
            raise RuntimeError("dagster's DagsterApiServer has no _mp_ctx: see talent_platform.local.code_server")
        self._mp_ctx = ctx

    __init__._talent_forkserver = True  # type: ignore[attr-defined]
    server.__init__ = __init__


def _module(argv: Sequence[str]) -> str | None:
    for flag in ("-m", "--module-name"):
        if flag in argv and argv.index(flag) + 1 < len(argv):
            return argv[argv.index(flag) + 1]
    return None


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m talent_platform.local.code_server <dagster api grpc arguments>``."""
    from multiprocessing import forkserver

    args = list(sys.argv[1:] if argv is None else argv)
    use_forkserver(forkserver_context(_module(args)))
    # start (and preload) the forkserver while the server loads, not when the first run arrives
    threading.Thread(target=forkserver.ensure_running, daemon=True).start()
    from talent_platform.local.dagster_internals import get

    dagster_main = get("dagster_cli")

    sys.argv = ["dagster", "api", "grpc", *args]
    dagster_main()


if __name__ == "__main__":
    main()
