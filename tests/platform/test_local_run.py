"""``talent local run`` end to end: the real daemon, gRPC code servers and embedded Postgres.

One landing folder of hand-written records from many professions (plus one file of bad input)
goes through the whole platform; then the same state is run again unchanged, then with one
candidate edited. Each run must leave no process behind.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from talent_platform.testing import processes_under

pytestmark = pytest.mark.platform

REPO = Path(__file__).resolve().parents[2]
PROFESSIONS = REPO / "tests" / "data" / "professions"
TALENT = str(Path(sys.executable).parent / "talent")
BAD_LINES = [
    '{"id": "cand-broken", "name": ',
    json.dumps({"id": "cand-noresume", "name": "No Resume"}),
    json.dumps({"id": "cand bad id", "name": "X", "resume_text": "y"}),
]


def _run(landing: Path, state: Path, timeout: float = 600) -> tuple[int, dict]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALENT_")}
    proc = subprocess.run(
        [TALENT, "local", "run", "--landing", str(landing), "--state", str(state), "--json", "--timeout", str(timeout)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout + 120,
    )
    assert processes_under(state) == [], "processes outlived talent local run"
    try:
        return proc.returncode, json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"no JSON summary (exit {proc.returncode}):\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")


@pytest.fixture(scope="module")
def platform_runs() -> Iterator[dict]:
    base = Path(tempfile.mkdtemp(prefix="talent-platform-"))
    base.chmod(0o755)
    try:
        yield _three_runs(base)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _three_runs(base: Path) -> dict:
    landing, state = base / "landing", base / "state"
    shutil.copytree(PROFESSIONS / "landing", landing)
    (landing / "candidates" / "bad.jsonl").write_text("\n".join(BAD_LINES) + "\n")
    runs: dict = {"landing": landing, "state": state}
    runs["first"] = _run(landing, state)
    runs["second"] = _run(landing, state)
    people = landing / "candidates" / "people.jsonl"
    lines = people.read_text().splitlines()
    edited = json.loads(lines[0])
    edited["resume_text"] += " Recently led a migration to Go."
    lines[0] = json.dumps(edited)
    time.sleep(0.01)
    people.write_text("\n".join(lines) + "\n")
    runs["edited_id"] = edited["id"]
    runs["third"] = _run(landing, state)
    return runs


def test_first_run_processes_everything(platform_runs) -> None:
    code, summary = platform_runs["first"]
    assert code == 0 and summary["idle"], summary["reason"]
    assert summary["records"] == {"candidate": {"accepted": 16, "rejected": 3}, "job": {"accepted": 13, "rejected": 0}}
    assert summary["runs"]["failure"] == 0 and summary["runs"]["success"] >= 3
    done = summary["processed"]
    assert (done["normalized_candidates"], done["candidate_vectors"]) == (16, 16)
    assert (done["normalized_jobs"], done["job_vectors"]) == (13, 13)
    m = summary["materializations"]  # one batch per entity: records are rows, not partitions
    assert (m["raw_candidates"], m["normalized_candidates"], m["candidate_vectors"]) == (1, 1, 1)
    assert m["matches"] >= 1
    expected = json.loads((PROFESSIONS / "expected.json").read_text())
    expected.pop("_about")
    assert set(summary["matches"]) == set(expected)
    hits = sum(expected[c] in [m["job_id"] for m in summary["matches"][c][:3]] for c in expected)
    assert hits >= 0.75 * len(expected)


def test_bad_input_is_reported_and_good_records_beside_it_pass(platform_runs) -> None:
    _, summary = platform_runs["first"]
    rejected = {(r["source"], r["line"]): r["reason"] for r in summary["rejected"]}
    assert rejected[("candidates/bad.jsonl", 1)].startswith("json: ")
    assert rejected[("candidates/bad.jsonl", 2)] == "resume_text: Field required"
    assert rejected[("candidates/bad.jsonl", 3)].startswith("id: String should match pattern")


def test_asset_graph_has_the_cross_location_edges(platform_runs) -> None:
    graph = platform_runs["first"][1]["asset_graph"]
    assert set(graph["matches"]["deps"]) == {"candidate_vectors", "job_vectors"}
    assert graph["matches"]["locations"] == ["matching"]
    assert "candidates" in graph["candidate_vectors"]["locations"] and "jobs" in graph["job_vectors"]["locations"]


def test_second_run_on_unchanged_input_materializes_nothing(platform_runs) -> None:
    code, summary = platform_runs["second"]
    assert code == 0 and summary["idle"]
    assert sum(summary["materializations"].values()) == 0
    assert summary["processed"] == {}
    assert summary["runs"] == {"success": 0, "failure": 0}


def test_one_edited_candidate_reruns_exactly_its_assets_and_matches(platform_runs) -> None:
    code, summary = platform_runs["third"]
    assert code == 0 and summary["idle"]
    assert summary["processed"] == {"normalized_candidates": 1, "candidate_vectors": 1}
    m = summary["materializations"]
    assert (m["raw_candidates"], m["normalized_candidates"], m["candidate_vectors"]) == (1, 1, 1)  # its batch
    assert (m["raw_jobs"], m["normalized_jobs"], m["job_vectors"]) == (0, 0, 0)
    assert m["matches"] == 1
    assert summary["records"]["candidate"]["accepted"] == 1


def test_a_timed_out_run_stops_everything(state_dir: Path) -> None:
    landing = state_dir / "landing"
    shutil.copytree(PROFESSIONS / "landing", landing)
    code, summary = _run(landing, state_dir / "state", timeout=3)
    assert code != 0 and not summary["idle"] and summary["reason"].startswith("timed out")
