"""One owner per release (issue 20, item 2): Terraform owns the infrastructure and the cluster's
add-ons, Helm owns the releases of this repository's charts.

Terraform once installed ``helm/platform`` on every apply with ``helm/values/platform.yaml``'s image
tag, while the READMEs told the platform team to ``helm upgrade`` it with a new one: a plain apply
rolled the platform back. No provider can be downloaded here, so the real stack cannot be planned;
instead these tests show the situation cannot arise: no Terraform resource installs a chart of
this repository, the objects a plain apply writes are not the platform release's, the overlays
Terraform outputs name no image tag, the documented deploys layer the overlay and set the tag, and
states holding the old release forget it rather than uninstall it (validated and planned by the
pinned ``tofu`` itself, with a built-in resource standing in for the Helm provider's).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import chartcontract as cc
import pytest
import yaml
from tfcheck import blocks, load_dir, strings, unquote

from conftest import REPO, TERRAFORM

PLATFORM_RELEASE_MODULE = TERRAFORM / "modules" / "platform_release"
TOFU = REPO / ".tools" / "bin" / "tofu"
# The releases Terraform installs (resource name -> chart): the cluster's add-ons only.
ADDON_RELEASES = {
    "external_secrets": "external-secrets",
    "secret_sync": "${path.module}/charts/talent-secret-sync",
    "monitoring": "kube-prometheus-stack",
}
REPO_CHARTS = ("helm/platform", "helm/code-location")
NEW_TAG = "4f2c9e1"


@pytest.fixture(scope="module", autouse=True)
def _helm_available():
    cc.require_helm()


@pytest.fixture(params=cc.ENVS)
def env(request) -> str:
    return request.param


def _tf_dirs() -> list[Path]:
    return sorted({p.parent for p in TERRAFORM.rglob("*.tf") if ".terraform" not in p.parts})


def _resources(kind: str) -> dict[str, tuple[Path, dict]]:
    found = {}
    for directory in _tf_dirs():
        for path, label, body in blocks(load_dir(directory), "resource"):
            if label == kind:
                for name, resource in body.items():
                    found[f"{path.relative_to(TERRAFORM)}:{unquote(name)}"] = (path, resource)
    return found


def test_terraform_installs_only_the_cluster_addons():
    releases = {key.rsplit(":", 1)[1]: unquote(body["chart"]) for key, (_, body) in _resources("helm_release").items()}
    assert releases == ADDON_RELEASES
    assert not _resources("kubernetes_manifest"), "a kubernetes_manifest could write a release's objects"


def test_no_terraform_expression_names_a_chart_of_this_repository():
    """Comments may mention them; no argument, local or path may (python-hcl2 drops comments)."""
    offenders = []
    for directory in _tf_dirs():
        for path, doc in load_dir(directory).items():
            offenders += [f"{path}: {text}" for text in strings(doc) if any(chart in text for chart in REPO_CHARTS)]
    assert offenders == []


def _removed_blocks() -> list[dict]:
    return [block for doc in load_dir(PLATFORM_RELEASE_MODULE).values() for block in doc.get("removed", [])]


def test_the_old_platform_release_is_forgotten_not_destroyed():
    """States from before hold module.stack.module.platform_release.helm_release.this: the first
    apply must drop it from the state and leave the running release alone."""
    (removed,) = _removed_blocks()
    assert unquote(removed["from"]) == "${helm_release.this}"
    (lifecycle,) = removed["lifecycle"]
    assert lifecycle["destroy"] is False
    assert not any(key.endswith("platform_release/main.tf:this") for key in _resources("helm_release"))


def _require_tofu() -> None:
    if not TOFU.exists():
        message = f"OpenTofu not built at {TOFU}; see terraform/README.md (make tools)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def _tofu_validate(tmp_path: Path, module_text: str) -> subprocess.CompletedProcess:
    _require_tofu()
    (tmp_path / "module").mkdir()
    (tmp_path / "module" / "main.tf").write_text(module_text)
    (tmp_path / "main.tf").write_text('module "platform_release" {\n  source = "./module"\n}\n')
    env = dict(os.environ, TF_CLI_CONFIG_FILE=os.devnull, TF_IN_AUTOMATION="1")
    for args in (["init", "-backend=false", "-input=false", "-no-color"], ["validate", "-no-color"]):
        result = subprocess.run([str(TOFU), *args], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
        if result.returncode != 0:
            return result
    return result


def _removed_block_text() -> str:
    text = (PLATFORM_RELEASE_MODULE / "main.tf").read_text()
    match = re.search(r"^removed \{\n.*?^\}\n", text, flags=re.S | re.M)
    assert match, "no removed block in modules/platform_release/main.tf"
    return match.group(0)


def test_the_pinned_tofu_accepts_the_removed_block(tmp_path: Path):
    """The `removed` block as written (lifecycle included), validated by the project's OpenTofu."""
    result = _tofu_validate(tmp_path, _removed_block_text())
    assert result.returncode == 0, result.stdout + result.stderr


