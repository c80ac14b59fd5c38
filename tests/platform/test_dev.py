"""``talent dev`` (what ``make dev`` runs): the UI serves three code locations and the global
asset graph with the cross-location edges; Ctrl-C stops every process, the database included."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from talent_platform.testing import free_port, processes_under

pytestmark = pytest.mark.platform

TALENT = str(Path(sys.executable).parent / "talent")
QUERY = """
{
  workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError { __typename } } } }
  assetNodes { assetKey { path } dependencyKeys { path } }
}
"""


def _graphql(port: int) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


def test_dev_serves_the_ui_with_three_locations_and_stops_cleanly(state_dir: Path) -> None:
    tmp_path = state_dir
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALENT_")}
    env["TALENT_HOME"] = str(tmp_path)
    proc = subprocess.Popen(
        [TALENT, "dev", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        # SIGINT ignored, as in a background job of a non-interactive shell: Ctrl-C must still stop it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        deadline = time.monotonic() + 240
        data = None
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                data = _graphql(port)
                entries = data["workspaceOrError"]["locationEntries"]
                if len(entries) == 3 and all(
                    e["locationOrLoadError"]["__typename"] == "RepositoryLocation" for e in entries
                ):
                    break
            except (OSError, KeyError, TypeError):
                pass
            time.sleep(1)
        assert data is not None
        assert sorted(e["name"] for e in data["workspaceOrError"]["locationEntries"]) == [
            "candidates",
            "jobs",
            "matching",
        ]
        edges = {
            ("/".join(dep["path"]), "/".join(node["assetKey"]["path"]))
            for node in data["assetNodes"]
            for dep in node["dependencyKeys"]
        }
        assert {("candidate_vectors", "matches"), ("job_vectors", "matches")} <= edges
        assert any((tmp_path / "landing" / "candidates").glob("*.jsonl")), "demo records were seeded"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, "talent dev did not stop on SIGINT within 60 s"
    time.sleep(0.5)
    assert processes_under(tmp_path) == []
