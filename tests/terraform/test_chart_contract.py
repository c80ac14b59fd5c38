"""Terraform produces exactly what the charts consume (offline: python-hcl2, jsonschema, helm).

(a) every Secret and key the rendered charts read is written by Terraform's ExternalSecrets, and
    Terraform writes no Secret that nothing reads;
(b) the values Terraform passes to the platform release validate against
    helm/platform/values.schema.json, alone and merged over helm/values/platform.yaml, and render;
(c) each team's `team_values` output, written as terraform/README.md says, is a values overlay that
    validates against helm/code-location/values.schema.json and renders;
(d) test_chart_contract_can_fail.py shows that each of these checks reports a broken input.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote_plus

import chartcontract as cc
import pytest
import yaml

EXPECTED_SECRETS = {
    ("dagster-postgresql", "postgresql-password"),
    ("talent-database", "database-url"),
    ("talent-openai", "api-key"),
}


@pytest.fixture(scope="module", autouse=True)
def _helm_available():
    cc.require_helm()


@pytest.fixture(scope="module", params=cc.ENVS)
def env(request) -> str:
    return request.param


@pytest.fixture(scope="module")
def produced(env: str, tmp_path_factory) -> dict[str, set[str]]:
    return cc.produced_secrets(cc.terraform_external_secrets(env), tmp_path_factory.mktemp(f"sync-{env}"))


@pytest.fixture(scope="module")
def chart_references() -> set[tuple[str, str | None]]:
    """What the charts read when installed with the repository's production values files."""
    docs = cc.helm_template(cc.PLATFORM_CHART, "platform", [cc.VALUES_DIR / "platform.yaml"])
    for team in cc.TEAMS:
        docs += cc.helm_template(cc.CODE_LOCATION_CHART, team, [cc.VALUES_DIR / f"{team}.yaml"])
    return cc.secret_references(docs)


@pytest.fixture(scope="module")
def overlays(env: str, tmp_path_factory) -> dict[str, Path]:
    return cc.write_overlays(cc.terraform_team_values(env), tmp_path_factory.mktemp(f"overlays-{env}"), env)


# --- (a) Secrets ---------------------------------------------------------------------------------


def test_scanner_finds_the_documented_secrets(chart_references):
    """helm/README.md's table, found in the renders (so the scan itself is not blind)."""
    assert chart_references >= EXPECTED_SECRETS


def test_every_secret_the_charts_read_is_produced(chart_references, produced):
    assert cc.check_secrets(chart_references, produced) == []


def test_every_produced_secret_is_read_by_a_chart(chart_references, produced):
    read = {name for name, _ in chart_references}
    assert sorted(set(produced) - read) == []
    for name, keys in produced.items():
        read_keys = {key for n, key in chart_references if n == name}
        assert None in read_keys or keys <= read_keys, f"{name}: keys {sorted(keys - read_keys)} are never read"


def test_templates_read_only_fetched_keys(env):
    assert cc.check_templates(cc.terraform_external_secrets(env)) == []


def test_secrets_come_from_secrets_manager_never_from_terraform(env):
    """remoteKeys are ARNs/names of module outputs; no value literal is handed to the cluster."""
    for entry in cc.terraform_external_secrets(env):
        for item in entry["data"]:
            assert item["remoteKey"].startswith("tfref-module-"), (entry["name"], item)


_GO_ACTION = re.compile(r"\{\{\s*(.*?)\s*\}\}")


def _render_eso_template(template: str, data: dict[str, str]) -> str:
    """The subset of ESO's engine v2 the database URL uses: `.key | urlquery | replace "a" "b"`."""

    def action(match: re.Match) -> str:
        stages = [s.strip() for s in match.group(1).split("|")]
        assert stages[0].startswith("."), f"template reads {stages[0]!r}, not a data key"
        value = data[stages[0][1:]]
        for stage in stages[1:]:
            words = shlex.split(stage)
            if words == ["urlquery"]:
                value = quote_plus(value, safe="")  # Go's url.QueryEscape
            elif words[0] == "replace" and len(words) == 3:
                value = value.replace(words[1], words[2])
            else:
                raise AssertionError(f"unexpected template function {stage!r}")
        return value

    return _GO_ACTION.sub(action, template)


