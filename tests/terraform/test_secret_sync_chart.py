"""Render the local chart that turns Secrets Manager entries into Kubernetes Secrets."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REPO, TERRAFORM

CHART = TERRAFORM / "modules" / "platform_release" / "charts" / "talent-secret-sync"


def _helm() -> str:
    local = REPO / ".tools" / "bin" / "helm"
    found = str(local) if local.exists() else shutil.which("helm")
    if not found:
        if os.environ.get("CI"):
            pytest.fail("helm not found in .tools/bin or PATH (CI is set)")
        pytest.skip("helm not found in .tools/bin or PATH")
    return found


def _template(tmp_path: Path, values: dict) -> subprocess.CompletedProcess:
    values_file = tmp_path / "values.yaml"
    values_file.write_text(yaml.safe_dump(values))
    return subprocess.run(
        [_helm(), "template", "sync", str(CHART), "--kube-version", "1.33", "-f", str(values_file)],
        capture_output=True,
        text=True,
        timeout=60,
    )


RDS_SECRET = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!db-1"
DATABASE_URL = (
    "postgresql://{{ .username | urlquery }}:{{ .password | urlquery }}@db.example:5432/dagster?sslmode=require"
)


def test_renders_store_and_external_secrets(tmp_path: Path):
    result = _template(
        tmp_path,
        {
            "region": "eu-west-1",
            "externalSecrets": [
                {
                    "name": "dagster-postgresql",
                    "data": [{"secretKey": "postgresql-password", "remoteKey": RDS_SECRET, "property": "password"}],
                },
                {
                    "name": "talent-database",
                    "data": [
                        {"secretKey": "username", "remoteKey": RDS_SECRET, "property": "username"},
                        {"secretKey": "password", "remoteKey": RDS_SECRET, "property": "password"},
                    ],
                    "template": {"database-url": DATABASE_URL},
                },
                {
                    "name": "talent-openai",
                    "template": None,
                    "data": [{"secretKey": "api-key", "remoteKey": "talent/dev/openai-api-key", "property": None}],
                },
            ],
        },
    )
    assert result.returncode == 0, result.stderr
    docs = {(d["kind"], d["metadata"]["name"]): d for d in yaml.safe_load_all(result.stdout) if d}
    store = docs[("SecretStore", "aws-secrets-manager")]
    assert store["spec"]["provider"]["aws"] == {"service": "SecretsManager", "region": "eu-west-1"}
    postgres = docs[("ExternalSecret", "dagster-postgresql")]["spec"]
    assert postgres["target"] == {"name": "dagster-postgresql", "creationPolicy": "Owner"}
    assert postgres["data"] == [
        {
            "secretKey": "postgresql-password",
            "remoteRef": {"key": RDS_SECRET, "property": "password"},
        }
    ]
    # The Go template reaches the operator verbatim: Helm does not evaluate values.
    database = docs[("ExternalSecret", "talent-database")]["spec"]
    assert database["target"]["template"] == {"engineVersion": "v2", "data": {"database-url": DATABASE_URL}}
    assert [d["remoteRef"] for d in database["data"]] == [
        {"key": RDS_SECRET, "property": "username"},
        {"key": RDS_SECRET, "property": "password"},
    ]
    openai = docs[("ExternalSecret", "talent-openai")]["spec"]
    assert openai["data"] == [{"secretKey": "api-key", "remoteRef": {"key": "talent/dev/openai-api-key"}}]
    assert "template" not in openai["target"]
    assert openai["secretStoreRef"] == {"name": "aws-secrets-manager", "kind": "SecretStore"}


def test_region_is_required(tmp_path: Path):
    result = _template(tmp_path, {"externalSecrets": []})
    assert result.returncode != 0
    assert "region is required" in result.stderr


def test_entry_without_remote_key_is_rejected(tmp_path: Path):
    result = _template(
        tmp_path, {"region": "eu-west-1", "externalSecrets": [{"name": "x", "data": [{"secretKey": "X"}]}]}
    )
    assert result.returncode != 0
    assert "remoteKey is required" in result.stderr


def test_entry_without_data_is_rejected(tmp_path: Path):
    """The old flat shape (secretKey/remoteKey on the entry) fails instead of rendering nothing."""
    result = _template(
        tmp_path,
        {
            "region": "eu-west-1",
            "externalSecrets": [
                {"name": "x", "secretKey": "X", "remoteKey": "talent/dev/x"},
            ],
        },
    )
    assert result.returncode != 0
    assert "externalSecrets[x].data needs at least one entry" in result.stderr


def test_every_object_uses_the_external_secrets_v1_api(tmp_path: Path):
    """External Secrets stops serving v1beta1 from 0.17: every object the chart renders is v1."""
    result = _template(
        tmp_path,
        {
            "region": "eu-west-1",
            "externalSecrets": [
                {"name": "talent-openai", "data": [{"secretKey": "api-key", "remoteKey": "talent/dev/openai-api-key"}]},
            ],
        },
    )
    assert result.returncode == 0, result.stderr
    docs = [d for d in yaml.safe_load_all(result.stdout) if d]
    assert sorted(d["kind"] for d in docs) == ["ExternalSecret", "SecretStore"]
    assert {d["apiVersion"] for d in docs} == {"external-secrets.io/v1"}
    assert "v1beta1" not in "".join(p.read_text() for p in (CHART / "templates").iterdir())


def _chart_version_rule() -> tuple[str, re.Pattern[str]]:
    """The operator chart's default version and the validation regex in platform_release."""
    variables = (TERRAFORM / "modules" / "platform_release" / "variables.tf").read_text()
    block = variables.split('variable "external_secrets_chart_version"', 1)[1].split("\nvariable ", 1)[0]
    default = re.search(r'default\s*=\s*"([^"]+)"', block)
    condition = re.search(r'regex\("((?:[^"\\]|\\.)*)"', block)
    assert default and condition, block
    # HCL string escapes (\\ -> \) give the RE2 pattern, which Python's re reads the same here.
    return default[1], re.compile(condition[1].replace("\\\\", "\\"))


def test_the_operator_chart_serves_the_v1_api():
    default, rule = _chart_version_rule()
    assert rule.fullmatch(default), f"default external-secrets chart {default} does not serve external-secrets.io/v1"
    for served in ("0.16.0", "0.16.2", "0.17.0", "0.20.4", "1.0.0", "1.2.3"):
        assert rule.fullmatch(served), served
    for unserved in ("0.15.0", "0.9.20", "0.1.0", "~> 0.16", "0.16"):
        assert not rule.fullmatch(unserved), unserved
