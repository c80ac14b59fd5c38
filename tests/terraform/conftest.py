from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"

sys.path.insert(0, str(Path(__file__).parent))


def _tf_dirs(base: Path) -> list[Path]:
    return sorted(d for d in base.iterdir() if d.is_dir() and any(d.glob("*.tf")))


# stack/ is a module (lower-bound pins, standard files) that the roots envs/* call.
STACK = TERRAFORM / "stack"
MODULE_DIRS = [*_tf_dirs(TERRAFORM / "modules"), STACK]
ROOT_DIRS = _tf_dirs(TERRAFORM / "envs")


@pytest.fixture(scope="session")
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def terraform_dir() -> Path:
    return TERRAFORM
