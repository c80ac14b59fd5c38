"""The end-to-end's pytest options and its failure hook (tests/e2e/test_e2e.py)."""

from __future__ import annotations

from collections.abc import Generator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("talent e2e")
    group.addoption("--keep-cluster", action="store_true", help="leave the kind cluster up after the run")
    group.addoption(
        "--reuse-cluster",
        action="store_true",
        help="run against the cluster an earlier --keep-cluster left (created when there is none), and keep it",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    """A failed check goes to the run (the `deployed` fixture's E2E): the first failure is diagnosed
    and dumped while the cluster is as it left it, and the run's summary lists every failure."""
    report = yield
    run = getattr(item, "funcargs", {}).get("deployed")
    if run is not None and call.when == "call" and call.excinfo is not None:
        run.failed(item.callspec.params.get("check", item.name), call.excinfo.value)  # type: ignore[attr-defined]
    return report
