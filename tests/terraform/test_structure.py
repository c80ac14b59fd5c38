"""Parse-level checks of every module and root stack under terraform/."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import hcl2
import pytest
from chartcontract import terraform_monitoring_values
from tfcheck import (
    blocks,
    check_module_pins,
    check_outputs,
    check_provider_pins,
    check_variables,
    load_dir,
    unquote,
)

from conftest import MODULE_DIRS, ROOT_DIRS, STACK, TERRAFORM

ALL_DIRS = MODULE_DIRS + ROOT_DIRS
ids = lambda d: str(d.relative_to(TERRAFORM))  # noqa: E731


def test_tree_has_the_expected_modules_and_environments():
    assert {d.name for d in MODULE_DIRS} >= {
        "network",
        "eks",
        "database",
        "storage",
        "registry",
        "team_iam",
        "secrets",
        "platform_release",
        "kms_key",
        "stack",
    }
    assert {d.name for d in ROOT_DIRS} == {"dev", "prod"}


@pytest.mark.parametrize("path", sorted(TERRAFORM.rglob("*.tf")), ids=lambda p: str(p.relative_to(TERRAFORM)))
def test_every_tf_file_parses(path: Path):
    with path.open() as handle:
        assert isinstance(hcl2.load(handle), dict)


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=ids)
def test_module_has_standard_files(directory: Path):
    missing = {"main.tf", "variables.tf", "outputs.tf", "versions.tf"} - {p.name for p in directory.glob("*.tf")}
    assert not missing, f"{directory} lacks {sorted(missing)}"


@pytest.mark.parametrize("directory", ALL_DIRS, ids=ids)
def test_variables_are_described_typed_used_and_declared(directory: Path):
    assert check_variables(directory) == []


@pytest.mark.parametrize("directory", ALL_DIRS, ids=ids)
def test_outputs_are_described(directory: Path):
    assert check_outputs(directory) == []


@pytest.mark.parametrize("directory", ALL_DIRS, ids=ids)
def test_module_sources_are_pinned(directory: Path):
    assert check_module_pins(directory) == []


@pytest.mark.parametrize("directory", MODULE_DIRS, ids=ids)
def test_modules_pin_provider_lower_bounds(directory: Path):
    assert check_provider_pins(directory, exact=False) == []


@pytest.mark.parametrize("directory", ROOT_DIRS, ids=ids)
def test_root_stacks_pin_exact_provider_versions(directory: Path):
    assert check_provider_pins(directory, exact=True) == []


def test_registry_modules_share_one_version_each():
    """The same community module is never pinned at two versions in the tree."""
    seen: dict[str, set[str]] = {}
    for directory in ALL_DIRS:
        for _, _, body in blocks(load_dir(directory), "module"):
            source = unquote(body["source"]).split("//")[0]
            if "version" in body:
                seen.setdefault(source, set()).add(unquote(body["version"]))
    assert seen, "no registry modules found"
    assert {s: v for s, v in seen.items() if len(v) > 1} == {}


def _env_files(env: str) -> dict[str, bytes]:
    directory = TERRAFORM / "envs" / env
    return {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file() and not p.name.startswith(".")}


def test_environments_differ_only_in_tfvars_and_backend():
    """Same files, byte for byte, except the environment's values and its state key."""
    dev, prod = _env_files("dev"), _env_files("prod")
    assert sorted(dev) == sorted(prod)
    differing = sorted(name for name in dev if dev[name] != prod[name])
    assert differing == ["backend.hcl.example", "terraform.tfvars"]


@pytest.mark.parametrize("directory", ROOT_DIRS, ids=ids)
def test_roots_are_thin(directory: Path):
    """A root configures providers and calls the stack once: no resource, data source or local."""
    parsed = load_dir(directory)
    assert sorted(p.name for p in parsed) == [
        "main.tf",
        "moved.tf",
        "outputs.tf",
        "providers.tf",
        "variables.tf",
        "versions.tf",
    ]
    modules = {label: unquote(body["source"]) for _, label, body in blocks(parsed, "module")}
    assert modules == {"stack": "../../stack"}
    for kind in ("resource", "data", "locals"):
        assert not any(doc.get(kind) for doc in parsed.values()), f"{directory}: a root holds {kind}"


