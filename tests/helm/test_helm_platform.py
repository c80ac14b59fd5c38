"""Render tests of helm/platform, modelled on dagster's chart schema tests: render, parse, assert;
negative cases check that `required`/`fail`/the schema stop a bad install with our message."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

# Values paths in the official chart's shape (helm/README.md, "Coming from the official chart").
QUEUED = "dagsterDaemon.runCoordinator.config.queuedRunCoordinator"
SERVERS = "dagsterWebserver.workspace.servers"
S3_LOGS = "computeLogManager.config.s3ComputeLogManager"


@pytest.fixture(scope="module", params=[False, True], ids=["prod", "kind"])
def platform(render, request):
    return render.render_platform(kind=request.param)


def test_everything_namespaced_nothing_cluster_wide(render, platform) -> None:
    kinds = {d["kind"] for d in platform.docs}
    assert not kinds & {
        "ClusterRole",
        "ClusterRoleBinding",
        "Namespace",
        "CustomResourceDefinition",
        "PodSecurityPolicy",
    }
    admission = {"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"}
    for d in platform.docs:
        if d["kind"] in admission:  # cluster-scoped by the API; each binding selects this namespace only
            if d["kind"] == "ValidatingAdmissionPolicyBinding":
                assert d["spec"]["matchResources"]["namespaceSelector"] == {
                    "matchLabels": {"kubernetes.io/metadata.name": render.NAMESPACE}
                }
            continue
        assert d["metadata"]["namespace"] == render.NAMESPACE, d["metadata"]["name"]


def test_instance_config_is_a_valid_dagster_instance(render, platform, tmp_path, monkeypatch) -> None:
    """dagster.yaml loads with dagster's own schema (no database connection is made)."""
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config
    from dagster._core.instance.ref import InstanceRef
    from dagster_k8s import K8sRunLauncher
    from dagster_postgres import DagsterPostgresStorage
    from dagster_postgres.utils import pg_url_from_config

    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(render.instance_yaml(platform)))
    config, _ = dagster_instance_config(str(home))
    ref = InstanceRef.from_dir(str(home))

    assert ref.run_launcher_data.module_name == "dagster_k8s"
    assert ref.run_launcher_data.class_name == "K8sRunLauncher"
    launcher = process_config(K8sRunLauncher.config_type(), yaml.safe_load(ref.run_launcher_data.config_yaml))
    assert launcher.success, launcher.errors
    assert launcher.value["job_namespace"] == render.NAMESPACE
    assert launcher.value["postgres_password_secret"] == "talent-db-dagster"  # Dagster's storage role
    assert ref.run_coordinator_data.class_name == "QueuedRunCoordinator"
    assert (ref.storage_data.module_name, ref.storage_data.class_name) == ("dagster_postgres", "DagsterPostgresStorage")
    assert ref.compute_logs_data.class_name in ("TeamS3ComputeLogManager", "LocalComputeLogManager")  # never NoOp

    # The Postgres driver trap: the URL dagster-postgres builds must use psycopg2.
    monkeypatch.setenv("DAGSTER_PG_PASSWORD", "s3cr3t")
    storage = process_config(DagsterPostgresStorage.config_type(), config["storage"]["postgres"])
    assert storage.success, storage.errors
    assert pg_url_from_config(storage.value).startswith("postgresql+psycopg2://talent_dagster:s3cr3t@")


def test_every_dagster_process_writes_events_in_batches(render, platform) -> None:
    """The daemon (it creates runs, so it writes their planned events), the webserver (runs
    launched from the UI) and every run and step pod (the run launcher's env_vars, which
    dagster-k8s also hands to the step pods) get DAGSTER_EVENT_BATCH_SIZE."""
    for name in ("platform-webserver", "platform-daemon"):
        (pod,) = platform.get("Deployment", name)["spec"]["template"]["spec"]["containers"]
        assert {"name": "DAGSTER_EVENT_BATCH_SIZE", "value": "200"} in pod["env"], name
    launcher = render.instance_yaml(platform)["run_launcher"]["config"]
    assert launcher["env_vars"] == ["DAGSTER_EVENT_BATCH_SIZE=200"]


def test_storage_is_dagster_postgres_as_shipped(render, platform) -> None:
    """dagster-postgres as shipped, with nothing added to its config; eventBatchSize 0 writes one
    event at a time. The removed pooled-storage keys fail the schema instead of being ignored."""
    for rendered in (platform, render.render_platform(kind=True)):
        storage = render.instance_yaml(rendered)["storage"]
        assert list(storage) == ["postgres"]
        assert set(storage["postgres"]["postgres_db"]) == {
            "username",
            "password",
            "hostname",
            "db_name",
            "port",
            "scheme",
            "params",
        }
    unbatched = render.instance_yaml(render.render_platform(sets=["postgresql.eventBatchSize=0"]))
    assert unbatched["run_launcher"]["config"]["env_vars"] == ["DAGSTER_EVENT_BATCH_SIZE=0"]
    for key in ("pooled=false", "poolSize=2", "maxOverflow=8"):
        with pytest.raises(render.HelmError) as err:
            render.render_platform(sets=[f"postgresql.{key}"])
        assert "additional properties" in err.value.stderr.lower(), err.value.stderr


