"""Render the local chart that turns Secrets Manager entries into Kubernetes Secrets."""

from __future__ import annotations

import os
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