@pytest.mark.parametrize("directory", ROOT_DIRS, ids=ids)
def test_roots_pass_every_variable_to_the_stack(directory: Path):
    """Each root variable reaches the stack under its own name; the stack declares it."""
    parsed = load_dir(directory)
    declared = {name for _, name, _ in blocks(parsed, "variable")}
    arguments = {k: v for k, v in _module_body(directory, "stack").items() if not k.startswith("__") and k != "source"}
    assert arguments == {name: f"${{var.{name}}}" for name in declared}
    stack_variables = {name for _, name, _ in blocks(load_dir(STACK), "variable")}
    assert declared <= stack_variables


def _stack_variables() -> dict[str, dict]:
    return {name: body for _, name, body in blocks(load_dir(STACK), "variable")}


def test_optional_root_variables_fall_back_to_the_stack_default():
    """A root passes null for what tfvars leaves out: the stack variable must not accept null
    (nullable = false), else null would replace its default."""
    stack = _stack_variables()
    for directory in ROOT_DIRS:
        for _, name, body in blocks(load_dir(directory), "variable"):
            if "default" not in body:
                continue
            assert body["default"] is None, f"{directory}: {name} must default to null (the stack holds defaults)"
            if stack[name].get("default") is not None:
                assert stack[name].get("nullable") is False, f"stack: variable {name!r} needs nullable = false"


@pytest.mark.parametrize("directory", ROOT_DIRS, ids=ids)
def test_roots_reexport_the_documented_outputs(directory: Path):
    outputs = {label: body["value"] for _, label, body in blocks(load_dir(directory), "output")}
    assert outputs == {name: f"${{module.stack.{name}}}" for name in outputs}
    readme = (TERRAFORM / "README.md").read_text()
    documented = set(re.findall(r"`([a-z_]+)`", readme.split("## Outputs", 1)[1].split("**Platform.**")[0]))
    assert set(outputs) == documented
    assert "team_values" in outputs


@pytest.mark.parametrize("directory", ROOT_DIRS, ids=ids)
def test_roots_move_the_state_of_every_stack_module(directory: Path):
    """Before stack/ existed, the roots called the modules: every call has a `moved` block, so the
    first plan after the refactoring moves state instead of replacing the database or the cluster."""
    bare = lambda ref: unquote(ref).removeprefix("${").removesuffix("}")  # noqa: E731
    moves = {bare(b["from"]): bare(b["to"]) for doc in load_dir(directory).values() for b in doc.get("moved", [])}
    stack_modules = {label for _, label, _ in blocks(load_dir(STACK), "module")}
    assert moves == {f"module.{m}": f"module.stack.module.{m}" for m in stack_modules}


def _tfvars(env: str) -> dict:
    with (TERRAFORM / "envs" / env / "terraform.tfvars").open() as handle:
        return {k: unquote(v) for k, v in hcl2.load(handle).items() if not k.startswith("__")}


def test_environment_settings():
    dev, prod = _tfvars("dev"), _tfvars("prod")
    assert dev["environment"] == "dev" and prod["environment"] == "prod"
    assert prod["db_multi_az"] is True
    assert prod["single_nat_gateway"] is False
    assert len(prod["azs"]) == 3
    assert dev["vpc_cidr"] != prod["vpc_cidr"]


def _variable_default(directory: Path, name: str):
    for _, label, body in blocks(load_dir(directory), "variable"):
        if label == name:
            return body.get("default")
    raise KeyError(name)


def test_team_defaults():
    directory = STACK
    accounts = {k: unquote(v) for k, v in _variable_default(directory, "team_service_accounts").items()}
    # The ServiceAccounts helm/code-location creates for releases named after the teams.
    assert accounts == {
        "candidates": "candidates-code-server",
        "jobs": "jobs-code-server",
        "matching": "matching-code-server",
    }
    assert unquote(_variable_default(directory, "platform_service_account")) == "platform-dagster"
    assert unquote(_variable_default(directory, "landing_root_prefix")) == "landing"
    assert unquote(_variable_default(directory, "kubernetes_namespace")) == "talent"
    landing = {k: [unquote(p) for p in v] for k, v in _variable_default(directory, "team_landing_prefixes").items()}
    assert landing == {"candidates": ["candidates/"], "jobs": ["jobs/"], "matching": []}


