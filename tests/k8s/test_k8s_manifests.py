"""Every rendered manifest (platform + three teams, prod and kind values): Kubernetes 1.32 schemas
(kubernetes-validate, strict), the "restricted" Pod Security Standard, and checkov's Kubernetes
checks with no failure (skips only as annotations that carry their reason)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

TEAMS = ("candidates", "jobs", "matching")
CRD_KINDS = {"ServiceMonitor", "PrometheusRule"}  # not in the core schemas; checked structurally
REPO = Path(__file__).resolve().parents[2]
# checkov runs from its own venv (`make tools` links it into .tools/bin): its bc-python-hcl2 and the
# Terraform tests' python-hcl2 both install `hcl2`.
CHECKOV = REPO / ".tools" / "bin" / "checkov"


def _missing(reason: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set, so this is an error, not a skip)")
    pytest.skip(reason)


def _releases(render, kind: bool):
    # Production with the webhook switched on (helm/values/platform.yaml keeps it off until its
    # Secret is synced; kind enables it), so its objects go through every check here in both.
    platform = render.render_platform(kind=kind, sets=() if kind else ("webhook.enabled=true",))
    return {"platform": platform, **{t: render.render_team(t, kind=kind) for t in TEAMS}}


@pytest.fixture(scope="module", params=[False, True], ids=["prod", "kind"])
def rendered(render, request, tmp_path_factory):
    """(directory with one file per release, {release: Render})."""
    releases = _releases(render, request.param)
    out = tmp_path_factory.mktemp("rendered-prod" if not request.param else "rendered-kind")
    for name, r in releases.items():
        (out / f"{name}.yaml").write_text(r.text)
    return out, releases


def test_manifests_validate_against_kubernetes_1_32(rendered, k8s_validate) -> None:
    _, releases = rendered
    checked = 0
    for release, r in releases.items():
        for doc in r.docs:
            if doc["kind"] in CRD_KINDS:
                continue
            try:
                k8s_validate(doc)
            except Exception as exc:  # kubernetes_validate.ValidationError and friends
                pytest.fail(f"{release}: {doc['kind']}/{doc['metadata']['name']}: {exc}")
            checked += 1
    assert checked > 20


def test_monitoring_resources_are_well_formed(rendered) -> None:
    _, releases = rendered
    for doc in releases["platform"].docs:
        if doc["kind"] == "PrometheusRule":
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            assert doc["spec"]["groups"], doc["metadata"]["name"]
            for group in doc["spec"]["groups"]:
                assert group["name"] and group["rules"]
                for rule in group["rules"]:
                    assert ("alert" in rule) != ("record" in rule) and rule["expr"]
        elif doc["kind"] == "ServiceMonitor":
            assert doc["apiVersion"] == "monitoring.coreos.com/v1"
            assert doc["spec"]["endpoints"] and doc["spec"]["selector"]["matchLabels"]


def test_every_pod_meets_the_restricted_standard(render, rendered) -> None:
    _, releases = rendered
    pods = [(f"{rel}:{name}", spec) for rel, r in releases.items() for name, spec in render.pod_specs(r.docs)]
    # webserver, daemon, exporter, webhook, migrate + one code server per team
    assert len(pods) == 5 + len(TEAMS), [name for name, _ in pods]
    assert "platform:Deployment/platform-webhook" in {name for name, _ in pods}
    for name, spec in pods:
        assert not render.restricted_violations(spec), f"{name}: {render.restricted_violations(spec)}"


def test_restricted_check_catches_violations(render) -> None:
    """The checker itself: a pod breaking each rule is reported."""
    bad = {
        "hostNetwork": True,
        "securityContext": {},
        "volumes": [{"name": "h", "hostPath": {"path": "/"}}],
        "containers": [{"name": "c", "securityContext": {"runAsUser": 0, "capabilities": {"add": ["SYS_ADMIN"]}}}],
    }
    problems = " | ".join(render.restricted_violations(bad))
    for expected in (
        "hostNetwork",
        "hostPath",
        "seccompProfile",
        "runAsNonRoot",
        "runAsUser",
        "allowPrivilegeEscalation",
        "drop ALL",
        "SYS_ADMIN",
        "readOnlyRootFilesystem",
    ):
        assert expected in problems, expected


def test_checkov_has_no_failed_check(rendered) -> None:
    directory, _ = rendered
    if not CHECKOV.exists():
        _missing(f"checkov not found at {CHECKOV}; run `make tools`")
    result = subprocess.run(
        [str(CHECKOV), "-d", str(directory), "--framework", "kubernetes", "--compact", "-o", "json", "--skip-download"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), f"checkov crashed ({result.returncode}):\n{result.stderr[-3000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    (k8s,) = [r for r in reports if r["check_type"] == "kubernetes"]
    failed = [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in k8s["results"]["failed_checks"]]
    assert not failed, "\n".join(failed)
    assert k8s["summary"]["passed"] > 100
    skipped = k8s["results"]["skipped_checks"]
    assert {s["check_id"] for s in skipped} <= {"CKV_K8S_15", "CKV_K8S_35", "CKV_K8S_38", "CKV_K8S_43", "CKV_K8S_9"}
    for s in skipped:
        assert len((s.get("check_result") or {}).get("suppress_comment", "")) > 20, (
            f"{s['check_id']} skipped without a reason"
        )


def test_checkov_skips_are_annotations_with_reasons(rendered) -> None:
    _, releases = rendered
    for r in releases.values():
        for doc in r.docs:
            for key, value in (doc["metadata"].get("annotations") or {}).items():
                if key.startswith("checkov.io/skip"):
                    check, _, reason = value.partition("=")
                    assert check.startswith("CKV") and len(reason) > 20, (doc["metadata"]["name"], value)
