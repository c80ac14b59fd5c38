"""The effective step pod of every asset, computed with dagster-k8s's own functions, in the
step handler's merge order (dagster_k8s/executor.py):

1. the platform's K8sRunLauncher config, from the rendered instance ConfigMap;
2. the code location's container context, from the rendered DAGSTER_CLI_API_GRPC_CONTAINER_CONTEXT;
3. the executor config (`step_k8s_config`: talent_shared.compute.STEP_K8S_CONFIG, no API token);
4. the asset's op tags (`dagster-k8s/config`).

`construct_dagster_k8s_job` then builds the V1Job the executor would create.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
from typing import Any

import pytest

TEAMS = ("candidates", "jobs", "matching")
ARGS = ["dagster", "api", "execute_step", "{}"]


def _assets(team: str) -> list[tuple[str, dict[str, Any]]]:
    """(op name, op tags) of every asset this location executes (stubs of other teams excluded)."""
    defs = importlib.import_module(f"talent_{team}.definitions").defs
    out = []
    for node in defs.resolve_asset_graph().asset_nodes:
        if node.is_executable and node.is_materializable:
            op = node.assets_def.op
            out.append((op.name, dict(op.tags)))
    assert out, f"{team} executes no asset"
    return out


def _launcher(render, kind: bool):
    from dagster._config import process_config
    from dagster_k8s import K8sRunLauncher

    config = render.instance_yaml(render.render_platform(kind=kind))["run_launcher"]["config"]
    processed = process_config(K8sRunLauncher.config_type(), config)
    assert processed.success, processed.errors
    return processed.value


def effective_step_job(render, team: str, op_name: str, op_tags: dict[str, Any], kind: bool = False):
    """Returns (V1Job, merged K8sContainerContext) for one asset's step."""
    from dagster_k8s.container_context import K8sContainerContext
    from dagster_k8s.job import (
        DagsterK8sJobConfig,
        UserDefinedDagsterK8sConfig,
        construct_dagster_k8s_job,
        get_user_defined_k8s_config,
    )

    lc = _launcher(render, kind)
    launcher_ctx = K8sContainerContext(
        image_pull_policy=lc.get("image_pull_policy"),
        service_account_name=lc.get("service_account_name"),
        env_config_maps=lc.get("env_config_maps"),
        env_secrets=lc.get("env_secrets"),
        env_vars=lc.get("env_vars"),
        volume_mounts=lc.get("volume_mounts"),
        volumes=lc.get("volumes"),
        labels=lc.get("labels"),
        namespace=lc.get("job_namespace"),
        resources=lc.get("resources"),
        security_context=lc.get("security_context"),
        run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(lc.get("run_k8s_config") or {}),
    )
    team_render = render.render_team(team, kind=kind)
    location_ctx = K8sContainerContext.create_from_config(render.container_context(team_render))
    from talent_shared.compute import executor

    # the executor's own config, as talent_shared.compute.executor("k8s") configures it
    step_k8s_config = executor("k8s").config_schema.resolve_config({}).value["config"]["step_k8s_config"]
    executor_ctx = K8sContainerContext(run_k8s_config=UserDefinedDagsterK8sConfig.from_dict(step_k8s_config))
    op_ctx = K8sContainerContext(run_k8s_config=get_user_defined_k8s_config(op_tags))
    ctx = K8sContainerContext().merge(launcher_ctx).merge(location_ctx).merge(executor_ctx).merge(op_ctx)

    job_config = DagsterK8sJobConfig(
        job_image=render.current_image(team_render),
        dagster_home=lc["dagster_home"],
        instance_config_map=lc["instance_config_map"],
        postgres_password_secret=lc["postgres_password_secret"],
    )
    job = construct_dagster_k8s_job(
        job_config=job_config,
        args=ARGS,
        job_name=f"dagster-step-{op_name}".replace("_", "-")[:63],
        user_defined_k8s_config=ctx.run_k8s_config,
        component="step_worker",
        labels={"dagster/op": op_name, "dagster/code-location": team},
    )
    return job, ctx


def _api_dict(job) -> dict[str, Any]:
    import kubernetes

    return kubernetes.client.ApiClient().sanitize_for_serialization(job)