def _module_body(directory: Path, name: str) -> dict:
    return next(body for _, label, body in blocks(load_dir(directory), "module") if label == name)


def _module_body_of(directory: Path, kind: str, name: str) -> dict:
    """The body of resource ``kind`` ``name`` (python-hcl2 nests resources as {kind: {name: body}})."""
    for _, label, body in blocks(load_dir(directory), "resource"):
        if label == kind:
            for resource_name, resource in body.items():
                if unquote(resource_name) == name:
                    return resource
    raise KeyError(f"{kind}.{name}")


def test_database_settings():
    body = _module_body(TERRAFORM / "modules" / "database", "this")
    assert unquote(body["engine"]) == "postgres"
    for flag in (
        "manage_master_user_password",
        "storage_encrypted",
        "deletion_protection",
        "iam_database_authentication_enabled",
        "performance_insights_enabled",
    ):
        assert body[flag] is True, flag
    assert body["skip_final_snapshot"] is False
    assert body["publicly_accessible"] is False
    assert "module.kms_key.arn" in body["kms_key_id"]
    assert "module.kms_key.arn" in body["master_user_secret_kms_key_id"]
    # Version floor lives in the variable's validation.
    text = (TERRAFORM / "modules" / "database" / "variables.tf").read_text()
    assert ">= 16" in text


def test_slow_statement_logs_carry_no_parameters():
    """log_min_duration_statement logs each slow statement with its bind parameters by default, and
    the parameters are candidates' personal data: the values never reach the database logs."""
    body = _module_body(TERRAFORM / "modules" / "database", "this")
    parameters = {unquote(p["name"]): unquote(p["value"]) for p in body["parameters"]}
    assert parameters["rds.force_ssl"] == "1"
    if "log_min_duration_statement" in parameters:
        assert parameters.get("log_parameter_max_length") == "0", parameters
    assert parameters.get("log_parameter_max_length_on_error", "0") == "0", parameters
    # logging every statement would log their literals too; DDL carries no personal data
    assert parameters.get("log_statement", "none") in ("none", "ddl"), parameters


KMS_CALLERS = {"database": "-rds", "registry": "-ecr", "storage": "-s3", "secrets": "-secrets"}


def test_kms_keys_come_from_the_kms_key_module():
    """One key definition (rotation on, account-delegating policy); every caller moves its old key."""
    kms = load_dir(TERRAFORM / "modules" / "kms_key")
    (key,) = [b['"this"'] for _, label, b in blocks(kms, "resource") if label == "aws_kms_key"]
    assert key["enable_key_rotation"] is True
    # One statement: the account's IAM decides who may use the key (no service or wildcard principal).
    principals = re.findall(r"Principal = \{(.*?)\}, Action", key["policy"])
    assert principals == [
        'AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"'
    ], key["policy"]
    for path in TERRAFORM.rglob("*.tf"):
        if path.parent.name != "kms_key":
            assert 'resource "aws_kms_key"' not in path.read_text(), f"{path}: use modules/kms_key"
    for caller, suffix in KMS_CALLERS.items():
        directory = TERRAFORM / "modules" / caller
        body = _module_body(directory, "kms_key")
        assert unquote(body["source"]) == "../kms_key"
        assert unquote(body["alias"]).endswith(f"{suffix}"), caller
        moves = {
            unquote(b["from"]).removeprefix("${").removesuffix("}"): unquote(b["to"])
            .removeprefix("${")
            .removesuffix("}")
            for doc in load_dir(directory).values()
            for b in doc.get("moved", [])
        }
        assert moves == {
            "aws_kms_key.this": "module.kms_key.aws_kms_key.this",
            "aws_kms_alias.this": "module.kms_key.aws_kms_alias.this",
        }, caller


