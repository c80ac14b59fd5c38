"""Step logs where users read them: on the local platform a step's stdout is captured by Dagster's
LocalComputeLogManager and served by the webserver's GraphQL API, the text the step printed
(``talent_shared.pipeline.metered_step`` prints a summary line per step)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from talent_platform.testing import free_port

pytestmark = pytest.mark.platform

REPO = Path(__file__).resolve().parents[2]

RUNS = """
query Runs { runsOrError(filter: {statuses: [SUCCESS]}) { ... on Runs { results { runId } } } }
"""
CAPTURED = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId, limit: 1000) {
    ... on EventConnection { events { __typename ... on LogsCapturedEvent { fileKey stepKeys } } }
  }
}
"""
READ = """
query Read($logKey: [String!]!) { capturedLogs(logKey: $logKey) { stdout stderr } }
"""


def _graphql(url: str, query: str, variables: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query, "variables": variables or {}}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        body = json.loads(response.read())
    assert "errors" not in body, body
    return body["data"]


def test_a_steps_stdout_is_read_back_through_graphql(state_dir: Path) -> None:
    from talent_platform.local.platform import running_platform

    landing = REPO / "tests" / "data" / "professions" / "landing"
    with running_platform(state_dir, str(landing), webserver_port=free_port()) as platform:
        instance = platform.instance()
        assert type(instance.compute_log_manager).__name__ == "LocalComputeLogManager"
        url = platform.webserver_url
        assert url is not None
        deadline = time.monotonic() + 600
        printed: dict[str, str] = {}
        while time.monotonic() < deadline and not printed:
            platform.supervisor.check()
            try:
                runs = _graphql(url, RUNS)["runsOrError"]["results"]
            except OSError:  # the webserver is still starting
                runs = []
            for run in runs:
                events = _graphql(url, CAPTURED, {"runId": run["runId"]})["logsForRun"]["events"]
                for event in events:
                    if event["__typename"] != "LogsCapturedEvent":
                        continue
                    logs = _graphql(url, READ, {"logKey": [run["runId"], "compute_logs", event["fileKey"]]})
                    stdout = logs["capturedLogs"]["stdout"] or ""
                    if "normalized_candidates:" in stdout:
                        printed[run["runId"]] = stdout
            time.sleep(2)
    assert printed, "no step's stdout with the normalized_candidates summary came back through GraphQL"
    (stdout,) = list(printed.values())[:1]
    line = next(line for line in stdout.splitlines() if line.startswith("normalized_candidates:"))
    assert "records" in line and "LLM calls" in line and "run cost $" in line