def test_database_url_is_composed_in_the_cluster_and_parses(env):
    """talent-database.database-url: built by the operator from the RDS master secret; libpq
    (psycopg) reads back exactly the user, password, host, port, database and sslmode."""
    from psycopg.conninfo import conninfo_to_dict

    (entry,) = [e for e in cc.terraform_external_secrets(env) if e["name"] == "talent-database"]
    template = entry["template"]["database-url"]
    fields = {m.split("|")[0].strip()[1:] for m in _GO_ACTION.findall(template)}
    assert fields == {"username", "password"} <= {d["secretKey"] for d in entry["data"]}
    assert {d["property"] for d in entry["data"]} == {"username", "password"}
    password = 'p@ss:w/rd?#&=+ %"x'
    url = _render_eso_template(template, {"username": "dagster", "password": password})
    parsed = conninfo_to_dict(url)
    assert parsed == {
        "user": "dagster",
        "password": password,
        "host": "tfref-module-database-address",
        "port": "5432",
        "dbname": "tfref-module-database-db-name",
        "sslmode": "verify-full",
        "sslrootcert": "/etc/talent/db-ca/ca.pem",
    }
    assert url.startswith("postgresql://")


def test_every_role_url_names_its_role_and_verifies_the_server(env):
    """talent-db-<role>: the role's own user and password (its Secrets Manager secret), TLS with
    the server's certificate and name checked against the CA bundle the charts mount."""
    from psycopg.conninfo import conninfo_to_dict

    entries = {e["name"]: e for e in cc.terraform_external_secrets(env)}
    for role in ("candidates", "jobs", "matching", "exporter", "ingest"):
        entry = entries[f"talent-db-{role}"]
        (item,) = entry["data"]
        assert item["remoteKey"] == f"tfref-module-secrets-secret-names-db-{role}"
        url = _render_eso_template(entry["template"]["database-url"], {"password": 'p@ss:w/rd?#&=+ %"x'})
        parsed = conninfo_to_dict(url)
        assert (parsed["user"], parsed["password"]) == (f"talent_{role}", 'p@ss:w/rd?#&=+ %"x')
        assert (parsed["sslmode"], parsed["sslrootcert"]) == ("verify-full", "/etc/talent/db-ca/ca.pem")
    passwords = {d["secretKey"]: d["remoteKey"] for d in entries["talent-db-role-passwords"]["data"]}
    assert passwords == {
        r: f"tfref-module-secrets-secret-names-db-{r}"
        for r in ("candidates", "jobs", "matching", "dagster", "exporter", "ingest")
    }


# --- (b) platform release values -----------------------------------------------------------------


def test_platform_values_validate_against_the_schema(env):
    values = cc.terraform_platform_values(env)
    assert cc.check_values(cc.PLATFORM_CHART, [cc.load_yaml(cc.VALUES_DIR / "platform.yaml")], values, "platform") == []


def test_platform_release_renders_with_terraform_values(env, produced, tmp_path):
    values = cc.terraform_platform_values(env)
    tf_file = tmp_path / "platform.terraform.yaml"
    tf_file.write_text(yaml.safe_dump(values))
    docs = cc.helm_template(cc.PLATFORM_CHART, "platform", [cc.VALUES_DIR / "platform.yaml", tf_file])
    by_kind = {}
    for d in docs:
        by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d

    # The IRSA role trusts var.platform_service_account: the chart must create exactly that one.
    service_account = cc.variable_default(env, "platform_service_account")
    assert service_account in by_kind["ServiceAccount"], sorted(by_kind["ServiceAccount"])
    annotations = by_kind["ServiceAccount"][service_account]["metadata"]["annotations"]
    assert annotations == values["serviceAccount"]["annotations"]
    webserver = by_kind["Deployment"]["platform-webserver"]["spec"]["template"]["spec"]
    assert webserver["serviceAccountName"] == service_account
    assert webserver["containers"][0]["image"].startswith(values["image"]["repository"] + ":")

    instance = yaml.safe_load(by_kind["ConfigMap"]["platform-instance"]["data"]["dagster.yaml"])
    postgres = instance["storage"]["postgres"]["postgres_db"]  # dagster-postgres as shipped
    assert (postgres["hostname"], postgres["port"], postgres["params"]) == (
        values["postgresql"]["host"],
        5432,
        {"sslmode": "verify-full", "sslrootcert": "/etc/talent/db-ca/ca.pem"},
    )
    assert cc.check_secrets(cc.secret_references(docs), produced) == []


