"""The end-to-end on a kind cluster, as pytest: `make e2e` (`python tests/e2e/kind.py run
[pytest options]`). Marked `cluster`, so `make test` leaves it out.

What the harness's plan (tests/e2e/harness.py) calls setup and deploy are one session fixture, run
in the plan's order: the cluster, the images, namespaces, Secrets, Postgres, the platform and the
three team releases. Each check after them is one test, in the plan's order, so a failing check
does not hide the ones after it. The first failure is diagnosed and dumped into .e2e-artifacts/;
summary.json is written and the cluster deleted at the end in every case, Ctrl-C and SIGTERM
included.

    --keep-cluster    leave the cluster up (tests/e2e/kind/kind.sh down removes it)
    --reuse-cluster   run against the cluster an earlier --keep-cluster left, with the Secrets it
                      holds (creating it when there is none), and keep it: for working on one
                      check, e.g. `make e2e E2E_ARGS="--reuse-cluster -k webhook"`
"""

from __future__ import annotations

import shutil
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import E2E, E2E_FACTORY, KindCluster, interrupted

pytestmark = pytest.mark.cluster


def _plan() -> list[tuple[str, str]]:
    e2e = E2E(KindCluster(), pg_password="(plan)")
    try:
        return [(s.name, s.phase) for s in e2e.plan()]
    finally:
        shutil.rmtree(e2e.workdir, ignore_errors=True)


PLAN = _plan()
SETUP = [name for name, phase in PLAN if phase in ("setup", "deploy")]
CHECKS = [name for name, phase in PLAN if phase not in ("setup", "deploy")]


@pytest.fixture(scope="session")
def run(request: pytest.FixtureRequest) -> Iterator[E2E]:
    # SIGTERM (CI's timeout, a killed make) unwinds like Ctrl-C, through this fixture's teardown;
    # so does SIGINT where a shell that started the run in the background left it ignored.
    previous = {sig: signal.signal(sig, interrupted) for sig in (signal.SIGTERM, signal.SIGINT)}
    factory = request.config.stash.get(E2E_FACTORY, None) or (lambda: E2E(KindCluster()))
    e2e = factory()
    reuse = request.config.getoption("--reuse-cluster", False)
    keep = reuse or request.config.getoption("--keep-cluster", False)
    e2e.begin()
    try:
        yield e2e
    finally:
        e2e.finish(keep=keep)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    # A check's failure is its test's; a cluster that did not come down clean fails the run too.
    down = [f for f in e2e.summary.get("failures", []) if f["step"] == "cluster down"]
    assert not down, f"the cluster did not come down clean: {down[0]['error']}"


@pytest.fixture(scope="session")
def deployed(run: E2E, request: pytest.FixtureRequest) -> E2E:
    reuse = request.config.getoption("--reuse-cluster", False)
    for name in SETUP:
        try:
            if reuse and name == "cluster up" and run.cluster.exists():
                run.cluster.adopt()
                print(f"==> cluster up: reusing {run.cluster.name}", flush=True)
                continue
            if reuse and name == "secrets" and run.adopt_secrets():
                print("==> secrets: the kept cluster's", flush=True)
                continue
            run.run_step(run.step(name))
        except BaseException as exc:
            run.failed(name, exc)
            raise
    return run


@pytest.mark.parametrize("check", CHECKS)
def test_check(deployed: E2E, check: str) -> None:
    deployed.run_step(deployed.step(check))