def test_team_iam_statements_are_a_least_privilege_table():
    """modules/team_iam lists its policy statements in local.statements: unique sids, named actions
    only (no wildcard action or resource), and only the keys the policy document reads."""
    parsed = load_dir(TERRAFORM / "modules" / "team_iam")
    (statements,) = [
        entry["statements"] for doc in parsed.values() for entry in doc.get("locals", []) if "statements" in entry
    ]
    sids = [unquote(st["sid"]) for st in statements]
    assert len(sids) == len(set(sids)) == 11
    for st in statements:
        keys = {k for k in st if not k.startswith("__")}
        assert (
            {"sid", "when", "actions", "resources"}
            <= keys
            <= {
                "sid",
                "when",
                "actions",
                "resources",
                "list_prefixes",
                "via_service",
            }
        ), st
        assert all("*" not in unquote(a) for a in st["actions"]), st
        assert all(unquote(r) != "*" for r in (st["resources"] if isinstance(st["resources"], list) else [])), st
    kms = {unquote(st["sid"]): unquote(st.get("via_service")) for st in statements if "kms:" in str(st["actions"])}
    assert kms == {"StorageKmsViaS3": "s3", "SecretsKmsViaSecretsManager": "secretsmanager"}


def test_storage_buckets_are_locked_down():
    body = _module_body(TERRAFORM / "modules" / "storage", "this")
    for flag in (
        "block_public_acls",
        "block_public_policy",
        "ignore_public_acls",
        "restrict_public_buckets",
        "attach_deny_insecure_transport_policy",
        "attach_require_latest_tls_policy",
    ):
        assert body[flag] is True, flag
    assert body["versioning"]["enabled"] is True
    assert "aws:kms" in str(body["server_side_encryption_configuration"])
    assert "lifecycle_rule" in body
    assert unquote(body["force_destroy"]) is False


def test_secret_values_never_enter_state():
    """Only secret containers: no secret version, no kubernetes_secret carrying data."""
    offenders = []
    for directory in ALL_DIRS:
        parsed = load_dir(directory)
        for kind in ("resource", "data"):
            for path, label, _body in blocks(parsed, kind):
                if label in ("aws_secretsmanager_secret_version", "kubernetes_secret", "kubernetes_secret_v1"):
                    offenders.append(f"{path}: {kind} {label}")
    assert offenders == []


def test_grafana_dashboard_sidecar_is_configured():
    dashboards = terraform_monitoring_values()["grafana"]["sidecar"]["dashboards"]
    assert dashboards["enabled"] is True
    assert {k: dashboards[k] for k in ("label", "labelValue", "searchNamespace")} == {
        "label": "grafana_dashboard",
        "labelValue": "1",
        "searchNamespace": "ALL",
    }


def test_checkov_skips_carry_a_reason():
    bare = []
    for path in TERRAFORM.rglob("*.tf"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in re.finditer(r"checkov:skip=([A-Z0-9_]+)(:(?P<reason>.*))?", line):
                if len((match["reason"] or "").strip()) < 10:
                    bare.append(f"{path}:{number}")
    assert bare == []


def test_no_lock_files_or_state_are_tracked(repo: Path):
    tracked = subprocess.run(
        ["git", "ls-files", "terraform"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.split()
    assert not [t for t in tracked if t.endswith((".terraform.lock.hcl", ".tfstate", "backend.hcl"))]
    ignored = (TERRAFORM / ".gitignore").read_text().split()
    assert ".terraform.lock.hcl" in ignored


def test_the_platform_namespace_enforces_the_restricted_pod_security_standard():
    """Issue 19: only the e2e's namespace enforced restricted; production had no label at all."""
    body = _module_body_of(TERRAFORM / "modules" / "platform_release", "kubernetes_namespace_v1", "this")
    (metadata,) = body["metadata"]
    labels = {unquote(k): unquote(v) for k, v in metadata["labels"].items()}
    for mode in ("enforce", "audit", "warn"):
        assert labels.get(f"pod-security.kubernetes.io/{mode}") == "restricted", labels
    # Terraform creates the namespace the platform and every team release go into
    text = (TERRAFORM / "modules" / "platform_release" / "main.tf").read_text()
    assert "namespace = kubernetes_namespace_v1.this.metadata[0].name" in text
