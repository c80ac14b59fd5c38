"""Render tests of helm/code-location: the team release, its container context, and the
guarantee that three teams in one namespace never touch each other's objects."""

from __future__ import annotations

import pytest

TEAMS = ("candidates", "jobs", "matching")


@pytest.fixture(
    scope="module",
    params=[(t, k) for t in TEAMS for k in (False, True)],
    ids=lambda p: f"{p[0]}-{'kind' if p[1] else 'prod'}",
)
def team(render, request):
    name, kind = request.param
    return name, kind, render.render_team(name, kind=kind)


def test_every_object_is_prefixed_by_the_release(render, team) -> None:
    name, _, out = team
    for kind, obj in out.keys():  # noqa: SIM118 - a Render, not a dict
        assert obj.startswith(f"{name}-code-server"), (kind, obj)
    for d in out.docs:
        assert d["metadata"]["namespace"] == render.NAMESPACE
        assert d["metadata"]["labels"]["app.kubernetes.io/instance"] == name
        assert d["metadata"]["labels"]["talent.io/code-location"] == name
    assert not {d["kind"] for d in out.docs} & {"ClusterRole", "ClusterRoleBinding", "Namespace"}


def test_code_server_serves_the_location_over_grpc(render, team) -> None:
    name, kind, out = team
    dep = out.get("Deployment", f"{name}-code-server")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["command"][:3] == ["dagster", "api", "grpc"]
    assert c["command"][c["command"].index("--module-name") + 1] == f"talent_{name}.definitions"
    assert c["command"][c["command"].index("--location-name") + 1] == name
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["grpc"] == {"port": 4000, "service": "DagsterApi"}
    # Generous: five minutes to import definitions, three minutes of failures before a restart.
    assert c["startupProbe"]["periodSeconds"] * c["startupProbe"]["failureThreshold"] >= 300
    assert c["livenessProbe"]["periodSeconds"] * c["livenessProbe"]["failureThreshold"] >= 180
    assert c["livenessProbe"]["timeoutSeconds"] >= 10
    svc = out.get("Service", f"{name}-code-server")
    assert svc["spec"]["ports"] == [{"name": "grpc", "port": 4000, "targetPort": "grpc", "protocol": "TCP"}]
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert (
        render.current_image(out)
        == c["image"]
        == (f"talent-{name}:e2e" if kind else f"123456789012.dkr.ecr.eu-west-1.amazonaws.com/talent-{name}:0.1.0")
    )
    assert dep["spec"]["template"]["spec"]["automountServiceAccountToken"] is False


def test_container_context_is_what_runs_inherit(render, team) -> None:
    name, kind, out = team
    ctx = render.container_context(out)["k8s"]
    assert ctx["namespace"] == render.NAMESPACE
    assert ctx["service_account_name"] == f"{name}-code-server"
    assert ctx["env_config_maps"] == [f"{name}-code-server-env"]
    secrets = {e["name"]: e["valueFrom"]["secretKeyRef"] for e in ctx["env"]}
    # the team's own role (talent_<team>), never the owner's talent-database
    assert secrets["TALENT_DATABASE_URL"] == {"name": f"talent-db-{name}", "key": "database-url"}
    assert ("OPENAI_API_KEY" in secrets) is (not kind)
    assert all("value" not in e for e in ctx["env"]), "secrets only by reference"
    assert ctx["labels"] == {"talent.io/code-location": name, "talent.io/role": "dagster-job"}
    # Runs get the team's run defaults, not the code server's size (the official chart's trap).
    values = render.template(render.CODE_LOCATION_CHART, name, render.values_files(name, kind))
    dep = values.get("Deployment", f"{name}-code-server")
    assert ctx["resources"] != dep["spec"]["template"]["spec"]["containers"][0]["resources"]
    if kind:
        assert ctx["volumes"] == [{"name": "landing", "persistentVolumeClaim": {"claimName": "talent-landing"}}]
        assert ctx["volume_mounts"] == [{"name": "landing", "mountPath": "/landing"}]


def test_container_context_parses_with_dagster_k8s(render, team) -> None:
    from dagster_k8s.container_context import K8sContainerContext

    name, _, out = team
    ctx = K8sContainerContext.create_from_config(render.container_context(out))
    assert ctx.namespace == render.NAMESPACE
    assert ctx.run_k8s_config.pod_spec_config["service_account_name"] == f"{name}-code-server"


def test_env_configmap_and_service_account(render, team) -> None:
    name, kind, out = team
    env = out.get("ConfigMap", f"{name}-code-server-env")["data"]
    assert env["TALENT_EXECUTOR"] == "k8s"
    assert env["TALENT_LANDING"] == ("/landing" if kind else "s3://talent-landing-prod/landing")
    # the compute-logs prefix its run and step pods write under (talent_shared.compute_logs)
    assert env["TALENT_CODE_LOCATION"] == name
    sa = out.get("ServiceAccount", f"{name}-code-server")
    assert sa["automountServiceAccountToken"] is False
    annotations = sa["metadata"].get("annotations") or {}
    if kind:
        assert "eks.amazonaws.com/role-arn" not in annotations
    else:
        assert annotations["eks.amazonaws.com/role-arn"] == f"arn:aws:iam::123456789012:role/talent-{name}"


def test_team_rbac_is_namespaced_and_minimal(render, team) -> None:
    name, _, out = team
    role = out.one("Role")
    assert {(tuple(r["resources"]), tuple(r["verbs"])) for r in role["rules"]} == {
        (("jobs",), ("create", "get", "list", "watch", "delete")),
        (("jobs/status",), ("get",)),  # the step handler's health check (read_namespaced_job_status)
        (("pods",), ("get", "list", "watch")),
        (("pods/log",), ("get",)),
    }
    assert out.one("RoleBinding")["subjects"] == [
        {"kind": "ServiceAccount", "name": f"{name}-code-server", "namespace": render.NAMESPACE}
    ]


