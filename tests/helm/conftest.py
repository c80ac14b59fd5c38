"""Fixtures of the chart tests: the helm binary and the render helpers (tests/helm/render.py)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest


def load_render() -> ModuleType:
    """tests/helm/render.py, imported by path (no package needed under --import-mode=importlib)."""
    path = Path(__file__).with_name("render.py")
    name = "talent_helm_render"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="session")
def render() -> ModuleType:
    """The render helpers; fails under CI and skips elsewhere when helm is missing."""
    module = load_render()
    if module.find_helm() is None:
        message = "helm not found at .tools/bin/helm or on PATH: run `make tools`"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return module
