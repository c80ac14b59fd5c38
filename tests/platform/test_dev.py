"""``talent dev`` (what ``make dev`` runs): the UI serves three code locations and the global
asset graph with the cross-location edges; Ctrl-C stops every process, the database included."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import psutil
import pytest

pytestmark = pytest.mark.platform

TALENT = str(Path(sys.executable).parent / "talent")
QUERY = """
{
  workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError { __typename } } } }
  assetNodes { assetKey { path } dependencyKeys { path } }
}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(port: int) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": QUERY}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["data"]


def _leftovers(home: Path) -> list[str]:
    out = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        try:
            if proc.info["status"] != psutil.STATUS_ZOMBIE and str(home) in " ".join(proc.info["cmdline"] or []):
                out.append(" ".join(proc.info["cmdline"]))
        except psutil.Error:
            pass
    return out


def test_dev_serves_the_ui_with_three_locations_and_stops_cleanly(state_dir: Path) -> None:
    tmp_path = state_dir
    port = _free_port()
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
    assert _leftovers(tmp_path) == []