def test_network_policies_cover_server_and_job_pods(render, team) -> None:
    name, _, out = team
    policies = {p["metadata"]["name"]: p["spec"] for p in out.all("NetworkPolicy")}
    assert policies[f"{name}-code-server-egress"]["podSelector"] == {"matchLabels": {"talent.io/code-location": name}}
    api = policies[f"{name}-code-server-jobs-api"]
    assert api["podSelector"]["matchLabels"] == {"talent.io/code-location": name, "talent.io/role": "dagster-job"}
    ingress = policies[f"{name}-code-server-grpc-ingress"]["ingress"][0]
    assert ingress["from"] == [{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "platform"}}}]


@pytest.mark.parametrize("kind", [False, True], ids=["prod", "kind"])
def test_no_kind_name_collision_across_releases(render, kind: bool) -> None:
    """Platform plus three teams in one namespace: every (kind, name) is unique."""
    seen: dict[tuple[str, str], str] = {}
    releases = {"platform": render.render_platform(kind=kind), **{t: render.render_team(t, kind=kind) for t in TEAMS}}
    for release, out in releases.items():
        for key in out.keys():  # noqa: SIM118 - a Render, not a dict
            assert key not in seen, f"{key} rendered by both {seen[key]} and {release}"
            seen[key] = release


@pytest.mark.parametrize("kind", [False, True], ids=["prod", "kind"])
def test_workspace_hosts_are_the_team_services(render, kind: bool) -> None:
    servers = [e["grpc_server"] for e in render.workspace_yaml(render.render_platform(kind=kind))["load_from"]]
    for server in servers:
        team = render.render_team(server["location_name"], kind=kind)
        svc = team.get("Service", server["host"])
        assert svc["spec"]["ports"][0]["port"] == server["port"]
        assert (
            team.get("Deployment", server["host"])["spec"]["template"]["spec"]["containers"][0]["command"][-1]
            == server["location_name"]
        )
    assert sorted(s["location_name"] for s in servers) == sorted(TEAMS)


def test_same_secret_name_as_the_platform(render) -> None:
    platform = render.instance_yaml(render.render_platform())["run_launcher"]["config"]
    for t in TEAMS:
        (c,) = render.render_team(t).get("Deployment", f"{t}-code-server")["spec"]["template"]["spec"]["containers"]
        pg = next(e for e in c["env"] if e["name"] == "DAGSTER_PG_PASSWORD")
        assert pg["valueFrom"]["secretKeyRef"] == {
            "name": platform["postgres_password_secret"],
            "key": "postgresql-password",
        }


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["name="], "name is required"),
        (["json:dagsterApiGrpcArgs=[]"], 'dagsterApiGrpcArgs must be ["-m", "<module>"]'),
        (['json:dagsterApiGrpcArgs=["-m"]'], 'dagsterApiGrpcArgs must be ["-m", "<module>"]'),
        (
            ['json:dagsterApiGrpcArgs=["-f", "defs.py"]'],
            "at '/dagsterApiGrpcArgs/0': value must be one of '-m', '--module-name'",
        ),
        (['json:dagsterApiGrpcArgs=["-m", "talent-candidates"]'], "at '/dagsterApiGrpcArgs/1'"),
        (['json:dagsterApiGrpcArgs=["-m", "talent_candidates.definitions", "-a", "defs"]'], "maxItems"),
        (["image.repository="], "image.repository is required"),
        (["image.tag="], "image.tag is required"),
        (["image.tag=latest"], "image.tag must be immutable"),
        (["platform.postgresqlSecretName="], "platform.postgresqlSecretName is required"),
        (["env.OPENAI_API_KEY=sk-123"], "env.OPENAI_API_KEY looks like a credential"),
        (["env.TALENT_DATABASE_URL=postgresql://u:p@h/db"], "env.TALENT_DATABASE_URL looks like a credential"),
        (['json:secretEnv.X={"secretName":"s"}'], "missing property 'key'"),
        (["replica=2"], "additional properties 'replica' not allowed"),
        (["name=Candidates"], "at '/name'"),
    ],
)
def test_invalid_values_fail_with_a_clear_message(render, sets: list[str], message: str) -> None:
    with pytest.raises(render.HelmError) as err:
        render.render_team("candidates", sets=sets)
    assert message in err.value.stderr


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["location.name=candidates"], "location.name is now name and location.module is dagsterApiGrpcArgs"),
        (["codeServer.port=4000"], "keys are now at the top level (replicas is replicaCount)"),
        (["json:extraVolumes=[]"], "extraVolumes is now volumes"),
        (["json:extraVolumeMounts=[]"], "extraVolumeMounts is now volumeMounts"),
    ],
)
def test_the_names_before_the_official_ones_are_refused_with_the_new_name(render, sets, message) -> None:
    """A team's values written before this chart took the shape of an official
    dagster-user-deployments.deployments[] entry fail the schema, naming what to write instead."""
    with pytest.raises(render.HelmError) as err:
        render.render_team("candidates", sets=sets)
    assert message in err.value.stderr and "dagster-user-deployments.deployments[]" in err.value.stderr


def test_the_location_a_release_logs_as_is_its_own(render) -> None:
    """env cannot name another location's compute-logs prefix (IAM would refuse the write anyway)."""
    out = render.render_team("candidates", sets=["env.TALENT_CODE_LOCATION=jobs"])
    assert out.get("ConfigMap", "candidates-code-server-env")["data"]["TALENT_CODE_LOCATION"] == "candidates"