def test_tofu_validation_of_a_removed_block_can_fail(tmp_path: Path):
    broken = _removed_block_text().replace("destroy = false", "uninstall = false")
    result = _tofu_validate(tmp_path, broken)
    assert result.returncode != 0 and "uninstall" in result.stdout + result.stderr


def _tofu(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, TF_CLI_CONFIG_FILE=os.devnull, TF_IN_AUTOMATION="1")
    result = subprocess.run([str(TOFU), *args], cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def _first_plan_after_the_split(tmp_path: Path, removed_block: str) -> dict[str, list[str]]:
    """A state holding the old release at its address, then the first plan with the `removed` block.

    The Helm provider cannot be downloaded here, so `terraform_data` (built into tofu) stands in for
    `helm_release` at the same address; what the plan does with a removed address does not depend
    on the resource's type. Returns each planned address's actions, from `tofu show -json`.
    """
    _require_tofu()
    (tmp_path / "module").mkdir()
    (tmp_path / "main.tf").write_text('module "platform_release" {\n  source = "./module"\n}\n')
    (tmp_path / "module" / "main.tf").write_text('resource "terraform_data" "this" {\n  input = "0.1.0"\n}\n')
    _tofu(tmp_path, "init", "-input=false", "-no-color")
    _tofu(tmp_path, "apply", "-auto-approve", "-input=false", "-no-color")
    stand_in = removed_block.replace("helm_release.this", "terraform_data.this")
    assert stand_in != removed_block, "the removed block no longer names helm_release.this"
    (tmp_path / "module" / "main.tf").write_text(stand_in)
    _tofu(tmp_path, "plan", "-input=false", "-no-color", "-out=first.plan")
    plan = json.loads(_tofu(tmp_path, "show", "-json", "first.plan").stdout)
    return {change["address"]: change["change"]["actions"] for change in plan.get("resource_changes", [])}


def test_the_first_plan_after_the_split_forgets_the_old_release(tmp_path: Path):
    """Run by the pinned tofu: the old release leaves the state and nothing is destroyed."""
    actions = _first_plan_after_the_split(tmp_path, _removed_block_text())
    assert actions == {"module.platform_release.terraform_data.this": ["forget"]}


def test_the_first_plan_would_uninstall_with_destroy_left_on(tmp_path: Path):
    """The check above can fail: the same block with destroy = true plans an uninstall."""
    block = _removed_block_text()
    assert "destroy = false" in block
    actions = _first_plan_after_the_split(tmp_path, block.replace("destroy = false", "destroy = true"))
    assert actions == {"module.platform_release.terraform_data.this": ["delete"]}


def test_the_overlays_name_no_image_tag(env):
    """The tag is the deploy's alone: an overlay written after any apply keeps the running image."""
    assert set(cc.terraform_platform_values(env)["image"]) == {"repository"}
    for team, overlay in cc.terraform_team_values(env).items():
        assert set(overlay["image"]) == {"repository"}, team


def _platform_deploys() -> list[tuple[str, list[str]]]:
    """Every production `helm upgrade --install platform` the READMEs document: the Deploying section
    of helm/README.md and terraform/README.md (both use Terraform's overlay)."""
    sections = [
        ("helm/README.md", (REPO / "helm" / "README.md").read_text().split("## Deploying", 1)[1].split("\n## ", 1)[0]),
        ("terraform/README.md", (TERRAFORM / "README.md").read_text()),
    ]
    deploys = []
    for readme, text in sections:
        for block in re.findall(r"```sh\n(.*?)```", text, flags=re.S):
            joined = block.replace("\\\n", " ")
            for line in joined.splitlines():
                if line.strip().startswith("helm upgrade --install platform "):
                    deploys.append((readme, shlex.split(line)))
    return deploys


def test_every_documented_platform_deploy_layers_the_overlay_and_sets_the_tag():
    deploys = _platform_deploys()
    assert {readme for readme, _ in deploys} == {"helm/README.md", "terraform/README.md"}
    schema = json.loads((cc.PLATFORM_CHART / "values.schema.json").read_text())
    for readme, args in deploys:
        assert args[4] == "helm/platform", (readme, args)
        files = [args[i + 1] for i, a in enumerate(args) if a == "-f"]
        assert files[0] == "helm/values/platform.yaml", (readme, args)
        assert len(files) == 2 and re.fullmatch(r"helm/values/platform\.infra-(dev|prod|<env>)\.yaml", files[1]), (
            f"{readme}: `{' '.join(args)}` lacks the infrastructure overlay (tofu output platform_values)"
        )
        sets = [args[i + 1] for i, a in enumerate(args) if a == "--set"]
        assert sets == ["image.tag=$GIT_SHA"], (readme, args)
        assert cc.check_set_blocks([s.split("=", 1)[0] for s in sets], schema) == []


def _deploy_platform(env: str, tmp_path: Path, tag: str) -> list[dict]:
    """helm/README.md's platform deploy, as `helm template`, with the overlay `tofu output -json
    platform_values` writes (JSON, which Helm reads as YAML) and `--set image.tag=<tag>`."""
    _, args = next(d for d in _platform_deploys() if d[0] == "helm/README.md")
    files = [args[i + 1] for i, a in enumerate(args) if a == "-f"]
    overlay = tmp_path / Path(files[1]).name
    overlay.write_text(json.dumps(cc.terraform_platform_values(env), indent=2))
    helm = cc.find_helm()
    assert helm
    command = [helm, "template", "platform", str(REPO / args[4]), "--namespace", cc.NAMESPACE]
    command += ["--kube-version", cc.KUBE_VERSION, "-f", str(REPO / files[0]), "-f", str(overlay)]
    command += ["--set", f"image.tag={tag}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def _terraform_objects(env: str, tmp_path: Path) -> set[tuple[str, str, str]]:
    """(namespace, kind, name) of every object a plain `tofu apply` writes: the namespace, the CA
    ConfigMap, the rendered talent-secret-sync release, and nothing in `talent` from the remote add-on
    charts, which install into their own namespaces."""
    module = cc.module_arguments(env, "platform_release")
    objects = {
        ("", "Namespace", cc.NAMESPACE),
        (cc.NAMESPACE, "ConfigMap", cc.evaluate(module["database_ca_config_map"], cc.env_context(env))),
    }
    values = tmp_path / "sync.yaml"
    values.write_text(yaml.safe_dump({"region": "eu-west-1", "externalSecrets": cc.terraform_external_secrets(env)}))
    for doc in cc.helm_template(cc.SECRET_SYNC_CHART, "talent-secret-sync", [values]):
        objects.add((cc.NAMESPACE, doc["kind"], doc["metadata"]["name"]))
    variables = {name: body for _, name, body in blocks(load_dir(PLATFORM_RELEASE_MODULE), "variable")}
    for _, (_, body) in _resources("helm_release").items():
        if unquote(body["chart"]) in ("external-secrets", "kube-prometheus-stack"):
            namespace = unquote(body["namespace"]).removeprefix("${var.").removesuffix("}")
            assert unquote(variables[namespace]["default"]) != cc.NAMESPACE, body
    return objects


def test_a_plain_apply_after_a_helm_upgrade_keeps_the_new_image(env, tmp_path):
    """The platform team deploys a new image as documented; then someone runs a plain `tofu apply`.
    The apply writes only Terraform's own objects, none of which belongs to the platform release,
    so every platform pod still runs the image just deployed, not helm/values/platform.yaml's tag."""
    docs = _deploy_platform(env, tmp_path, NEW_TAG)
    repository = cc.terraform_platform_values(env)["image"]["repository"]
    images = set()
    for doc in docs:
        spec = doc.get("spec", {})
        pod = spec.get("template", {}).get("spec") or spec.get("jobTemplate", {}).get("spec", {}).get(
            "template", {}
        ).get("spec")
        for container in (pod or {}).get("containers", []) + (pod or {}).get("initContainers", []):
            if container["image"].startswith(repository):
                images.add(container["image"])
    assert images == {f"{repository}:{NEW_TAG}"}

    platform_objects = {(cc.NAMESPACE, d["kind"], d["metadata"]["name"]) for d in docs}
    assert platform_objects & _terraform_objects(env, tmp_path) == set()
    values_file_tag = cc.load_yaml(cc.VALUES_DIR / "platform.yaml")["image"]["tag"]
    assert values_file_tag != NEW_TAG  # else the test could not tell a rollback from the deploy
