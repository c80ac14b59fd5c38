"""Values written for the official Dagster chart carry over by copy where these charts configure
the same thing under the same name: each block of tests/helm/data/official-chart-values.yaml is
copied, as it is, under the same block here (a user deployment: at the top level of a
code-location release), minus the keys listed here as configured elsewhere (helm/README.md,
"Coming from the official chart", says where), and the render carries every copied value.
A key that stops being shared, or starts to be, fails the test until the lists here say so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

OFFICIAL = yaml.safe_load((Path(__file__).parent / "data" / "official-chart-values.yaml").read_text())
POD_KEYS = ("nodeSelector", "affinity", "tolerations")

# official block -> (chart, our block ("": the top level), official keys configured elsewhere here, Deployment)
BLOCKS: dict[str, tuple[str, str, set[str], str]] = {
    "dagsterWebserver": ("platform", "dagsterWebserver", {"envSecrets"}, "platform-webserver"),
    "dagsterDaemon": ("platform", "dagsterDaemon", {"heartbeatTolerance"}, "platform-daemon"),
    "dagster-user-deployments.deployments[0]": ("code-location", "", {"envSecrets"}, "candidates-code-server"),
}


def _official(path: str) -> dict[str, Any]:
    if path.endswith("[0]"):
        top, rest = path.removesuffix("[0]").split(".", 1)
        return OFFICIAL[top][rest][0]
    return OFFICIAL[path]


def _schema_keys(render, chart: str, block: str) -> set[str]:
    schema = json.loads((render.HELM_DIR / chart / "values.schema.json").read_text())
    node = schema["properties"][block] if block else schema
    # A key the schema names only to refuse it with its new name (a single-message enum) is not shared.
    return {k for k, v in node["properties"].items() if "enum" not in v or len(v["enum"]) > 1}


def _copy(render, path: str) -> dict[str, Any]:
    chart, block, elsewhere, _ = BLOCKS[path]
    official = _official(path)
    shared = set(official) & _schema_keys(render, chart, block)
    # Every official key is either taken by copy or listed as configured elsewhere, never both.
    assert set(official) - shared == elsewhere, f"{path}: keys not shared changed"
    return {k: v for k, v in official.items() if k in shared}


def _render(render, chart: str, values: dict[str, Any], tmp_path: Path):
    f = tmp_path / "copied.yaml"
    f.write_text(yaml.safe_dump(values))
    if chart == "platform":
        files = (*render.values_files("platform"), f)
        return render.template(render.PLATFORM_CHART, "platform", files)
    return render.template(render.CODE_LOCATION_CHART, "candidates", (*render.values_files("candidates"), f))


@pytest.mark.parametrize("path", sorted(BLOCKS))
def test_pod_settings_copied_from_the_official_chart_apply(render, tmp_path, path: str) -> None:
    chart, block, _, deployment = BLOCKS[path]
    copied = _copy(render, path)
    r = _render(render, chart, {block: copied} if block else copied, tmp_path)
    dep = r.get("Deployment", deployment)
    spec = dep["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    if "replicaCount" in copied:
        assert dep["spec"]["replicas"] == copied["replicaCount"]
    for key in POD_KEYS:
        if key in copied:
            assert spec[key] == copied[key], key
    assert copied["resources"] == container["resources"]
    # The security contexts are merged over the restricted defaults: every copied key lands.
    for key, value in copied.get("podSecurityContext", {}).items():
        assert spec["securityContext"][key] == value
    for key, value in copied.get("securityContext", {}).items():
        assert container["securityContext"][key] == value
    assert render.restricted_violations(spec) == []


def test_the_official_ingress_block_is_accepted_as_is(render, tmp_path) -> None:
    """The webserver's part of the official `ingress` block is ours, whole."""
    values = {"ingress": OFFICIAL["ingress"], "dagsterWebserver": {"pathPrefix": "/dagster"}}
    r = _render(render, "platform", values, tmp_path)
    ingress = r.one("Ingress")
    web = OFFICIAL["ingress"]["dagsterWebserver"]
    assert ingress["metadata"]["annotations"] == OFFICIAL["ingress"]["annotations"]
    assert ingress["metadata"]["labels"]["team"] == "data-platform"
    assert ingress["spec"]["tls"] == [{"hosts": [web["host"]], "secretName": web["tls"]["secretName"]}]
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert (rule["host"], path["path"], path["pathType"]) == (web["host"], web["path"], web["pathType"])