def test_run_coordinator_limits_each_location(render, platform) -> None:
    """Per-location fairness (dagster#18798) in the `concurrency > runs` block, which dagster
    requires instead of run_coordinator limits once `concurrency > pools` is set."""
    instance = render.instance_yaml(platform)
    assert instance["run_coordinator"]["class"] == "QueuedRunCoordinator"
    assert "tag_concurrency_limits" not in instance["run_coordinator"]["config"]
    runs = instance["concurrency"]["runs"]
    limit = runs["tag_concurrency_limits"][0]
    assert limit["key"] == "dagster/code_location" and limit["value"] == {"applyLimitPerUniqueValue": True}
    assert runs["max_concurrent_runs"] > limit["limit"] > 0


def test_run_monitoring_retries_and_job_ttl(render, platform) -> None:
    instance = render.instance_yaml(platform)
    assert instance["run_monitoring"]["enabled"] is True
    assert instance["run_monitoring"]["start_timeout_seconds"] == 180
    assert instance["run_retries"] == {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False}
    job_spec = instance["run_launcher"]["config"]["run_k8s_config"]["job_spec_config"]
    assert 0 < job_spec["ttlSecondsAfterFinished"] < 86400
    assert instance["telemetry"] == {"enabled": False}


def test_workspace_lists_every_team_as_a_grpc_server(render, platform) -> None:
    servers = [e["grpc_server"] for e in render.workspace_yaml(platform)["load_from"]]
    assert servers == [{"host": f"{t}-code-server", "port": 4000, "location_name": t} for t in render.TEAMS]


def test_webserver_and_daemon_mount_instance_and_workspace(render, platform) -> None:
    for name, command in (("platform-webserver", "dagster-webserver"), ("platform-daemon", "dagster-daemon")):
        dep = platform.get("Deployment", name)
        pod = dep["spec"]["template"]
        (c,) = pod["spec"]["containers"]
        assert c["command"][0] == command
        assert "/dagster-workspace/workspace.yaml" in c["command"]
        mounts = {m["mountPath"]: m for m in c["volumeMounts"]}
        assert mounts["/opt/dagster/dagster_home/dagster.yaml"]["subPath"] == "dagster.yaml"
        assert "/dagster-workspace/" in mounts and "/tmp" in mounts and "/opt/dagster/dagster_home" in mounts
        env = {e["name"]: e for e in c["env"]}
        assert env["DAGSTER_PG_PASSWORD"]["valueFrom"]["secretKeyRef"] == {
            "name": "talent-db-dagster",
            "key": "postgresql-password",
        }
        assert set(pod["metadata"]["annotations"]) >= {"checksum/dagster-instance", "checksum/dagster-workspace"}
        assert pod["spec"]["automountServiceAccountToken"] is True
        # the webserver keeps the IRSA ServiceAccount (step logs); the daemon has its own (it launches runs)
        assert pod["spec"]["serviceAccountName"] == ("platform-dagster" if name == "platform-webserver" else name)
    assert platform.get("Deployment", "platform-daemon")["spec"]["replicas"] == 1


def test_only_the_launcher_pods_get_a_token(render, platform) -> None:
    with_token = {name for name, spec in render.pod_specs(platform.docs) if spec.get("automountServiceAccountToken")}
    assert with_token == {"Deployment/platform-webserver", "Deployment/platform-daemon"}
    for sa in platform.all("ServiceAccount"):
        assert sa["automountServiceAccountToken"] is False


