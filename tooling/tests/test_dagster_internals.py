"""Every private Dagster name the local platform uses resolves, and is what the platform expects of
it: an upgrade that moves, renames or reshapes one fails here (the adapter is
``talent_platform.local.dagster_internals``; no other module of ours imports ``dagster._``)."""

from __future__ import annotations

import importlib
import inspect
from pathlib import Path

import dagster as dg
import pytest

from talent_platform.local import dagster_internals as di


@pytest.mark.parametrize("name", sorted(di.NAMES))
def test_each_private_name_resolves(name: str) -> None:
    assert di.get(name) is not None


def test_each_is_what_its_user_expects() -> None:
    assert "_mp_ctx" in inspect.getsource(di.get("DagsterApiServer").__init__)  # the forkserver hook
    assert callable(getattr(di.get("DagsterGrpcClient"), "ping", None))  # platform waits on ping
    assert callable(di.get("dagster_cli")) and callable(di.get("daemon_cli"))
    assert {"REQUESTED", "CANCELING"} <= set(di.get("BulkActionStatus").__members__)
    assert {"STARTED", "SKIPPED"} <= set(di.get("TickStatus").__members__)
    assert di.get("BulkActionsFilter")(
        statuses=[di.get("BulkActionStatus").REQUESTED]
    ).statuses  # the watcher builds it so
    # the local run launcher's health check (talent_platform.local.launcher)
    assert {"RUNNING", "FAILED"} <= set(di.get("WorkerStatus").__members__)
    assert di.get("CheckRunHealthResult")(di.get("WorkerStatus").RUNNING).status.name == "RUNNING"
    assert di.get("CanCancelExecutionRequest")(run_id="r").run_id == "r"
    assert di.get("CanCancelExecutionResult")(can_cancel=False).can_cancel is False
    assert callable(getattr(di.get("DagsterGrpcClient"), "can_cancel_execution", None))
    launcher = inspect.signature(dg.DefaultRunLauncher._get_grpc_client_for_termination)  # a private method
    assert list(launcher.parameters) == ["self", "run_id"]
    assert not dg.DefaultRunLauncher().supports_check_run_worker_health  # why the local launcher exists
    for module, name in di.DAEMON_LOOP_CONSTANTS:
        assert isinstance(getattr(importlib.import_module(module), name), int | float), (module, name)


def test_no_other_module_of_ours_imports_dagster_private_modules() -> None:
    root = Path(__file__).resolve().parents[2]
    sources = [*(root / "tooling" / "src").rglob("*.py"), *(root / "code_locations").glob("*/src/**/*.py")]
    assert any(p.name == "dagster_internals.py" for p in sources), "the adapter is among the files read"
    sources += (root / "shared_lib" / "src").rglob("*.py")
    offenders = sorted(
        str(p.relative_to(root))
        for p in sources
        if p.name != "dagster_internals.py"
        and any(
            line.lstrip().startswith(("from dagster._", "import dagster._"))
            for line in p.read_text(encoding="utf-8").splitlines()
        )
    )
    assert offenders == []
