"""Fixtures of the Kubernetes tests: the render helpers of tests/helm/render.py, loaded by path."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest


def load_render() -> ModuleType:
    """tests/helm/render.py, imported by path (no package needed under --import-mode=importlib)."""
    path = Path(__file__).resolve().parents[1] / "helm" / "render.py"
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


@pytest.fixture(scope="session")
def k8s_validate(render):
    """Validates one manifest (camelCase dict) against the Kubernetes 1.32 schemas (strict)."""
    import kubernetes_validate

    def validate(body) -> None:
        kubernetes_validate.validate(body, render.K8S_SCHEMA_VERSION, strict=True)

    return validate