def test_rbac_is_least_privilege_and_only_the_daemon_creates_jobs(render, platform) -> None:
    """The daemon launches runs; the webserver reads their Jobs and deletes one when a user
    terminates a run, but cannot create one (issue 19: it could run anything as any team)."""
    read = [
        # run monitoring reads Job health through the status subresource (found on a real cluster)
        {"apiGroups": ["batch"], "resources": ["jobs/status"], "verbs": ["get"]},
        {"apiGroups": [""], "resources": ["pods"], "verbs": ["get", "list", "watch"]},
        {"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]},
    ]
    jobs = {"apiGroups": ["batch"], "resources": ["jobs"]}
    roles = {r["metadata"]["name"]: r["rules"] for r in platform.all("Role")}
    assert roles == {
        "platform-daemon": [{**jobs, "verbs": ["create", "get", "list", "watch", "delete"]}, *read],
        "platform-webserver": [{**jobs, "verbs": ["get", "list", "watch", "delete"]}, *read],
    }
    subjects = {b["roleRef"]["name"]: b["subjects"] for b in platform.all("RoleBinding")}
    assert subjects == {
        "platform-daemon": [{"kind": "ServiceAccount", "name": "platform-daemon", "namespace": render.NAMESPACE}],
        "platform-webserver": [{"kind": "ServiceAccount", "name": "platform-dagster", "namespace": render.NAMESPACE}],
    }
    pods = {name: spec["serviceAccountName"] for name, spec in render.pod_specs(platform.docs)}
    assert pods["Deployment/platform-webserver"] == "platform-dagster"
    assert pods["Deployment/platform-daemon"] == "platform-daemon"


@pytest.mark.parametrize("kind", [False, True], ids=["prod", "kind"])
def test_each_team_is_pinned_to_its_service_account_and_secrets_by_admission(render, kind: bool) -> None:
    """One ValidatingAdmissionPolicy per team: the team's own requests only, its own ServiceAccount,
    and an allow-list of Secrets that holds its own and the shared ones, never another team's."""
    r = render.render_platform(kind=kind)
    policies = {p["metadata"]["name"]: p for p in r.all("ValidatingAdmissionPolicy")}
    bindings = {b["metadata"]["name"]: b for b in r.all("ValidatingAdmissionPolicyBinding")}
    assert sorted(policies) == sorted(bindings) == sorted(f"platform-{t}-team-isolation" for t in render.TEAMS)
    for team in render.TEAMS:
        name = f"platform-{team}-team-isolation"
        policy, binding = policies[name]["spec"], bindings[name]["spec"]
        assert binding == {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "talent"}}},
        }
        assert policy["failurePolicy"] == "Fail"
        (condition,) = policy["matchConditions"]
        assert (
            condition["expression"] == f"request.userInfo.username == 'system:serviceaccount:talent:{team}-code-server'"
        )
        rules = {(tuple(x["apiGroups"]), tuple(x["resources"])) for x in policy["matchConstraints"]["resourceRules"]}
        assert rules == {(("",), ("pods",)), (("batch",), ("jobs", "cronjobs"))}
        variables = {v["name"]: v["expression"] for v in policy["variables"]}
        allowed = yaml.safe_load(variables["allowed"])
        assert f"talent-db-{team}" in allowed and "talent-db-dagster" in allowed
        others = {f"talent-db-{t}" for t in render.TEAMS if t != team} | {"talent-database", "dagster-postgresql"}
        assert not others & set(allowed), allowed
        sa_check, secret_check = policy["validations"]
        assert f"variables.spec.serviceAccountName == '{team}-code-server'" in sa_check["expression"]
        for reference in ("secretKeyRef.name", "secretRef.name", "secret.secretName", "s.secret.name"):
            assert reference in secret_check["expression"], reference
    # the Secrets the team's own release reads are all on its list (else its steps could not start)
    for team in render.TEAMS:
        ctx = render.container_context(render.render_team(team, kind=kind))["k8s"]
        used = {e["valueFrom"]["secretKeyRef"]["name"] for e in ctx["env"]}
        allowed = yaml.safe_load(
            {v["name"]: v["expression"] for v in policies[f"platform-{team}-team-isolation"]["spec"]["variables"]}[
                "allowed"
            ]
        )
        assert used <= set(allowed), (team, used - set(allowed))


def test_migrate_hook_runs_both_migrations_before_install_and_upgrade(render, platform) -> None:
    job = platform.one("Job")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"][-1] == "dagster instance migrate && talent db migrate && talent db roles"
    hook_cm = platform.get("ConfigMap", "platform-migrate-instance")
    assert hook_cm["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert int(hook_cm["metadata"]["annotations"]["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"]["helm.sh/hook-weight"]
    )
    # Storage only: the hook pod has no ServiceAccount token, so a config naming the
    # K8sRunLauncher (which loads the in-cluster config when built) would fail the first install.
    hook_instance = yaml.safe_load(hook_cm["data"]["dagster.yaml"])
    instance = yaml.safe_load(platform.get("ConfigMap", "platform-instance")["data"]["dagster.yaml"])
    hook_db = hook_instance["storage"]["postgres"]["postgres_db"]
    db = instance["storage"]["postgres"]["postgres_db"]
    # the same database; the hook as the owner, every other Dagster process as talent_dagster
    assert {**hook_db, "username": None} == {**db, "username": None}
    assert (hook_db["username"], db["username"]) == ("dagster", "talent_dagster")
    assert (
        "run_launcher" not in hook_instance and job["spec"]["template"]["spec"]["automountServiceAccountToken"] is False
    )
    env = {e["name"] for e in c["env"]}
    assert {"DAGSTER_PG_PASSWORD", "TALENT_DATABASE_URL", "TALENT_EMBEDDING_DIM"} <= env


def test_cost_exporter_service_and_monitor(render) -> None:
    prod = render.render_platform()
    dep = prod.get("Deployment", "platform-cost-exporter")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["talent", "cost", "exporter", "--port", "9108"]
    # Probes must not query the ledger: the exporter's /healthz is database-free.
    assert {c[p]["httpGet"]["path"] for p in ("startupProbe", "readinessProbe", "livenessProbe")} == {"/healthz"}
    svc = prod.get("Service", "platform-cost-exporter")
    sm = prod.one("ServiceMonitor")
    assert sm["spec"]["selector"]["matchLabels"] == svc["spec"]["selector"]
    assert sm["spec"]["endpoints"][0]["port"] == svc["spec"]["ports"][0]["name"] == "metrics"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    # kind has no Prometheus operator CRDs.
    assert not render.render_platform(kind=True).all("ServiceMonitor")


