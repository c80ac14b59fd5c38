"""Each contract check in test_chart_contract.py reports a broken input (synthetic, in memory)."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import chartcontract as cc
import hcl2
import pytest

SCHEMA_PLATFORM = json.loads((cc.PLATFORM_CHART / "values.schema.json").read_text())


@pytest.fixture(scope="module", autouse=True)
def _helm_available():
    if cc.find_helm() is None:
        message = "helm not found in .tools/bin or on PATH (make tools)"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set)")
        pytest.skip(message)


@pytest.fixture(scope="module")
def chart_references() -> set[tuple[str, str | None]]:
    docs = cc.helm_template(cc.PLATFORM_CHART, "platform", [cc.VALUES_DIR / "platform.yaml"])
    docs += cc.helm_template(cc.CODE_LOCATION_CHART, "candidates", [cc.VALUES_DIR / "candidates.yaml"])
    return cc.secret_references(docs)


def _external_secrets() -> list[dict]:
    return copy.deepcopy(cc.terraform_external_secrets("prod"))


def _entry(entries: list[dict], name: str) -> dict:
    (entry,) = [e for e in entries if e["name"] == name]
    return entry


# --- (a) Secrets ---------------------------------------------------------------------------------


def test_misspelt_secret_name_is_reported(chart_references, tmp_path: Path):
    entries = _external_secrets()
    _entry(entries, "talent-database")["name"] = "talent-databse"
    problems = cc.check_secrets(chart_references, cc.produced_secrets(entries, tmp_path))
    assert len(problems) == 1 and "Secret 'talent-database' is referenced by a chart" in problems[0]


def test_old_secret_names_are_reported(chart_references, tmp_path: Path):
    """What terraform/ produced before: dagster-postgresql-secret and openai-api-key/OPENAI_API_KEY."""
    old = [
        {
            "name": "dagster-postgresql-secret",
            "data": [{"secretKey": "postgresql-password", "remoteKey": "arn:rds", "property": "password"}],
        },
        {
            "name": "openai-api-key",
            "data": [{"secretKey": "OPENAI_API_KEY", "remoteKey": "talent/prod/openai-api-key"}],
        },
    ]
    problems = "\n".join(cc.check_secrets(chart_references, cc.produced_secrets(old, tmp_path)))
    for name in ("dagster-postgresql", "talent-database", "talent-openai"):
        assert f"Secret {name!r} is referenced" in problems


def test_wrong_template_key_is_reported(chart_references, tmp_path: Path):
    entries = _external_secrets()
    database = _entry(entries, "talent-database")
    database["template"] = {"database_url": database["template"]["database-url"]}
    problems = cc.check_secrets(chart_references, cc.produced_secrets(entries, tmp_path))
    assert problems == ["Secret 'talent-database' has no key 'database-url' (Terraform writes ['database_url'])"]


def test_wrong_data_key_is_reported(chart_references, tmp_path: Path):
    entries = _external_secrets()
    _entry(entries, "talent-openai")["data"][0]["secretKey"] = "OPENAI_API_KEY"
    problems = cc.check_secrets(chart_references, cc.produced_secrets(entries, tmp_path))
    assert problems == ["Secret 'talent-openai' has no key 'api-key' (Terraform writes ['OPENAI_API_KEY'])"]


def test_template_reading_an_unfetched_key_is_reported():
    entries = _external_secrets()
    database = _entry(entries, "talent-database")
    database["template"]["database-url"] = database["template"]["database-url"].replace(".password", ".pasword")
    assert cc.check_templates(entries) == [
        "talent-database.database-url: template reads .pasword, which is not among the fetched keys "
        "['password', 'username']"
    ]


def test_reference_scanner_sees_every_form():
    """env secretKeyRef, envFrom, secret volumes, dagster's postgres_password_secret and JSON in env."""
    context = json.dumps(
        {"k8s": {"env": [{"name": "A", "valueFrom": {"secretKeyRef": {"name": "in-json", "key": "k"}}}]}}
    )
    docs = [
        {
            "kind": "Deployment",
            "spec": {
                "template": {
                    "spec": {
                        "containers": [
                            {
                                "env": [
                                    {"name": "X", "valueFrom": {"secretKeyRef": {"name": "env-ref", "key": "x"}}},
                                    {"name": "CTX", "value": context},
                                ],
                                "envFrom": [{"secretRef": {"name": "env-from"}}],
                            }
                        ],
                        "volumes": [
                            {
                                "name": "v",
                                "secret": {"secretName": "volume", "items": [{"key": "tls.crt", "path": "c"}]},
                            }
                        ],
                    }
                }
            },
        },
        {"kind": "ConfigMap", "data": {"dagster.yaml": "run_launcher:\n  config:\n    postgres_password_secret: pg\n"}},
        {"kind": "Secret", "metadata": {"name": "own"}, "stringData": {"secretKeyRef": "ignored"}},
    ]
    assert cc.secret_references(docs) == {
        ("env-ref", "x"),
        ("in-json", "k"),
        ("env-from", None),
        ("volume", "tls.crt"),
        ("pg", "postgresql-password"),
    }