def test_the_official_instance_blocks_are_accepted_as_is(render, tmp_path) -> None:
    """The blocks the official chart renders into dagster.yaml and workspace.yaml (the workspace's
    servers, the daemon's run queue, monitoring and retries, the run launcher, the compute log
    manager, retention, additionalInstanceConfig), copied whole, land in the instance and the
    workspace."""
    web, daemon = OFFICIAL["dagsterWebserver"], OFFICIAL["dagsterDaemon"]
    values = {
        "dagsterWebserver": {"workspace": web["workspace"]},
        "dagsterDaemon": {k: daemon[k] for k in ("runCoordinator", "runMonitoring", "runRetries")},
        "runLauncher": OFFICIAL["runLauncher"],
        "computeLogManager": OFFICIAL["computeLogManager"],
        "retention": OFFICIAL["retention"],
        "additionalInstanceConfig": OFFICIAL["additionalInstanceConfig"],
    }
    r = _render(render, "platform", values, tmp_path)
    servers = [e["grpc_server"] for e in render.workspace_yaml(r)["load_from"]]
    assert servers == [
        {"host": s["host"], "port": s["port"], "location_name": s["name"]} for s in web["workspace"]["servers"]
    ]
    instance = render.instance_yaml(r)
    queued = daemon["runCoordinator"]["config"]["queuedRunCoordinator"]
    runs = instance["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] == queued["maxConcurrentRuns"]
    # The per-location limit comes first, then the copied limits as written.
    assert runs["tag_concurrency_limits"][0]["key"] == "dagster/code_location"
    assert runs["tag_concurrency_limits"][1:] == queued["tagConcurrencyLimits"]
    assert instance["run_coordinator"]["config"] == {
        "dequeue_use_threads": queued["dequeueUseThreads"],
        "dequeue_num_workers": queued["dequeueNumWorkers"],
    }
    assert instance["run_monitoring"]["start_timeout_seconds"] == daemon["runMonitoring"]["startTimeoutSeconds"]
    assert instance["run_monitoring"]["poll_interval_seconds"] == daemon["runMonitoring"]["pollIntervalSeconds"]
    assert instance["run_retries"]["max_retries"] == daemon["runRetries"]["maxRetries"]
    k8s = OFFICIAL["runLauncher"]["config"]["k8sRunLauncher"]
    launcher = instance["run_launcher"]["config"]
    assert launcher["resources"] == k8s["resources"]
    assert launcher["fail_pod_on_run_failure"] is k8s["failPodOnRunFailure"]
    run_k8s = launcher["run_k8s_config"]
    assert run_k8s["pod_spec_config"]["nodeSelector"] == k8s["runK8sConfig"]["podSpecConfig"]["nodeSelector"]
    assert (
        run_k8s["job_spec_config"]["ttlSecondsAfterFinished"]
        == k8s["runK8sConfig"]["jobSpecConfig"]["ttlSecondsAfterFinished"]
    )
    s3 = OFFICIAL["computeLogManager"]["config"]["s3ComputeLogManager"]
    logs = instance["compute_logs"]["config"]
    assert (logs["bucket"], logs["prefix"], logs["region"], logs["upload_interval"]) == (
        s3["bucket"],
        s3["prefix"],
        s3["region"],
        s3["uploadInterval"],
    )
    assert logs["locations"] == [s["name"] for s in web["workspace"]["servers"]]
    retention = OFFICIAL["retention"]
    assert instance["retention"]["sensor"] == {"purge_after_days": retention["sensor"]["purgeAfterDays"]}
    assert instance["retention"]["schedule"] == {"purge_after_days": retention["schedule"]["purgeAfterDays"]}
    assert instance["sensors"] == OFFICIAL["additionalInstanceConfig"]["sensors"]


def test_an_official_user_deployment_is_a_team_release(render, tmp_path) -> None:
    """One entry of dagster-user-deployments.deployments[], minus what is configured elsewhere, is
    a code-location release's values: its name, module, port, image and volumes reach the code
    server, and its volumes reach the team's run and step pods too."""
    entry = _copy(render, "dagster-user-deployments.deployments[0]")
    r = _render(render, "code-location", entry, tmp_path)
    (container,) = r.get("Deployment", "candidates-code-server")["spec"]["template"]["spec"]["containers"]
    command = container["command"]
    assert command[command.index("--module-name") + 1] == entry["dagsterApiGrpcArgs"][1]
    assert command[command.index("--location-name") + 1] == entry["name"]
    assert command[command.index("--port") + 1] == str(entry["port"])
    assert render.current_image(r) == f"{entry['image']['repository']}:{entry['image']['tag']}"
    assert entry["volumeMounts"][0] in container["volumeMounts"]
    context = render.container_context(r)["k8s"]
    assert context["volumes"] == entry["volumes"] and context["volume_mounts"] == entry["volumeMounts"]
    assert (
        r.get("ConfigMap", "candidates-code-server-env")["data"]["TALENT_LOG_LEVEL"] == entry["env"]["TALENT_LOG_LEVEL"]
    )


def test_the_readme_maps_every_official_value_it_names_to_one_of_ours(render) -> None:
    """The mapping table in helm/README.md names values of ours that exist (schema paths)."""
    text = (render.HELM_DIR / "README.md").read_text()
    section = text.split("## Coming from the official chart", 1)[1].split("\n## ", 1)[0]
    # The mapping table (the renames table after it says what the names before these became).
    section = section.split("**Names before these.**", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) >= 20, "the mapping table is missing"
    schemas = {
        c: json.loads((render.HELM_DIR / c / "values.schema.json").read_text()) for c in ("platform", "code-location")
    }
    for row in rows:
        ours = row.split("|")[2].strip()
        chart = "code-location" if "(team)" in ours else "platform"
        names = ours.split("`")[1::2]
        assert names, row
        for name in names:
            node = schemas[chart]
            for key in name.split("[]")[0].split("."):
                assert "properties" in node and key in node["properties"], f"{row}: {name} is not a {chart} value"
                node = node["properties"][key]