def test_dashboards_and_rules_come_from_the_chart_files(render) -> None:
    prod = render.render_platform()
    dashboards = sorted(render.PLATFORM_CHART.glob("dashboards/*.json"))
    cms = [cm for cm in prod.all("ConfigMap") if cm["metadata"]["labels"].get("grafana_dashboard") == "1"]
    assert len(cms) == len(dashboards)
    by_file = {next(iter(cm["data"])): cm["data"] for cm in cms}
    for path in dashboards:
        assert by_file[path.name][path.name] == path.read_text().rstrip("\n")
    rule_files = sorted(render.PLATFORM_CHART.glob("rules/*.yaml"))
    rules = prod.all("PrometheusRule")
    assert len(rules) == len(rule_files)
    for path, rule in zip(rule_files, sorted(rules, key=lambda r: r["metadata"]["name"]), strict=True):
        assert rule["spec"] == yaml.safe_load(path.read_text())


MONITORING_KINDS = ("ServiceMonitor", "PrometheusRule")


def _monitoring(r) -> list[str]:
    return sorted(
        f"{d['kind']}/{d['metadata']['name']}" for d in r.docs if d["apiVersion"].startswith("monitoring.coreos.com/")
    )


def test_prometheus_operator_objects_need_its_api(render) -> None:
    """ServiceMonitor and PrometheusRule are the operator's CRDs: on a cluster that does not serve
    monitoring.coreos.com/v1 an install with them fails, so they render only where it is served."""
    served = render.render_platform(api_versions=[render.PROMETHEUS_OPERATOR_API])
    assert {d["kind"] for d in served.docs if d["kind"] in MONITORING_KINDS} == set(MONITORING_KINDS)
    not_served = render.render_platform(api_versions=[])
    assert _monitoring(not_served) == []
    # Everything else is the same install.
    assert [k for k in served.keys() if k[0] not in MONITORING_KINDS] == not_served.keys()  # noqa: SIM118 (Render.keys)
    # Another group of the same name prefix does not count.
    assert _monitoring(render.render_platform(api_versions=["monitoring.coreos.com/v1alpha1"])) == []


@pytest.mark.parametrize(
    ("value", "kind"),
    [("costExporter.serviceMonitor.enabled", "ServiceMonitor"), ("prometheusRules.enabled", "PrometheusRule")],
)
def test_monitoring_values_still_turn_them_off_where_the_api_is_served(render, value: str, kind: str) -> None:
    off = render.render_platform(sets=[f"{value}=false"], api_versions=[render.PROMETHEUS_OPERATOR_API])
    assert not off.all(kind)
    other = next(k for k in MONITORING_KINDS if k != kind)
    assert off.all(other), f"turning off {value} must leave the {other} objects"


def test_kind_renders_no_monitoring_objects_even_where_the_api_is_served(render) -> None:
    """The e2e's cluster has no operator; the kind values also turn the objects off explicitly,
    so an e2e cluster that happens to carry the CRDs installs the same objects."""
    assert _monitoring(render.render_platform(kind=True)) == []
    assert _monitoring(render.render_platform(kind=True, api_versions=[render.PROMETHEUS_OPERATOR_API])) == []


@pytest.fixture
def chart_copy(render, tmp_path) -> Path:
    """A copy of the platform chart whose dashboards/ and rules/ the test controls."""
    dest = tmp_path / "platform"
    shutil.copytree(render.PLATFORM_CHART, dest, ignore=shutil.ignore_patterns("dashboards", "rules"))
    return dest


def test_empty_dashboard_and_rule_folders_render_nothing(render, chart_copy) -> None:
    out = render.template(
        chart_copy, "platform", render.values_files("platform"), api_versions=render.PRODUCTION_API_VERSIONS
    )
    assert not out.all("PrometheusRule")
    assert not [cm for cm in out.all("ConfigMap") if "grafana_dashboard" in cm["metadata"]["labels"]]


def test_a_rule_file_without_groups_fails(render, chart_copy) -> None:
    (chart_copy / "rules").mkdir()
    (chart_copy / "rules" / "bad.yaml").write_text("rules: []\n")
    with pytest.raises(render.HelmError, match="must be a Prometheus rule file with a top-level `groups:` list"):
        render.template(chart_copy, "platform", render.values_files("platform"))


def test_checksums_stable_and_follow_the_config(render) -> None:
    def checksum(r):
        return r.get("Deployment", "platform-daemon")["spec"]["template"]["metadata"]["annotations"]

    a = render.render_platform()
    b = render.render_platform(sets=[f"{QUEUED}.perCodeLocationLimit=8"])
    again = render.render_platform(sets=[f"{QUEUED}.perCodeLocationLimit=10"])
    assert checksum(a) == checksum(again)
    assert checksum(a)["checksum/dagster-instance"] != checksum(b)["checksum/dagster-instance"]
    assert checksum(a)["checksum/dagster-workspace"] == checksum(b)["checksum/dagster-workspace"]