def test_whole_secret_reference_needs_only_the_name():
    assert cc.check_secrets({("s", None)}, {"s": {"any"}}) == []
    assert cc.check_secrets({("s", None)}, {}) != []


# --- evaluating HCL ------------------------------------------------------------------------------


def _hcl_value(text: str) -> object:
    return hcl2.loads(f"x = {text}\n")["x"]


def test_evaluation_resolves_vars_locals_and_placeholders():
    ctx = cc.Context({"vpc_cidr": "10.9.0.0/16"}, {"k8s_secrets": _hcl_value('{ db = { name = "talent-database" } }')})
    value = cc.evaluate(
        _hcl_value(
            "{ a = var.vpc_cidr, b = local.k8s_secrets.db.name, c = module.database.port, "
            'd = "s3://${module.storage.bucket_names["landing"]}/${var.vpc_cidr}", e = upper("x") }'
        ),
        ctx,
    )
    assert value == {
        "a": "10.9.0.0/16",
        "b": "talent-database",
        "c": 5432,
        "d": "s3://tfref-module-storage-bucket-names-landing/10.9.0.0/16",
        "e": "tfref-upper-x",
    }


def test_evaluation_fails_on_unknown_names():
    ctx = cc.Context({}, {})
    with pytest.raises(KeyError):
        cc.evaluate(_hcl_value("local.missing"), ctx)
    with pytest.raises(ValueError):
        cc.evaluate_for_object("${[for t in var.teams : t]}", ctx)


# --- (b) platform values -------------------------------------------------------------------------

PLATFORM_LAYERS = [cc.load_yaml(cc.VALUES_DIR / "platform.yaml")]


def test_platform_values_with_the_guessed_keys_are_rejected():
    """Guessed keys: serviceAccount.name does not exist, and computeLogManager takes its bucket and
    prefix under config.s3ComputeLogManager (the official chart's shape), not at its top."""
    ctx = cc.Context({"platform_service_account": "talent-platform", "compute_logs_prefix": "dagster/"}, {})
    values = cc.evaluate(
        _hcl_value("""{
      serviceAccount = { name = var.platform_service_account }
      computeLogManager = { bucket = module.storage.bucket_names["compute-logs"], prefix = var.compute_logs_prefix }
    }"""),
        ctx,
    )
    problems = "\n".join(cc.check_values(cc.PLATFORM_CHART, PLATFORM_LAYERS, values, "platform"))
    assert "computeLogManager: Additional properties are not allowed ('bucket', 'prefix' were unexpected)" in problems
    assert "serviceAccount: Additional properties are not allowed ('name' was unexpected)" in problems


def test_platform_values_under_the_names_before_the_official_chart_are_refused_with_the_new_name():
    """An overlay written for the chart before it took the official chart's names (computeLogs,
    codeLocations) fails, and the message names the value to write instead."""
    old = {
        "computeLogs": {"manager": "s3", "s3": {"bucket": "b", "prefix": "dagster/"}},
        "codeLocations": [{"name": "candidates", "host": "candidates-code-server", "port": 4000}],
    }
    problems = "\n".join(cc.check_values(cc.PLATFORM_CHART, PLATFORM_LAYERS, old, "platform"))
    assert "computeLogs is now computeLogManager" in problems
    assert "codeLocations is now dagsterWebserver.workspace.servers" in problems


def test_platform_values_with_a_wrong_type_are_rejected():
    values = copy.deepcopy(cc.terraform_platform_values("prod"))
    values["postgresql"]["port"] = "5432"
    problems = cc.check_values(cc.PLATFORM_CHART, PLATFORM_LAYERS, values, "platform")
    assert any("postgresql.port: '5432' is not of type 'integer'" in p for p in problems)


def test_platform_values_breaking_the_merged_values_are_rejected():
    """Valid on its own, but the merged values miss a required key."""
    servers = {"dagsterWebserver": {"workspace": {"enabled": True, "servers": []}}}
    problems = cc.check_values(cc.PLATFORM_CHART, PLATFORM_LAYERS, servers, "platform")
    assert problems and all("(merged)" in p for p in problems)


