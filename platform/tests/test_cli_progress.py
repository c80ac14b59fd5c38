"""Progress of the long ``talent`` commands as a user sees it: drawn live at a terminal (a real
pseudo-terminal, not a reading of the code), plain lines in a log, never on stdout."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

from talent_platform.progress import Progress
from talent_platform.testing import in_terminal

TALENT = str(Path(sys.executable).parent / "talent")
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