def test_network_policies_default_deny_then_allow(render, platform) -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in platform.all("NetworkPolicy")}
    assert policies["platform-default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    assert {
        "platform-allow-dns",
        "platform-allow-database",
        "platform-allow-dagster",
        "platform-allow-webserver-ingress",
    } <= set(policies)
    grpc = policies["platform-allow-dagster"]["egress"][0]
    assert grpc["to"] == [{"podSelector": {"matchLabels": {"talent.io/role": "code-server"}}}]


# --- negative cases: a bad install stops with our message ---------------------------------------
@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["image.repository="], "image.repository is required"),
        (["image.tag="], "image.tag is required"),
        (["image.tag=latest"], "image.tag must be immutable"),
        (["postgresql.host="], "postgresql.host is required"),
        (["postgresql.secretName="], "postgresql.secretName is required"),
        (["app.databaseUrlSecret.name="], "app.databaseUrlSecret.name is required"),
        (["app.env.OPENAI_API_KEY=sk-123"], "app.env.OPENAI_API_KEY looks like a credential"),
        (
            [f'json:{SERVERS}=[{{"name":"jobs","host":"a","port":4000}},{{"name":"jobs","host":"b","port":4000}}]'],
            'location name "jobs" is listed twice',
        ),
        ([f"json:{SERVERS}=[]"], "minItems"),
        (["dagsterWebserver.replica=2"], "additional properties 'replica' not allowed"),
        (["postgresql.scheme=postgres"], "at '/postgresql/scheme': value must be one of"),
        (["json:runLauncher.config.k8sRunLauncher.resources.requests=null"], "missing property 'requests'"),
    ],
)
def test_invalid_values_fail_with_a_clear_message(render, sets: list[str], message: str) -> None:
    with pytest.raises(render.HelmError) as err:
        render.render_platform(sets=sets)
    assert message in err.value.stderr


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["webserver.replicas=2"], "webserver is now dagsterWebserver"),
        (["daemon.resources.requests.cpu=1"], "daemon is now dagsterDaemon"),
        (["computeLogs.manager=s3"], "computeLogs is now computeLogManager"),
        (["json:codeLocations=[]"], "codeLocations is now dagsterWebserver.workspace.servers"),
        (["dagsterWebserver.replicas=2"], "dagsterWebserver.replicas is now dagsterWebserver.replicaCount"),
        (["runLauncher.failPodOnRunFailure=true"], "is now runLauncher.config.k8sRunLauncher.failPodOnRunFailure"),
        (["dagsterDaemon.runCoordinator.maxConcurrentRuns=5"], f"is now {QUEUED}.maxConcurrentRuns"),
        (["json:dagsterDaemon.runCoordinator.extraTagConcurrencyLimits=[]"], f"is now {QUEUED}.tagConcurrencyLimits"),
        (["computeLogManager.manager=local"], "is now computeLogManager.type"),
        (["computeLogManager.s3.bucket=b"], "is now computeLogManager.config.s3ComputeLogManager"),
        ([f"{S3_LOGS}.uploadIntervalSeconds=30"], "uploadIntervalSeconds is now uploadInterval"),
    ],
)
def test_the_names_before_the_official_ones_are_refused_with_the_new_name(render, sets, message) -> None:
    """Values written for this chart before it took the official chart's names fail the schema,
    and the message says what to write instead."""
    with pytest.raises(render.HelmError) as err:
        render.render_platform(sets=sets)
    assert message in err.value.stderr, err.value.stderr


def test_fail_messages_are_not_hidden_by_show_only(render) -> None:
    """dagster's helm_template renders twice because --show-only can hide a `fail`; ours fire anyway."""
    with pytest.raises(render.HelmError, match=r"postgresql\.host is required"):
        render.template(
            render.PLATFORM_CHART,
            "platform",
            render.values_files("platform"),
            ["postgresql.host="],
            ["templates/service-webserver.yaml"],
        )


