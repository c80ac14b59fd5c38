"""Per-deployment pod settings in the official Dagster chart's names and shapes (`nodeSelector`,
`affinity`, `tolerations`, `podSecurityContext`, `securityContext`): each lands on its own
deployment only, validates against the Kubernetes 1.32 schemas, and cannot leave the restricted
Pod Security Standard. Their empty defaults add nothing to any pod (the restricted-standard and
manifest tests of test_k8s_manifests.py cover the defaults themselves)."""

from __future__ import annotations

import json

import pytest

TEAMS = ("candidates", "jobs", "matching")
# values block -> the Deployment it configures (webhook on: production keeps it off by default)
PLATFORM_DEPLOYMENTS = {
    "dagsterWebserver": "platform-webserver",
    "dagsterDaemon": "platform-daemon",
    "webhook": "platform-webhook",
    "costExporter": "platform-cost-exporter",
}
PLACEMENT = ("nodeSelector", "affinity", "tolerations")

NODE_SELECTOR = {"kubernetes.io/arch": "amd64", "talent.io/pool": "dagster"}
AFFINITY = {
    "podAntiAffinity": {
        "preferredDuringSchedulingIgnoredDuringExecution": [
            {
                "weight": 100,
                "podAffinityTerm": {
                    "labelSelector": {"matchLabels": {"app.kubernetes.io/instance": "platform"}},
                    "topologyKey": "kubernetes.io/hostname",
                },
            }
        ]
    }
}
TOLERATIONS = [{"key": "dedicated", "operator": "Equal", "value": "dagster", "effect": "NoSchedule"}]
POD_SC = {"fsGroupChangePolicy": "OnRootMismatch", "supplementalGroups": [2000]}
CONTAINER_SC = {"runAsUser": 10002, "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}


def _sets(block: str) -> list[str]:
    """Sets of every pod setting under ``block`` ("": the top level, where a code-location release
    has them, as an entry of the official chart's dagster-user-deployments.deployments[])."""
    prefix = f"{block}." if block else ""
    return [
        f"json:{prefix}nodeSelector={json.dumps(NODE_SELECTOR)}",
        f"json:{prefix}affinity={json.dumps(AFFINITY)}",
        f"json:{prefix}tolerations={json.dumps(TOLERATIONS)}",
        f"json:{prefix}podSecurityContext={json.dumps(POD_SC)}",
        f"json:{prefix}securityContext={json.dumps(CONTAINER_SC)}",
    ]


def _pods(r) -> dict:
    return {d["metadata"]["name"]: d["spec"]["template"]["spec"] for d in r.all("Deployment")}


@pytest.mark.parametrize("kind", [False, True], ids=["prod", "kind"])
def test_defaults_place_no_pod(render, kind: bool) -> None:
    releases = [render.render_platform(kind=kind, sets=["webhook.enabled=true"])]
    releases += [render.render_team(t, kind=kind) for t in TEAMS]
    for r in releases:
        for name, spec in render.pod_specs(r.docs):
            assert not set(PLACEMENT) & set(spec), f"{name} carries {set(PLACEMENT) & set(spec)}"


@pytest.mark.parametrize("block", sorted(PLATFORM_DEPLOYMENTS))
def test_platform_deployment_settings_land_on_that_deployment_only(render, k8s_validate, block: str) -> None:
    base = _pods(render.render_platform(sets=["webhook.enabled=true"]))
    r = render.render_platform(sets=["webhook.enabled=true", *_sets(block)])
    _check(render, k8s_validate, r, base, PLATFORM_DEPLOYMENTS[block])


@pytest.mark.parametrize("team", TEAMS)
def test_code_server_settings(render, k8s_validate, team: str) -> None:
    base = _pods(render.render_team(team))
    r = render.render_team(team, sets=_sets(""))
    _check(render, k8s_validate, r, base, f"{team}-code-server")


def _check(render, k8s_validate, r, base: dict, target: str) -> None:
    pods = _pods(r)
    spec = pods[target]
    assert spec["nodeSelector"] == NODE_SELECTOR
    assert spec["affinity"] == AFFINITY
    assert spec["tolerations"] == TOLERATIONS
    # Merged over the restricted defaults, which stay where not overridden.
    before = base[target]
    assert spec["securityContext"] == {**before["securityContext"], **POD_SC}
    (container,) = spec["containers"]
    (before_container,) = before["containers"]
    assert container["securityContext"] == {**before_container["securityContext"], **CONTAINER_SC}
    assert render.restricted_violations(spec) == []
    for doc in r.all("Deployment"):
        k8s_validate(doc)
    # Every other deployment of the release is as it was.
    assert {n: s for n, s in pods.items() if n != target} == {n: s for n, s in base.items() if n != target}


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ("podSecurityContext.runAsNonRoot=false", "runAsNonRoot"),
        ("podSecurityContext.runAsUser=0", "runAsUser"),
        ("securityContext.readOnlyRootFilesystem=false", "readOnlyRootFilesystem"),
        ("securityContext.allowPrivilegeEscalation=true", "allowPrivilegeEscalation"),
        ("securityContext.privileged=true", "privileged"),
        ("securityContext.runAsNonRoot=false", "runAsNonRoot"),
    ],
)
@pytest.mark.parametrize("block", ["dagsterWebserver", "code server"])
def test_security_contexts_stay_restricted(render, block: str, setting: str, message: str) -> None:
    with pytest.raises(render.HelmError) as err:
        if block == "code server":
            render.render_team("candidates", sets=[setting])
        else:
            render.render_platform(sets=[f"{block}.{setting}"])
    assert message in err.value.stderr


@pytest.mark.parametrize(
    "setting",
    [
        'json:dagsterWebserver.tolerations=[{"key": "dedicated", "efect": "NoSchedule"}]',
        'json:dagsterDaemon.affinity={"nodeAfinity": {}}',
        'json:webhook.podSecurityContext={"fsGroupChangePolcy": "OnRootMismatch"}',
        'json:costExporter.securityContext={"readOnlyRootFileSystem": true}',
        'json:dagsterWebserver.podDisruptionBudget={"enabled": true, "minAvailabel": 1}',
    ],
)
def test_a_misspelt_key_is_refused(render, setting: str) -> None:
    with pytest.raises(render.HelmError) as err:
        render.render_platform(sets=[setting])
    assert "additional properties" in err.value.stderr.lower()
