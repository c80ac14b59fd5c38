"""Render helpers for the chart tests, after dagster's ``schema/utils/helm_template.py``.

``helm template`` the chart with the given values files, parse every document with
``yaml.safe_load_all`` and index them by (kind, name). Renders are cached per argument tuple: the
suites render the same few releases many times.

Loaded by path from the conftest files of tests/helm, tests/k8s and tests/e2e (no package, so
pytest's importlib import mode works).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
HELM_DIR = REPO / "helm"
PLATFORM_CHART = HELM_DIR / "platform"
CODE_LOCATION_CHART = HELM_DIR / "code-location"
VALUES_DIR = HELM_DIR / "values"
TEAMS = ("candidates", "jobs", "matching")
NAMESPACE = "talent"
# The helm built by `make tools` (go install) carries no Kubernetes version of its own and would
# assume v1.20; every render and lint states the cluster version the charts target.
KUBE_VERSION = "1.32.0"
# The schema version kubernetes-validate checks against (it bundles 1.32).
K8S_SCHEMA_VERSION = "1.32.0"
# The API the Prometheus operator's CRDs serve (ServiceMonitor, PrometheusRule). The platform chart
# renders those objects only where the cluster serves it: production, where Terraform installs
# kube-prometheus-stack before the platform, and not kind, which has no operator.
PROMETHEUS_OPERATOR_API = "monitoring.coreos.com/v1"
PRODUCTION_API_VERSIONS = (PROMETHEUS_OPERATOR_API,)


def find_helm() -> str | None:
    """<repo>/.tools/bin/helm (built by `make tools`), else helm on $PATH."""
    local = REPO / ".tools" / "bin" / "helm"
    if local.is_file() and os.access(local, os.X_OK):
        return str(local)
    return shutil.which("helm")


class HelmError(RuntimeError):
    """`helm` exited non-zero; ``stderr`` holds its message (e.g. a `required`/`fail`)."""

    def __init__(self, args: Sequence[str], stderr: str):
        super().__init__(f"{' '.join(args)} failed:\n{stderr}")
        self.stderr = stderr


def _helm(*args: str) -> str:
    helm = find_helm()
    if helm is None:
        raise FileNotFoundError("helm not found: run `make tools` (builds .tools/bin/helm)")
    proc = subprocess.run([helm, *args], capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise HelmError([helm, *args], proc.stderr)
    return proc.stdout


def values_files(team: str, kind: bool = False) -> tuple[Path, ...]:
    """The values files a release is installed with (kind overrides layered last)."""
    base = VALUES_DIR / f"{team}.yaml"
    return (base, VALUES_DIR / "kind" / f"{team}.yaml") if kind else (base,)


@dataclass(frozen=True)
class Manifest:
    kind: str
    name: str
    body: Mapping[str, Any] = field(compare=False, hash=False)


@dataclass(frozen=True)
class Render:
    """The parsed output of one `helm template`."""

    text: str
    docs: tuple[dict[str, Any], ...]

    def all(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [d for d in self.docs if kind is None or d["kind"] == kind]

    def get(self, kind: str, name: str) -> dict[str, Any]:
        found = [d for d in self.docs if d["kind"] == kind and d["metadata"]["name"] == name]
        assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}: {self.keys()}"
        return found[0]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, found {[d['metadata']['name'] for d in found]}"
        return found[0]

    def keys(self) -> list[tuple[str, str]]:
        return [(d["kind"], d["metadata"]["name"]) for d in self.docs]


@functools.lru_cache(maxsize=64)
def _template(
    chart: str,
    release: str,
    values: tuple[str, ...],
    sets: tuple[str, ...],
    show_only: tuple[str, ...],
    namespace: str,
    api_versions: tuple[str, ...],
) -> Render:
    args = ["template", release, chart, "--namespace", namespace, "--kube-version", KUBE_VERSION]
    for a in api_versions:
        args += ["--api-versions", a]
    for v in values:
        args += ["-f", v]
    for s in sets:
        args += ["--set-json", s.removeprefix("json:")] if s.startswith("json:") else ["--set", s]
    for s in show_only:
        args += ["--show-only", s]
    text = _helm(*args)
    docs = tuple(d for d in yaml.safe_load_all(text) if d)
    return Render(text=text, docs=docs)


def template(
    chart: Path,
    release: str,
    values: Iterable[Path | str] = (),
    sets: Iterable[str] = (),
    show_only: Iterable[str] = (),
    namespace: str = NAMESPACE,
    api_versions: Iterable[str] = (),
) -> Render:
    """`helm template`; ``sets`` are `key=value` (`--set`) or `json:key=<json>` (`--set-json`);
    ``api_versions`` are the extra APIs the cluster is taken to serve (`--api-versions`)."""
    return _template(
        str(chart),
        release,
        tuple(str(v) for v in values),
        tuple(sets),
        tuple(show_only),
        namespace,
        tuple(api_versions),
    )


def render_platform(kind: bool = False, sets: Iterable[str] = (), api_versions: Iterable[str] | None = None) -> Render:
    """The platform as installed: production on a cluster with the Prometheus operator, kind
    without (``api_versions`` overrides what the cluster serves)."""
    if api_versions is None:
        api_versions = () if kind else PRODUCTION_API_VERSIONS
    return template(PLATFORM_CHART, "platform", values_files("platform", kind), sets, api_versions=api_versions)


def render_team(team: str, kind: bool = False, sets: Iterable[str] = ()) -> Render:
    return template(CODE_LOCATION_CHART, team, values_files(team, kind), sets)


def lint(chart: Path, values: Iterable[Path | str] = (), strict: bool = True) -> str:
    args = ["lint", str(chart), "--kube-version", KUBE_VERSION]
    if strict:
        args.append("--strict")
    for v in values:
        args += ["-f", str(v)]
    return _helm(*args)


def container_context(team_render: Render) -> dict[str, Any]:
    """The JSON the team's code server exports as DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT."""
    return json.loads(_env(team_render, "DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT"))