def test_step_logs_go_to_the_compute_logs_bucket_in_production_and_to_a_folder_on_kind(render) -> None:
    """dagster-aws's S3ComputeLogManager with one prefix per team (talent_shared.compute_logs), with
    a config its own schema accepts and every code location listed; LocalComputeLogManager on kind;
    never NoOp. The bucket is Terraform's compute-logs bucket (platform_values)."""
    from dagster._config import process_config
    from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

    from talent_shared.compute_logs import TeamS3ComputeLogManager

    prod = render.instance_yaml(render.render_platform())["compute_logs"]
    assert (prod["module"], prod["class"]) == ("talent_shared.compute_logs", "TeamS3ComputeLogManager")
    checked = process_config(TeamS3ComputeLogManager.config_type(), prod["config"])
    assert checked.success, checked.errors
    # Terraform's "dagster/" without the slash: keys dagster/<location>/storage/...
    assert prod["config"]["prefix"] == "dagster"
    values = yaml.safe_load((render.VALUES_DIR / "platform.yaml").read_text())
    assert prod["config"]["locations"] == [c["name"] for c in values["dagsterWebserver"]["workspace"]["servers"]]
    assert prod["config"]["bucket"].startswith("talent-") and "compute-logs" in prod["config"]["bucket"]
    kind = render.instance_yaml(render.render_platform(kind=True))["compute_logs"]
    assert kind["class"] == "LocalComputeLogManager"
    assert process_config(LocalComputeLogManager.config_type(), kind["config"]).success
    with pytest.raises(render.HelmError) as err:
        render.render_platform(sets=[f"{S3_LOGS}.bucket="])
    assert f"{S3_LOGS}.bucket is required" in err.value.stderr
    with pytest.raises(render.HelmError) as err:
        render.render_platform(sets=["computeLogManager.type=NoOpComputeLogManager"])
    assert "/computeLogManager/type" in err.value.stderr
    minio = render.instance_yaml(render.render_platform(sets=[f"{S3_LOGS}.endpointUrl=http://minio:9000"]))
    assert minio["compute_logs"]["config"]["endpoint_url"] == "http://minio:9000"


# --- the webhook receiver (talent serve-ingest) ----------------------------------------------------
WEBHOOK_ON = ["webhook.enabled=true"]


@pytest.fixture(scope="module", params=["prod", "kind"])
def with_webhook(render, request):
    """The production values and the kind values, both of which enable it: (environment, render)."""
    kind = request.param == "kind"
    return request.param, render.render_platform(kind=kind)


def _webhook_container(r):
    dep = r.get("Deployment", "platform-webhook")
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    return dep, c


def test_webhook_is_on_in_production_with_signatures_only(render) -> None:
    """Off in the chart's defaults; on in production (Terraform syncs talent-webhook) with the
    Standard Webhooks secret alone, and on for the e2e, which also keeps the bearer token."""
    chart_defaults = yaml.safe_load((render.PLATFORM_CHART / "values.yaml").read_text())
    assert chart_defaults["webhook"]["enabled"] is False
    assert chart_defaults["webhook"]["auth"]["tokenKey"] == ""
    for kind in (False, True):
        r = render.render_platform(kind=kind)
        assert r.get("Deployment", "platform-webhook") and r.get("NetworkPolicy", "platform-allow-webhook-ingress")
        env = {e["name"] for e in _webhook_container(r)[1]["env"]}
        assert "TALENT_INGEST_HMAC_SECRET" in env
        assert ("TALENT_INGEST_TOKEN" in env) is kind, "a bearer token in production"


