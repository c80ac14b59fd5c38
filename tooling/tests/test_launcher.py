"""The local run launcher's worker health check, each of its answers against a real code server.

``tests/platform/test_faults.py`` shows run monitoring failing a run left STARTED after a crash;
this shows each branch of ``LocalRunLauncher.check_run_worker_health`` alone: a code server that
answers and holds no execution for the run says the worker is gone; one that does not answer, or
no code server at all, says nothing, so the run counts as running.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator

import dagster as dg
import pytest

from talent_platform.local.launcher import LocalRunLauncher
from talent_platform.local.platform import wait_grpc
from talent_platform.local.processes import Supervisor, free_port

# where DefaultRunLauncher keeps a run's code server address: were Dagster to rename it, the first
# case below would read "no code server to ask" and fail
GRPC_INFO_TAG = ".dagster/grpc_info"


@pytest.fixture
def instance() -> Iterator[dg.DagsterInstance]:
    launcher = {"module": "talent_platform.local.launcher", "class": "LocalRunLauncher"}
    with dg.instance_for_test(overrides={"run_launcher": launcher}) as instance:
        yield instance


@pytest.fixture(scope="module")
def code_server(tmp_path_factory) -> Iterator[int]:
    """``dagster api grpc`` serving an empty Definitions; stopped after the module's tests."""
    work = tmp_path_factory.mktemp("code")
    (work / "defs.py").write_text("import dagster as dg\n\ndefs = dg.Definitions()\n")
    port = free_port()
    supervisor = Supervisor(work / "logs", dict(os.environ))
    try:
        serve = ["api", "grpc", "--python-file", str(work / "defs.py"), "--host", "127.0.0.1", "--port", str(port)]
        supervisor.start("code-server", [sys.executable, "-m", "dagster", *serve])
        wait_grpc(port, supervisor, timeout=60)
        yield port
    finally:
        supervisor.stop_all()


def _started_run(instance: dg.DagsterInstance, port: int | None) -> dg.DagsterRun:
    tags = {} if port is None else {GRPC_INFO_TAG: json.dumps({"host": "127.0.0.1", "port": port})}
    run = dg.DagsterRun(job_name="matches_job", run_id=str(uuid.uuid4()), status=dg.DagsterRunStatus.STARTED, tags=tags)
    return instance.add_run(run)


def _health(instance: dg.DagsterInstance, run: dg.DagsterRun) -> tuple[str, str | None]:
    launcher = instance.run_launcher
    assert isinstance(launcher, LocalRunLauncher) and launcher.supports_check_run_worker_health
    result = launcher.check_run_worker_health(run)
    return result.status.name, result.msg


def test_a_code_server_without_the_runs_execution_means_its_worker_is_gone(instance, code_server: int) -> None:
    status, message = _health(instance, _started_run(instance, code_server))
    assert status == "FAILED" and message is not None and "no process for it" in message, message


def test_a_code_server_that_does_not_answer_says_nothing(instance) -> None:
    status, message = _health(instance, _started_run(instance, free_port()))  # nothing listens there
    assert status == "RUNNING" and message is not None and "did not answer" in message


def test_a_run_without_a_code_server_address_says_nothing(instance) -> None:
    status, message = _health(instance, _started_run(instance, None))
    assert status == "RUNNING" and message == "no code server to ask"
