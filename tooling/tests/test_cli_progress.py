"""Progress of the long ``talent`` commands as a user sees it: drawn live at a terminal (a real
pseudo-terminal, not a reading of the code), plain lines in a log, never on stdout."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from talent_platform.progress import Progress
from talent_platform.testing import free_port, in_terminal, processes_under

TALENT = str(Path(sys.executable).parent / "talent")
PROFESSIONS = Path(__file__).resolve().parents[2] / "tests" / "data" / "professions"
CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def test_seed_draws_its_progress_at_a_terminal(tmp_path: Path) -> None:
    code, screen, _ = in_terminal(
        [TALENT, "seed", "--out", str(tmp_path), "--candidates", "2500", "--jobs", "7"], dict(os.environ)
    )
    assert code == 0, screen
    assert "\x1b[?25l" in screen and "\x1b[?25h" in screen  # a live display: cursor hidden, then back
    shown = CONTROL.sub("", screen)
    assert re.search(r"✓ generating\s.*2507/2507 records", shown), shown
    assert re.search(r"✓ writing files\s.*2507/2507 records", shown), shown
    assert shown.rstrip().endswith(f"wrote 2500 candidates and 7 jobs in 11 files under {tmp_path}")


def test_seed_progress_in_a_log_is_plain_lines_on_stderr(tmp_path: Path) -> None:
    done = subprocess.run(
        [TALENT, "seed", "--out", str(tmp_path), "--candidates", "2500", "--jobs", "7"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"wrote 2500 candidates and 7 jobs in 11 files under {tmp_path}\n"
    lines = done.stderr.splitlines()
    assert any(re.fullmatch(r"generating: 2507/2507 records \(\d+\.\ds\)", line) for line in lines), lines
    assert any(re.fullmatch(r"writing files: 2507/2507 records \(\d+\.\ds\)", line) for line in lines), lines
    assert "\x1b" not in done.stderr


def test_a_log_gets_a_line_per_interval_not_per_record() -> None:
    stream = io.StringIO()
    with Progress(stream=stream, interval=3600) as progress:
        task = progress.task("pricing", 10_000, "assets")
        for _ in range(10_000):
            task.advance()
        task.close()
        status = progress.status("records")
        status.update("landed 1")
        status.update("landed 2")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 3, lines  # the task's end, the status's first and its last text
    assert lines[0].startswith("pricing: 10000/10000 assets (")
    assert lines[1:] == ["records: landed 1", "records: landed 2"]


def test_a_failed_step_says_so() -> None:
    stream = io.StringIO()
    try:
        with Progress(stream=stream) as progress, progress.step("starting the daemon"):
            raise RuntimeError("daemon exited")
    except RuntimeError:
        pass
    lines = stream.getvalue().splitlines()
    assert lines[0] == "starting the daemon ..."
    assert re.fullmatch(r"starting the daemon: failed after \d+\.\ds", lines[1]), lines


def _env(state: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TALENT_", "DAGSTER_"))}
    env["TALENT_HOME"] = str(state)
    return env


@pytest.mark.platform
def test_local_run_shows_what_starts_then_records_landed_processed_and_matched(state_dir: Path) -> None:
    """The whole platform, at a terminal, with ``--json`` piped: the terminal shows each part
    starting and the records' counts as they go, stdout only the summary."""
    landing, state = state_dir / "landing", state_dir / "state"
    shutil.copytree(PROFESSIONS / "landing", landing)
    (landing / "candidates" / "bad.jsonl").write_text('{"id": "cand-broken", "name": \n')
    argv = [TALENT, "local", "run", "--landing", str(landing), "--state", str(state), "--json", "--timeout", "600"]
    code, screen, out = in_terminal(argv, _env(state), timeout=720, columns=120, stdout_pipe=True)
    assert processes_under(state) == []
    summary = json.loads(out)
    assert code == 0 and summary["idle"], screen
    assert "\x1b[?25l" in screen
    shown = CONTROL.sub("", screen)
    for part in ("starting PostgreSQL", "applying database migrations", "starting the daemon"):
        assert re.search(rf"✓ {part}\b", shown), (part, shown)
    for location in ("candidates", "jobs", "matching"):
        assert re.search(rf"✓ code location {location}\s+serving on port \d+", shown), shown
    # the last frame: every count at its end, the same as the summary's
    assert re.search(r"✓ landed\s+16 candidates, 13 jobs \(1 rejected\)", shown), shown
    assert re.search(r"✓ processed\s+normalized 29/29, embedded 29/29", shown), shown
    assert re.search(r"✓ matched\s+16 candidates", shown), shown
    assert re.search(r"✓ platform\s+idle", shown), shown
    # and earlier frames while it worked: records landed before they were all processed
    assert re.search(r"processed\s+normalized ([0-9]|1[0-9]|2[0-8])/\d+,", shown), shown
    assert summary["records"]["candidate"] == {"accepted": 16, "rejected": 1}


@pytest.mark.platform
def test_dev_says_what_starts_and_when_the_ui_answers(state_dir: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"

    def ui_ready(screen: str) -> bool:
        if "Ctrl-C stops everything" not in screen:
            return False
        # "ready" must mean it: the UI answers once the terminal said so
        with urllib.request.urlopen(f"{url}/server_info", timeout=10) as response:
            assert response.status == 200
        return True

    code, screen, _ = in_terminal(
        [TALENT, "dev", "--port", str(port)], _env(state_dir), timeout=400, columns=120, interrupt_when=ui_ready
    )
    assert code == 0, screen
    assert processes_under(state_dir) == []
    shown = CONTROL.sub("", screen)
    assert re.search(rf"✓ seeding demo records into {re.escape(str(state_dir / 'landing'))}", shown), shown
    for part in ("starting PostgreSQL", "code location matching", "starting the daemon", "reading the workspace"):
        assert re.search(rf"✓ {part}\b", shown), (part, shown)
    assert re.search(rf"✓ starting the Dagster UI\s+ready at {re.escape(url)}", shown), shown
    after = shown[shown.rindex(f"ready at {url}") :]
    assert f"Dagster UI: {url}" in after and "locations: candidates, jobs, matching" in after
    assert shown.rstrip().endswith("stopped")
