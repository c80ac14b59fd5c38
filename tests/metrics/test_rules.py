"""The alert rules: valid for promtool, and their unit tests (rules_test.yaml) pass."""

from __future__ import annotations

import subprocess
from pathlib import Path


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_rules_are_valid(promtool: str, paths: dict[str, Path]) -> None:
    result = run(promtool, "check", "rules", str(paths["rules"]))
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass(promtool: str, paths: dict[str, Path]) -> None:
    result = run(promtool, "test", "rules", str(paths["rules_test"]))
    assert result.returncode == 0, result.stdout + result.stderr
