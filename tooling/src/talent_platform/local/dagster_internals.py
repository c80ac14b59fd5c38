"""Every name the local platform takes from Dagster's private modules (``dagster._...``), in one
place. Each is imported when first used (the code server and daemon entry points must not pay for
the others), and ``tooling/tests/test_dagster_internals.py`` resolves every one of them, so an
upgrade that moves or renames one fails there, not in a running platform.

What each is for: the code server's forkserver hook (``DagsterApiServer``), the daemon's loop
constants, the gRPC client that checks a code server answers, the CLI entry points the local
processes wrap, and what the idle watcher reads (ticks, backfills, the workspace)."""

from __future__ import annotations

import importlib
from typing import Any

# module constants the local daemon shortens (talent_platform.local.daemon)
DAEMON_LOOP_CONSTANTS = (
    ("dagster._daemon.sensor", "MIN_INTERVAL_LOOP_TIME"),
    ("dagster._daemon.asset_daemon", "MIN_INTERVAL_LOOP_SECONDS"),
)

# name -> (module, attribute)
NAMES: dict[str, tuple[str, str]] = {
    "DagsterApiServer": ("dagster._grpc.server", "DagsterApiServer"),
    "DagsterGrpcClient": ("dagster._grpc.client", "DagsterGrpcClient"),
    "dagster_cli": ("dagster._cli", "main"),
    "daemon_cli": ("dagster._daemon.cli", "main"),
    "BulkActionsFilter": ("dagster._core.execution.backfill", "BulkActionsFilter"),
    "BulkActionStatus": ("dagster._core.execution.backfill", "BulkActionStatus"),
    "TickStatus": ("dagster._core.scheduler.instigation", "TickStatus"),
    "WorkspaceProcessContext": ("dagster._core.workspace.context", "WorkspaceProcessContext"),
    "WorkspaceFileTarget": ("dagster._core.workspace.load_target", "WorkspaceFileTarget"),
    # the local run launcher's worker health check (talent_platform.local.launcher)
    "CheckRunHealthResult": ("dagster._core.launcher.base", "CheckRunHealthResult"),
    "WorkerStatus": ("dagster._core.launcher.base", "WorkerStatus"),
    "CanCancelExecutionRequest": ("dagster._grpc.types", "CanCancelExecutionRequest"),
    "CanCancelExecutionResult": ("dagster._grpc.types", "CanCancelExecutionResult"),
}


def get(name: str) -> Any:
    """The private object ``name`` stands for (see ``NAMES``)."""
    module, attribute = NAMES[name]
    return getattr(importlib.import_module(module), attribute)


def set_daemon_loop_seconds(seconds: float) -> None:
    for module_name, name in DAEMON_LOOP_CONSTANTS:
        module = importlib.import_module(module_name)
        if not hasattr(module, name):
            raise RuntimeError(f"{module_name}.{name} is gone: see talent_platform.local.dagster_internals")
        setattr(module, name, seconds)