CASES = [(team, kind) for team in TEAMS for kind in (False, True)]


@pytest.mark.parametrize(("team", "kind"), CASES, ids=[f"{t}-{'kind' if k else 'prod'}" for t, k in CASES])
def test_every_asset_step_pod_carries_its_declared_resources(render, team: str, kind: bool) -> None:
    from dagster_k8s.job import get_user_defined_k8s_config

    report = []
    for op_name, tags in _assets(team):
        declared = get_user_defined_k8s_config(tags).container_config.get("resources")
        assert declared and declared.get("requests") and declared.get("limits"), (
            f"{team}/{op_name} declares no resources"
        )
        job, ctx = effective_step_job(render, team, op_name, tags, kind)
        body = _api_dict(job)
        pod = body["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["resources"] == declared, f"{team}/{op_name}: {container['resources']} != {declared}"
        # The rest of the chain survived the merge.
        assert ctx.namespace == render.NAMESPACE
        assert pod["serviceAccountName"] == f"{team}-code-server"
        # the run pod holds a token to launch its steps (the launcher's config); a step gets none
        assert pod["automountServiceAccountToken"] is False
        assert body["spec"]["ttlSecondsAfterFinished"] == (7200 if kind else 600)
        assert body["spec"]["backoffLimit"] == 0
        env = {e["name"] for e in container["env"]}
        assert {"DAGSTER_PG_PASSWORD", "DAGSTER_HOME", "TALENT_DATABASE_URL"} <= env
        assert [s["configMapRef"]["name"] for s in container["envFrom"] if "configMapRef" in s] == [
            f"{team}-code-server-env"
        ]
        assert body["spec"]["template"]["metadata"]["labels"]["talent.io/code-location"] == team
        assert container["image"] == render.current_image(render.render_team(team, kind=kind))
        report.append(f"{team}/{op_name}: requests={declared['requests']} limits={declared['limits']}")
    print("\n".join(report))


@pytest.mark.parametrize("team", TEAMS)
def test_merge_order_is_launcher_then_location_then_op_tags(render, team: str) -> None:
    """Without op tags a step gets the location's run defaults, which beat the launcher's; a
    partial op tag overrides only the keys it sets (deep merge since dagster 1.7)."""
    lc = _launcher(render, False)["resources"]
    location = render.container_context(render.render_team(team))["k8s"]["resources"]
    assert location != lc
    bare, _ = effective_step_job(render, team, "untagged", {})
    assert _api_dict(bare)["spec"]["template"]["spec"]["containers"][0]["resources"] == location

    # Op tags reach the step handler JSON-encoded, as dagster stores them.
    partial = {"dagster-k8s/config": json.dumps({"container_config": {"resources": {"limits": {"memory": "3Gi"}}}})}
    job, _ = effective_step_job(render, team, "partial", partial)
    resources = _api_dict(job)["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert resources["limits"] == {**location["limits"], "memory": "3Gi"}
    assert resources["requests"] == location["requests"]


@pytest.mark.parametrize("team", TEAMS)
def test_step_jobs_validate_and_meet_restricted(render, team: str, k8s_validate) -> None:
    for op_name, tags in _assets(team):
        job, _ = effective_step_job(render, team, op_name, tags)
        body = _api_dict(job)
        k8s_validate(body)
        problems = render.restricted_violations(body["spec"]["template"]["spec"])
        assert not problems, f"{team}/{op_name}: {problems}"


@pytest.mark.parametrize("team", TEAMS)
def test_locations_run_the_k8s_executor_on_the_cluster(team: str) -> None:
    """With TALENT_EXECUTOR=k8s (the chart's env ConfigMap), the implicit asset job's executor is
    k8s_job_executor, so op tags apply per step (under the run launcher alone they are ignored,
    dagster#22865). A subprocess: settings are cached."""
    code = (
        f"import talent_{team}.definitions as d; "
        "print(d.defs.resolve_implicit_global_asset_job_def().executor_def.name)"
    )
    env = {**os.environ, "TALENT_EXECUTOR": "k8s"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "k8s"