# --- (c) team overlays ---------------------------------------------------------------------------


def test_team_values_cover_every_team(env):
    assert sorted(cc.terraform_team_values(env)) == sorted(cc.TEAMS)
    assert sorted(cc.variable_default(env, "team_service_accounts")) == sorted(cc.TEAMS)


@pytest.mark.parametrize("team", cc.TEAMS)
def test_team_overlay_validates_against_the_schema(env, team):
    overlay = cc.terraform_team_values(env)[team]
    base = cc.load_yaml(cc.VALUES_DIR / f"{team}.yaml")
    assert cc.check_values(cc.CODE_LOCATION_CHART, [base], overlay, team) == []


@pytest.mark.parametrize("team", cc.TEAMS)
def test_team_release_renders_with_the_overlay(env, team, overlays, produced):
    overlay = json.loads(overlays[team].read_text())
    docs = cc.helm_template(cc.CODE_LOCATION_CHART, team, [cc.VALUES_DIR / f"{team}.yaml", overlays[team]])
    (service_account,) = [d for d in docs if d["kind"] == "ServiceAccount"]
    # The team's IRSA role trusts system:serviceaccount:talent:<team_service_accounts[team]>.
    assert service_account["metadata"]["name"] == cc.variable_default(env, "team_service_accounts")[team]
    assert (
        service_account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
        == (overlay["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"])
    )
    (deployment,) = [d for d in docs if d["kind"] == "Deployment"]
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["image"].startswith(overlay["image"]["repository"] + ":")
    (env_map,) = [d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"].endswith("-env")]
    landing = env_map["data"]["TALENT_LANDING"]
    root = cc.variable_default(env, "landing_root_prefix")
    assert landing == overlay["env"]["TALENT_LANDING"]
    assert re.fullmatch(rf"s3://[a-z0-9][a-z0-9.-]+/{re.escape(root)}", landing), landing
    assert cc.check_secrets(cc.secret_references(docs), produced) == []


def test_team_iam_grants_the_landing_prefixes_under_the_root(env):
    """IAM prefixes are <landing_root_prefix>/<team prefix>, the folders the sensors list under
    TALENT_LANDING (s3://<bucket>/<root>/candidates/...)."""
    body = cc.module_arguments(env, "team_iam")
    assert "${var.landing_root_prefix}/${p}" in body["landing_prefixes"]
    assert body["service_account"] == "${each.value}"


def test_each_team_writes_step_logs_under_its_own_location_alone(env, monkeypatch):
    """Why-list 5: every team's role could PutObject anywhere under the compute-logs prefix, so one
    team could overwrite the step logs the UI shows for another's runs. Each team's write grant,
    evaluated from stack/ and modules/team_iam, admits the key its pods write
    (talent_shared.compute_logs, with the platform_values prefix) and no other team's."""
    from fnmatch import fnmatchcase

    from dagster._core.storage.compute_log_manager import ComputeIOType
    from tfcheck import load_dir

    from talent_shared.compute_logs import LOCATION_ENV, TeamS3ComputeLogManager

    ctx = cc.env_context(env)
    teams = sorted(ctx.variables["team_service_accounts"])
    assert teams == sorted(cc.TEAMS)
    argument = cc.module_arguments(env, "team_iam")["compute_logs_prefix"]
    (module_locals,) = [
        entry
        for doc in load_dir(cc.TERRAFORM / "modules" / "team_iam").values()
        for entry in doc.get("locals", [])
        if "compute_log_object" in entry
    ]
    bucket_arn = "arn:aws:s3:::talent-compute-logs"
    grants = {}
    for team in teams:
        team_prefix = cc.evaluate(argument, ctx.bind(**{"each.key": team}))
        module = cc.Context({"compute_logs_bucket_arn": bucket_arn, "compute_logs_prefix": team_prefix}, {})
        grants[team] = cc.evaluate(module_locals["compute_log_object"], module)

    prefix = cc.terraform_platform_values(env)["computeLogManager"]["config"]["s3ComputeLogManager"]["prefix"]
    for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for team in teams:
        monkeypatch.setenv(LOCATION_ENV, team)
        manager = TeamS3ComputeLogManager("talent-compute-logs", prefix=prefix, locations=teams)
        key = f"{bucket_arn}/" + manager._s3_key(["run-1", "compute_logs", "step"], ComputeIOType.STDERR)
        allowed = {other for other, grant in grants.items() if fnmatchcase(key, grant)}
        assert allowed == {team}, (key, grants)


# --- terraform/README.md: the documented command sequence ----------------------------------------

README = cc.TERRAFORM / "README.md"


def _readme_pipeline() -> tuple[str, str, list[str]]:
    text = README.read_text()
    match = re.search(
        r"^(?P<producer>\S+ -chdir=terraform/envs/prod output -json team_values) \| python3 -c '\n(?P<script>.*?)\n'\n"
        r"(?P<helm>helm upgrade --install candidates helm/code-location.*?)(?:\n\n|\n```)",
        text,
        flags=re.S | re.M,
    )
    assert match, "terraform/README.md lacks the `output -json team_values | python3 -c '...'` + helm sequence"
    helm = match["helm"].replace("\\\n", " ")
    return match["producer"], match["script"], shlex.split(helm)


def test_readme_sequence_produces_overlays_that_render(env, tmp_path, produced):
    """Run the README's script on the team_values JSON and the README's helm command (as
    `helm template`) on what it wrote, from a copy of the repository layout."""
    producer, script, helm_args = _readme_pipeline()
    assert producer.split()[0] in ("tofu", "terraform")
    assert helm_args[:5] == ["helm", "upgrade", "--install", "candidates", "helm/code-location"]
    files = [helm_args[i + 1] for i, a in enumerate(helm_args) if a == "-f"]
    assert files == ["helm/values/candidates.yaml", "helm/values/candidates.infra-prod.yaml"]

    (tmp_path / "helm" / "values").mkdir(parents=True)
    team_values = cc.terraform_team_values(env)
    subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(team_values), text=True, cwd=tmp_path, check=True, timeout=60
    )
    for team in cc.TEAMS:
        written = yaml.safe_load((tmp_path / "helm" / "values" / f"{team}.infra-prod.yaml").read_text())
        assert written == team_values[team]
    docs = cc.helm_template(
        cc.CODE_LOCATION_CHART,
        "candidates",
        [cc.REPO / files[0], tmp_path / files[1]],
    )
    assert cc.check_secrets(cc.secret_references(docs), produced) == []