def test_set_blocks_with_unknown_keys_are_rejected():
    assert (
        cc.check_set_blocks(
            [
                "serviceAccount.annotations.eks\\.amazonaws\\.com/role-arn",
                "image.tag",
                "dagsterWebserver.workspace.servers[0].name",
            ],
            SCHEMA_PLATFORM,
        )
        == []
    )
    unknown = ["computeLogManager.bucket", "image.tags", "dagsterWebserver.workspace.servers[0].hostname"]
    assert cc.check_set_blocks(unknown, SCHEMA_PLATFORM) == [
        "set 'computeLogManager.bucket': 'bucket' is not a key of the chart's values.schema.json",
        "set 'image.tags': 'tags' is not a key of the chart's values.schema.json",
        "set 'dagsterWebserver.workspace.servers[0].hostname': 'hostname' is not a key of the chart's values.schema.json",
    ]


# --- (c) team overlays ---------------------------------------------------------------------------

CANDIDATES = [cc.load_yaml(cc.VALUES_DIR / "candidates.yaml")]


def test_old_team_values_shape_is_rejected():
    """The shape team_values had before (name, landing, ioManager, computeLogs, postgresql, envSecrets)."""
    old = {
        "serviceAccount": {"name": "talent-candidates", "annotations": {"eks.amazonaws.com/role-arn": "arn"}},
        "image": {"repository": "repo"},
        "landing": {"bucket": "b", "prefixes": ["candidates/"]},
        "postgresql": {"host": "h"},
        "envSecrets": ["dagster-postgresql-secret"],
    }
    problems = "\n".join(cc.check_values(cc.CODE_LOCATION_CHART, CANDIDATES, old, "candidates"))
    for key in ("'landing'", "'postgresql'", "'envSecrets'", "'name' was unexpected"):
        assert key in problems


def test_overlay_with_an_incomplete_secret_env_is_rejected():
    overlay = copy.deepcopy(cc.terraform_team_values("prod")["candidates"])
    overlay["secretEnv"]["WEBHOOK_TOKEN"] = {"secretName": "talent-webhook"}
    problems = cc.check_values(cc.CODE_LOCATION_CHART, CANDIDATES, overlay, "candidates")
    assert problems == ["candidates (merged): secretEnv.WEBHOOK_TOKEN: 'key' is a required property"]


def test_overlay_the_chart_refuses_fails_to_render(tmp_path: Path):
    """Schema-valid, but the chart refuses a credential in plain env: the render check catches it."""
    overlay = copy.deepcopy(cc.terraform_team_values("prod")["candidates"])
    overlay["env"]["OPENAI_API_KEY"] = "sk-not-a-real-key"
    assert cc.check_values(cc.CODE_LOCATION_CHART, CANDIDATES, overlay, "candidates") == []
    (path,) = cc.write_overlays({"candidates": overlay}, tmp_path, "prod").values()
    with pytest.raises(cc.HelmFailed, match=r"env\.OPENAI_API_KEY looks like a credential"):
        cc.helm_template(cc.CODE_LOCATION_CHART, "candidates", [cc.VALUES_DIR / "candidates.yaml", path])


def test_renamed_release_breaks_the_irsa_trust(tmp_path: Path):
    """The chart names the ServiceAccount after the release: `talent-candidates` would not match."""
    (path,) = cc.write_overlays(
        {"candidates": cc.terraform_team_values("prod")["candidates"]}, tmp_path, "prod"
    ).values()
    docs = cc.helm_template(cc.CODE_LOCATION_CHART, "talent-candidates", [cc.VALUES_DIR / "candidates.yaml", path])
    (service_account,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    assert service_account["metadata"]["name"] != cc.variable_default("prod", "team_service_accounts")["candidates"]


def test_dashboard_folder_check_reports_missing_sidecar_settings():
    """Without the sidecar's folder settings (as before issue 20) every dashboard lands in General."""
    sidecar = cc.terraform_monitoring_values()["grafana"]["sidecar"]["dashboards"]
    docs = cc.helm_template(cc.PLATFORM_CHART, "platform", [cc.VALUES_DIR / "platform.yaml"])
    assert cc.check_dashboard_folders(sidecar, docs) == []
    bare = {k: v for k, v in sidecar.items() if k not in ("folderAnnotation", "provider")}
    problems = "\n".join(cc.check_dashboard_folders(bare, docs))
    assert "folderAnnotation is not set" in problems and "foldersFromFilesStructure is not true" in problems
    fixed = {**sidecar, "provider": {"foldersFromFilesStructure": True, "folder": "General"}}
    assert any("overrides every annotation" in p for p in cc.check_dashboard_folders(fixed, docs))
    unannotated = [{**d, "metadata": {k: v for k, v in d["metadata"].items() if k != "annotations"}} for d in docs]
    assert any("names no folder" in p for p in cc.check_dashboard_folders(sidecar, unannotated))
    other_label = {**sidecar, "labelValue": "yes"}
    assert any("loads nothing" in p for p in cc.check_dashboard_folders(other_label, docs))