def test_webhook_runs_serve_ingest_with_probes_and_pool_settings(render, with_webhook) -> None:
    environment, r = with_webhook
    dep, c = _webhook_container(r)
    port = c["ports"][0]["containerPort"]
    assert c["command"] == [
        "talent",
        "serve-ingest",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        "--max-body-bytes",
        "1048576",
        "--no-migrate",
    ]
    assert c["ports"] == [{"name": "http", "containerPort": port, "protocol": "TCP"}]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert c[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, probe  # database-free
    env = {e["name"]: e for e in c["env"]}
    assert {"TALENT_INGEST_POOL_SIZE", "TALENT_INGEST_QUEUE", "TALENT_INGEST_QUEUE_TIMEOUT_SECONDS"} <= set(env)
    from talent_shared.settings import Settings

    settings = Settings(**{k.removeprefix("TALENT_").lower(): e["value"] for k, e in env.items() if "value" in e})
    assert settings.ingest_pool_size >= 1 and settings.ingest_queue_timeout_seconds > 0
    # talent_ingest's URL: insert into the inbox, nothing else (never the owner's talent-database)
    assert env["TALENT_DATABASE_URL"]["valueFrom"]["secretKeyRef"] == {
        "name": "talent-db-ingest",
        "key": "database-url",
    }
    assert set(c["resources"]) == {"requests", "limits"}
    spec = dep["spec"]["template"]["spec"]
    assert spec["automountServiceAccountToken"] is False and spec["serviceAccountName"] == "platform-workload"
    assert not render.restricted_violations(spec), render.restricted_violations(spec)
    # scratch, and in production the database's CA bundle (sslmode=verify-full), read-only
    assert {m["mountPath"] for m in c["volumeMounts"]} == (
        {"/tmp"} if environment == "kind" else {"/tmp", "/etc/talent/db-ca"}
    )
    svc = r.get("Service", "platform-webhook")
    assert svc["spec"]["selector"].items() <= dep["spec"]["template"]["metadata"]["labels"].items()
    assert svc["spec"]["ports"] == [{"name": "http", "port": port, "targetPort": "http", "protocol": "TCP"}]
    assert svc["spec"]["type"] == "ClusterIP"


def test_webhook_credentials_only_by_reference(render, with_webhook) -> None:
    environment, r = with_webhook
    _, c = _webhook_container(r)
    env = {e["name"]: e for e in c["env"]}
    schemes = [("TALENT_INGEST_HMAC_SECRET", "hmac-secret")]
    if environment == "kind":
        schemes.append(("TALENT_INGEST_TOKEN", "token"))
    for name, key in schemes:
        assert set(env[name]) == {"name", "valueFrom"}, name
        assert env[name]["valueFrom"] == {"secretKeyRef": {"name": "talent-webhook", "key": key}}
    assert not r.all("Secret")
    # One scheme only: the other variable is not set at all.
    bearer_only = render.render_platform(sets=["webhook.auth.tokenKey=token", "webhook.auth.hmacSecretKey="])
    names = {e["name"] for e in _webhook_container(bearer_only)[1]["env"]}
    assert "TALENT_INGEST_TOKEN" in names and "TALENT_INGEST_HMAC_SECRET" not in names


def _selects(selector: dict, labels: dict) -> bool:
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        assert e["operator"] == "In", e
        if labels.get(e["key"]) not in e["values"]:
            return False
    return True


def test_webhook_network_policy_ingress_from_the_source_egress_only_dns_and_postgres(render, with_webhook) -> None:
    env, r = with_webhook
    dep, c = _webhook_container(r)
    labels = dep["spec"]["template"]["metadata"]["labels"]
    policies = [p for p in r.all("NetworkPolicy") if _selects(p["spec"]["podSelector"], labels)]
    names = {p["metadata"]["name"] for p in policies}
    assert names == {
        "platform-default-deny",
        "platform-allow-dns",
        "platform-allow-database",
        "platform-allow-webhook-ingress",
    }
    ingress = [rule for p in policies for rule in p["spec"].get("ingress") or []]
    (rule,) = ingress
    assert rule["ports"] == [{"protocol": "TCP", "port": c["ports"][0]["containerPort"]}]
    # The source the environment's values name (kind: the e2e's sender pods; prod: the ingress).
    values = render.values_files("platform", kind=env == "kind")[-1]
    expected = yaml.safe_load(values.read_text())["networkPolicy"]["webhookFrom"]
    assert rule["from"] == expected and rule["from"]
    egress_ports = {
        (port["protocol"], port["port"])
        for p in policies
        for egress in p["spec"].get("egress") or []
        for port in egress["ports"]
    }
    assert egress_ports == {("UDP", 53), ("TCP", 53), ("TCP", 5432)}


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["webhook.auth.secretName="], "webhook.auth.secretName is required"),
        (["webhook.auth.tokenKey=", "webhook.auth.hmacSecretKey="], "set tokenKey and/or hmacSecretKey"),
        (["webhook.auth.token=s3cr3t"], "additional properties 'token' not allowed"),
        (["app.env.TALENT_INGEST_TOKEN=s3cr3t"], "app.env.TALENT_INGEST_TOKEN looks like a credential"),
        (["app.env.TALENT_INGEST_HMAC_SECRET=s3cr3t"], "app.env.TALENT_INGEST_HMAC_SECRET looks like a credential"),
        (["webhook.port=80"], "/webhook/port"),
        (["webhook.pool.size=0"], "/webhook/pool/size"),
    ],
)
def test_invalid_webhook_values_fail_with_a_clear_message(render, sets: list[str], message: str) -> None:
    with pytest.raises(render.HelmError) as err:
        render.render_platform(sets=[*WEBHOOK_ON, *sets])
    assert message in err.value.stderr


def test_least_privilege_database_roles_are_on_by_default(render) -> None:
    """The production values: the hook runs `talent db roles` as the owner with passwords from
    talent-db-role-passwords, and every other platform pod connects as its own role: Dagster's
    storage as talent_dagster, the exporter and the webhook with their own URLs (helm/README.md,
    "Database roles")."""
    chart_defaults = yaml.safe_load((render.PLATFORM_CHART / "values.yaml").read_text())
    assert chart_defaults["migrate"]["roles"]["enabled"] is True
    on = render.render_platform()
    (c,) = on.one("Job")["spec"]["template"]["spec"]["containers"]
    assert c["command"][-1] == "dagster instance migrate && talent db migrate && talent db roles"
    env = {e["name"]: e.get("valueFrom", {}).get("secretKeyRef") for e in c["env"]}
    assert env["DAGSTER_PG_PASSWORD"]["name"] == "dagster-postgresql"  # the owner migrates
    assert env["TALENT_DATABASE_URL"]["name"] == "talent-database"
    passwords = {n: ref for n, ref in env.items() if n.startswith("TALENT_DB_PASSWORD_")}
    assert sorted(passwords) == [
        f"TALENT_DB_PASSWORD_{k}" for k in sorted(["CANDIDATES", "JOBS", "MATCHING", "DAGSTER", "EXPORTER", "INGEST"])
    ]
    assert all(r["name"] == "talent-db-role-passwords" and r["optional"] is True for r in passwords.values())
    hook = yaml.safe_load(on.get("ConfigMap", "platform-migrate-instance")["data"]["dagster.yaml"])
    instance = yaml.safe_load(on.get("ConfigMap", "platform-instance")["data"]["dagster.yaml"])
    assert hook["storage"]["postgres"]["postgres_db"]["username"] == "dagster"
    assert instance["storage"]["postgres"]["postgres_db"]["username"] == "talent_dagster"
    assert instance["run_launcher"]["config"]["postgres_password_secret"] == "talent-db-dagster"
    for name in ("platform-webserver", "platform-daemon"):
        (pod,) = on.get("Deployment", name)["spec"]["template"]["spec"]["containers"]
        refs = {e["name"]: e["valueFrom"]["secretKeyRef"]["name"] for e in pod["env"] if "valueFrom" in e}
        assert refs["DAGSTER_PG_PASSWORD"] == "talent-db-dagster", name
    (exporter,) = on.get("Deployment", "platform-cost-exporter")["spec"]["template"]["spec"]["containers"]
    url = next(e for e in exporter["env"] if e["name"] == "TALENT_DATABASE_URL")
    assert url["valueFrom"]["secretKeyRef"] == {"name": "talent-db-exporter", "key": "database-url"}