def current_image(team_render: Render) -> str:
    return _env(team_render, "DAGSTER_CURRENT_IMAGE")


def _env(team_render: Render, name: str) -> str:
    (dep,) = team_render.all("Deployment")
    (container,) = dep["spec"]["template"]["spec"]["containers"]
    values = [e["value"] for e in container["env"] if e["name"] == name]
    assert len(values) == 1, f"{name} not set exactly once on the code server"
    return values[0]


def instance_yaml(platform_render: Render) -> dict[str, Any]:
    cm = platform_render.get("ConfigMap", "platform-instance")
    return yaml.safe_load(cm["data"]["dagster.yaml"])


def workspace_yaml(platform_render: Render) -> dict[str, Any]:
    cm = platform_render.get("ConfigMap", "platform-workspace")
    return yaml.safe_load(cm["data"]["workspace.yaml"])


def pod_specs(docs: Iterable[Mapping[str, Any]]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(kind/name, pod spec) of every workload in ``docs``."""
    for d in docs:
        kind = d.get("kind")
        if kind in {"Deployment", "StatefulSet", "DaemonSet", "Job", "ReplicaSet"}:
            yield f"{kind}/{d['metadata']['name']}", d["spec"]["template"]["spec"]
        elif kind == "CronJob":
            yield f"{kind}/{d['metadata']['name']}", d["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        elif kind == "Pod":
            yield f"{kind}/{d['metadata']['name']}", d["spec"]


# --- the "restricted" Pod Security Standard ----------------------------------------------------
# https://kubernetes.io/docs/concepts/security/pod-security-standards/ (restricted, v1.32), plus
# what this project requires on top: numeric runAsUser and a read-only root filesystem.
_ALLOWED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
_BASELINE_FORBIDDEN_POD = ("hostNetwork", "hostPID", "hostIPC")


def restricted_violations(spec: Mapping[str, Any]) -> list[str]:
    """Everything in a pod spec (camelCase, as rendered or API-serialized) that breaks "restricted"."""
    problems: list[str] = []
    psc = spec.get("securityContext") or {}
    for f in _BASELINE_FORBIDDEN_POD:
        if spec.get(f):
            problems.append(f"pod: {f} is set")
    for vol in spec.get("volumes") or []:
        types = set(vol) - {"name"}
        if not types <= _ALLOWED_VOLUME_TYPES:
            problems.append(f"volume {vol['name']}: type {sorted(types - _ALLOWED_VOLUME_TYPES)} not allowed")
    if (psc.get("seccompProfile") or {}).get("type") not in {"RuntimeDefault", "Localhost"}:
        problems.append("pod: seccompProfile.type must be RuntimeDefault or Localhost")
    for sysctl in psc.get("sysctls") or []:
        problems.append(f"pod: sysctl {sysctl.get('name')} set")
    containers = [
        *(spec.get("initContainers") or []),
        *(spec.get("containers") or []),
        *(spec.get("ephemeralContainers") or []),
    ]
    if not containers:
        problems.append("pod: no containers")
    for c in containers:
        name = c.get("name")
        sc = c.get("securityContext") or {}
        run_as_non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        run_as_user = sc.get("runAsUser", psc.get("runAsUser"))
        if run_as_non_root is not True:
            problems.append(f"{name}: runAsNonRoot must be true")
        if not isinstance(run_as_user, int) or run_as_user == 0:
            problems.append(f"{name}: runAsUser must be a non-zero number")
        if sc.get("allowPrivilegeEscalation") is not False:
            problems.append(f"{name}: allowPrivilegeEscalation must be false")
        if sc.get("privileged"):
            problems.append(f"{name}: privileged")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            problems.append(f"{name}: capabilities must drop ALL")
        if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
            problems.append(f"{name}: adds capabilities {caps.get('add')}")
        if sc.get("seccompProfile") and sc["seccompProfile"].get("type") not in {"RuntimeDefault", "Localhost"}:
            problems.append(f"{name}: seccompProfile.type not allowed")
        if sc.get("readOnlyRootFilesystem") is not True:
            problems.append(f"{name}: readOnlyRootFilesystem must be true")
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                problems.append(f"{name}: hostPort {p['hostPort']}")
    return problems
