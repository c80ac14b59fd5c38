"""External linters: checkov (security policy) and OpenTofu's formatter.

Both tools are looked up in fixed places so the suite behaves the same on every machine:
checkov and tofu in <repo>/.tools/bin (``make tools`` puts them there). A missing tool fails
the suite when CI is set and skips it (with the install command) elsewhere.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, TERRAFORM

# checkov runs from its own venv (its bc-python-hcl2 and these tests' python-hcl2 both install `hcl2`)
CHECKOV = REPO / ".tools" / "bin" / "checkov"
TOFU = REPO / ".tools" / "bin" / "tofu"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)")
    pytest.skip(reason)


def run_checkov(directory: Path) -> dict:
    if not CHECKOV.exists():
        _missing(f"checkov not found at {CHECKOV}; run `make tools`")
    result = subprocess.run(
        [
            str(CHECKOV),
            "-d",
            str(directory),
            "--framework",
            "terraform",
            "--quiet",
            "--compact",
            "-o",
            "json",
            "--download-external-modules",
            "false",
            "--skip-download",
        ],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode in (0, 1), f"checkov crashed ({result.returncode}):\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    assert len(reports) == 1 and reports[0]["check_type"] == "terraform", result.stdout[:2000]
    return reports[0]


@pytest.fixture(scope="module")
def checkov_report() -> dict:
    return run_checkov(TERRAFORM)


def test_checkov_has_no_failed_check(checkov_report: dict):
    summary = checkov_report["summary"]
    failed = [
        f"{c['check_id']} {c['resource']} ({c['file_path']}): {c['check_name']}"
        for c in checkov_report["results"].get("failed_checks", [])
    ]
    assert summary["parsing_errors"] == 0
    assert failed == [] and summary["failed"] == 0, "\n".join(failed)


def test_checkov_actually_scanned_the_tree(checkov_report: dict):
    summary = checkov_report["summary"]
    assert summary["resource_count"] >= 20
    assert summary["passed"] >= 50


def test_checkov_reports_an_insecure_resource(tmp_path: Path):
    """The harness sees failures: a mutable, unscanned, unencrypted repository must fail."""
    (tmp_path / "main.tf").write_text(
        'resource "aws_ecr_repository" "bad" {\n  name                 = "bad"\n  image_tag_mutability = "MUTABLE"\n}\n'
    )
    report = run_checkov(tmp_path)
    failed_ids = {c["check_id"] for c in report["results"]["failed_checks"]}
    assert {"CKV_AWS_51", "CKV_AWS_163"} <= failed_ids


def _tofu(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    if not TOFU.exists():
        _missing(f"OpenTofu not built at {TOFU}; see terraform/README.md (make tools)")
    env = dict(os.environ, TF_CLI_CONFIG_FILE=os.devnull)
    return subprocess.run([str(TOFU), *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=120)


def test_tofu_fmt_check():
    result = _tofu("fmt", "-check", "-recursive", "-diff", "terraform")
    assert result.returncode == 0, f"tofu fmt found unformatted files:\n{result.stdout}{result.stderr}"


def test_tofu_fmt_check_detects_bad_formatting(tmp_path: Path):
    (tmp_path / "main.tf").write_text("locals {\n  a = 1\n  bb   = 2\n}\n")
    result = _tofu("fmt", "-check", "-recursive", str(tmp_path))
    assert result.returncode != 0