OWNER_SECRETS = {"dagster-postgresql", "talent-database"}


def _secret_names(node) -> set[str]:
    """Secrets named by secretKeyRef or dagster-k8s's postgres_password_secret, anywhere in
    ``node``, embedded JSON or YAML strings included (the container context, dagster.yaml)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("secretKeyRef", "secret_key_ref") and isinstance(value, dict):
                found.add(value["name"])
            elif key == "postgres_password_secret" and isinstance(value, str):
                found.add(value)
            found |= _secret_names(value)
    elif isinstance(node, list):
        for item in node:
            found |= _secret_names(item)
    elif isinstance(node, str) and ("\n" in node or node.lstrip().startswith("{")):
        try:
            embedded = yaml.safe_load(node)
        except yaml.YAMLError:
            return found
        if isinstance(embedded, (dict, list)):
            found |= _secret_names(embedded)
    return found


@pytest.mark.parametrize("kind", [False, True], ids=["prod", "kind"])
def test_only_the_migrate_hook_reads_the_owners_secrets(render, kind: bool) -> None:
    """A production (and e2e) install of the platform and every team: the master user's Secrets
    are in the migrate hook and nowhere else, run pods included (the launcher's Secret)."""
    docs = list(render.render_platform(kind=kind).docs)
    for team in render.TEAMS:
        docs += render.render_team(team, kind=kind).docs
    readers = {f"{d['kind']}/{d['metadata']['name']}" for d in docs if _secret_names(d) & OWNER_SECRETS}
    assert readers == {"Job/platform-migrate"}
    # and the scan sees the storage role's Secret where it must be: instance (run pods), code servers
    storage = {f"{d['kind']}/{d['metadata']['name']}" for d in docs if "talent-db-dagster" in _secret_names(d)}
    assert {"ConfigMap/platform-instance", "Deployment/candidates-code-server"} <= storage


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["migrate.postgresql.secretName=talent-db-dagster"], "postgresql.secretName is Dagster's storage role"),
        (["postgresql.secretName=dagster-postgresql"], "postgresql.secretName is Dagster's storage role"),
        (["postgresql.username=dagster"], "must differ"),
        (["costExporter.databaseUrlSecret.name="], "costExporter.databaseUrlSecret must name the talent_exporter"),
        (["costExporter.databaseUrlSecret.name=talent-database"], "costExporter.databaseUrlSecret must name"),
        (["webhook.databaseUrlSecret.name=talent-database"], "webhook.databaseUrlSecret must name the talent_ingest"),
    ],
)
def test_with_roles_on_no_pod_may_connect_as_the_owner(render, sets: list[str], message: str) -> None:
    with pytest.raises(render.HelmError) as err:
        render.render_platform(sets=sets)
    assert message in err.value.stderr


def test_roles_can_be_switched_off_and_then_everything_uses_the_owner(render) -> None:
    off = render.render_platform(
        sets=[
            "migrate.roles.enabled=false",
            "postgresql.username=dagster",
            "postgresql.secretName=dagster-postgresql",
            "costExporter.databaseUrlSecret.name=",
            "webhook.databaseUrlSecret.name=",
        ]
    )
    (c,) = off.one("Job")["spec"]["template"]["spec"]["containers"]
    assert "talent db roles" not in c["command"][-1]
    assert not any(e["name"].startswith("TALENT_DB_PASSWORD_") for e in c["env"])
    (exporter,) = off.get("Deployment", "platform-cost-exporter")["spec"]["template"]["spec"]["containers"]
    url = next(e for e in exporter["env"] if e["name"] == "TALENT_DATABASE_URL")
    assert url["valueFrom"]["secretKeyRef"]["name"] == "talent-database"

    # RDS IAM authentication instead of passwords
    iam = render.render_platform(sets=["migrate.roles.login=true", "migrate.roles.passwordSecret="])
    (c,) = iam.one("Job")["spec"]["template"]["spec"]["containers"]
    assert c["command"][-1].endswith("talent db roles --login")
    assert not any(e["name"].startswith("TALENT_DB_PASSWORD_") for e in c["env"])