# --- a production install, as Terraform and the teams deploy it -----------------------------------

OWNER_SECRETS = {"dagster-postgresql", "talent-database"}


@pytest.fixture(scope="module")
def production_render(env, overlays, tmp_path_factory) -> list[dict]:
    """The platform (helm/values/platform.yaml + platform_values) and each team (its file + its
    Terraform overlay): every document of the install."""
    tf_file = tmp_path_factory.mktemp(f"platform-{env}") / "platform.terraform.yaml"
    tf_file.write_text(yaml.safe_dump(cc.terraform_platform_values(env)))
    docs = cc.helm_template(cc.PLATFORM_CHART, "platform", [cc.VALUES_DIR / "platform.yaml", tf_file])
    for team in cc.TEAMS:
        docs += cc.helm_template(cc.CODE_LOCATION_CHART, team, [cc.VALUES_DIR / f"{team}.yaml", overlays[team]])
    return docs


def test_no_pod_but_the_migrate_hook_uses_the_master_users_secrets(production_render, produced):
    """Run pods too: the run launcher's postgres_password_secret and the code servers' container
    context are read like env (cc.secret_references)."""
    readers = {
        f"{d['kind']}/{d['metadata']['name']}"
        for d in production_render
        if {name for name, _ in cc.secret_references([d])} & OWNER_SECRETS
    }
    assert readers == {"Job/platform-migrate"}
    webhook = next(
        d for d in production_render if (d["kind"], d["metadata"]["name"]) == ("Deployment", "platform-webhook")
    )
    (container,) = webhook["spec"]["template"]["spec"]["containers"]
    assert "TALENT_INGEST_TOKEN" not in {e["name"] for e in container["env"]}, "a bearer token in production"
    assert cc.check_secrets(cc.secret_references(production_render), produced) == []


