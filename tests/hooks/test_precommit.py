"""The git hooks are the checks CI runs: `make lint` is `pre-commit run --all-files`, so a hook that
stops catching what it names, or one of the checks issue 20 lists going missing, is a lint gap."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / ".pre-commit-config.yaml"
PRE_COMMIT = REPO / ".venv" / "bin" / "pre-commit"
# a hook for each check the project's habits name
EXPECTED = {"ruff-check", "ruff-format", "mypy", "import-contracts", "shellcheck", "helm-lint", "tofu-fmt"}


def _run(*args: str, home: Path) -> subprocess.CompletedProcess:
    if not PRE_COMMIT.exists():
        pytest.fail(f"{PRE_COMMIT} missing: `make setup` installs pre-commit from requirements-dev.txt")
    if shutil.which("git") is None:
        pytest.fail("git is needed to run the hooks")
    env = dict(os.environ, PRE_COMMIT_HOME=str(home))
    return subprocess.run(
        [str(PRE_COMMIT), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False
    )


def _hooks() -> dict[str, dict]:
    doc = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    return {h["id"]: h for repo in doc["repos"] for h in repo["hooks"]}


def test_config_is_valid(tmp_path: Path) -> None:
    result = _run("validate-config", str(CONFIG), home=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_check_has_a_hook_and_every_hook_runs_a_pinned_tool() -> None:
    hooks = _hooks()
    assert set(hooks) >= EXPECTED, f"missing hooks: {EXPECTED - set(hooks)}"
    doc = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert [r["repo"] for r in doc["repos"]] == ["local"], "hooks run the Makefile's pinned tools, fetch nothing"
    for hook_id, hook in hooks.items():
        assert hook["language"] == "system", hook_id
        assert ".venv/bin/" in hook["entry"] or ".tools/bin/" in hook["entry"], hook_id


def test_make_lint_runs_the_hooks() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "pre-commit run --all-files" in recipe


@pytest.mark.parametrize(
    ("hook", "name", "text"),
    [
        ("shellcheck", "bad.sh", "#!/bin/bash\necho $1\n"),
        ("tofu-fmt", "bad.tf", 'resource "null_resource" "x" {\ntriggers={a=1}\n}\n'),
        ("ruff-format", "bad.py", "x = [1,2 ,3]\n"),
        ("ruff-check", "bad.py", "import os\n"),
    ],
)
def test_a_hook_fails_on_what_it_checks(tmp_path: Path, hook: str, name: str, text: str) -> None:
    bad = tmp_path / "src" / name
    bad.parent.mkdir()
    bad.write_text(text, encoding="utf-8")
    failed = _run("run", hook, "--files", str(bad), home=tmp_path / "home")
    assert failed.returncode != 0, f"{hook} passed {name}:\n{failed.stdout}"
    good = _run("run", hook, "--files", str(REPO / "Makefile"), home=tmp_path / "home")  # no file of its type
    assert good.returncode == 0, good.stdout + good.stderr


def test_the_repository_passes_the_file_hooks(tmp_path: Path) -> None:
    """shellcheck, helm lint and tofu fmt over every tracked file (ruff and mypy: `make lint`)."""
    for hook in ("shellcheck", "helm-lint", "tofu-fmt"):
        result = _run("run", hook, "--all-files", home=tmp_path)
        assert result.returncode == 0, f"{hook}:\n{result.stdout}{result.stderr}"