def test_every_network_policy_is_built_from_the_vpc_cidr(env, production_render):
    """Why-list 4: the team values named 10.0.0.0/16 while prod's VPC is 10.20.0.0/16. Every ipBlock
    of the install is the VPC's CIDR (from Terraform) or "anywhere" (HTTPS to S3 and OpenAI), and
    every pod that talks to Postgres may reach it only inside the VPC."""
    vpc = cc.variable_default(env, "vpc_cidr")
    cidrs: set[str] = set()
    database_rules = 0
    for doc in production_render:
        if doc["kind"] != "NetworkPolicy":
            continue
        for rule in doc["spec"].get("egress", []):
            peers = rule.get("to") or []
            cidrs |= {p["ipBlock"]["cidr"] for p in peers if "ipBlock" in p}
            if any(port.get("port") == 5432 for port in rule.get("ports", [])):
                database_rules += 1
                assert peers == [{"ipBlock": {"cidr": vpc}}], (doc["metadata"]["name"], peers)
    assert cidrs <= {vpc, "0.0.0.0/0"}, cidrs
    assert vpc in cidrs and database_rules >= 1 + len(cc.TEAMS)


def test_no_values_file_names_a_network():
    """CIDRs come from Terraform's outputs (platform_values, team_values), never a values file:
    "anywhere" (0.0.0.0/0) is the one range a file may name, and the kind files are the e2e's."""
    for path in sorted(cc.VALUES_DIR.glob("*.yaml")):
        found = set(re.findall(r"\b\d{1,3}(?:\.\d{1,3}){3}/\d{1,2}\b", path.read_text())) - {"0.0.0.0/0"}
        assert not found, f"{path.name} names {sorted(found)}"


def test_every_pod_that_connects_mounts_the_ca_bundle_it_verifies_with(env, production_render):
    """sslmode=verify-full needs the CA file in the pod: every Deployment and Job of the install
    that gets a database credential mounts talent-db-ca at the path the URLs and params name, and
    the run launcher gives it to every run and step pod."""
    for doc in production_render:
        if doc["kind"] not in ("Deployment", "Job"):
            continue
        spec = doc["spec"]["template"]["spec"]
        env_names = {e["name"] for c in spec["containers"] for e in c.get("env", [])}
        if not env_names & {"DAGSTER_PG_PASSWORD", "TALENT_DATABASE_URL"}:
            continue
        volumes = {v["name"]: v for v in spec.get("volumes", [])}
        assert volumes.get("db-ca", {}).get("configMap") == {"name": "talent-db-ca"}, doc["metadata"]["name"]
        for c in spec["containers"]:
            mounts = {m["name"]: m["mountPath"] for m in c.get("volumeMounts", [])}
            assert mounts.get("db-ca") == "/etc/talent/db-ca", doc["metadata"]["name"]
    instance = next(d for d in production_render if d["metadata"]["name"] == "platform-instance")
    launcher = yaml.safe_load(instance["data"]["dagster.yaml"])["run_launcher"]["config"]
    assert {"name": "db-ca", "configMap": {"name": "talent-db-ca"}} in launcher["volumes"]
    assert {"name": "db-ca", "mountPath": "/etc/talent/db-ca", "readOnly": True} in launcher["volume_mounts"]
    text = (cc.TERRAFORM / "modules" / "platform_release" / "main.tf").read_text()
    assert '"ca.pem" = data.http.database_ca.response_body' in text


# --- Grafana: the dashboards land in the folder they name -----------------------------------------


def test_dashboards_land_in_the_folder_they_name(env, tmp_path):
    """The platform's dashboard ConfigMaps (production values) name a folder, and the Grafana
    values Terraform passes kube-prometheus-stack put them there rather than in General."""
    sidecar = cc.terraform_monitoring_values()["grafana"]["sidecar"]["dashboards"]
    tf_file = tmp_path / "platform.terraform.yaml"
    tf_file.write_text(yaml.safe_dump(cc.terraform_platform_values(env)))
    docs = cc.helm_template(cc.PLATFORM_CHART, "platform", [cc.VALUES_DIR / "platform.yaml", tf_file])
    assert cc.check_dashboard_folders(sidecar, docs) == []
    folders = {
        d["metadata"]["annotations"][sidecar["folderAnnotation"]]
        for d in docs
        if d["kind"] == "ConfigMap" and sidecar["folderAnnotation"] in d["metadata"].get("annotations", {})
    }
    assert folders == {cc.load_yaml(cc.VALUES_DIR / "platform.yaml")["grafanaDashboards"]["folder"]}
