"""The end-to-end harness without a cluster: what it runs, in which order, what it tears down and
reports on failure, and that its fixed inputs (manifests, values, the code-version bump) still fit
the product. The run itself is `make e2e` (kind)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


@pytest.fixture(scope="module")
def harness():
    spec = importlib.util.spec_from_file_location("talent_e2e_harness", HERE / "harness.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["talent_e2e_harness"] = module
    spec.loader.exec_module(module)
    return module


class FakeCluster:
    name = "fake"
    base_image = None

    def __init__(self, tmp: Path):
        self.kubeconfig = tmp / "kubeconfig"
        self.calls: list[str] = []

    def up_argv(self) -> list[str]:
        return ["fake", "up"]

    def up(self) -> None:
        self.calls.append("up")

    def load(self, images: list[str]) -> None:
        self.calls.append("load")

    def down(self) -> None:
        self.calls.append("down")

    def dump(self, dest: Path) -> None:
        self.calls.append("dump")

    def facts(self) -> dict[str, str]:
        return {"cluster_provider": "fake"}

    def exists(self) -> bool:
        return True

    def adopt(self) -> None:
        self.calls.append("adopt")


@pytest.fixture(params=["local", "official", "fake"])
def e2e(request, harness, tmp_path):
    cluster = {
        "local": lambda: harness.KindCluster(kubeconfig=tmp_path / "kind.kubeconfig", node="local"),
        "official": lambda: harness.KindCluster(kubeconfig=tmp_path / "kind.kubeconfig", node="official"),
        "fake": lambda: FakeCluster(tmp_path),
    }[request.param]()
    return harness.E2E(cluster, pg_password="pw-for-tests-only")


def test_plan_order(e2e, harness) -> None:
    names = [s.name for s in e2e.plan()]
    at = names.index
    assert names[0] == "cluster up"
    assert at("build the images") < at("load the images into the cluster") < at("postgres with pgvector")
    assert at("namespaces (restricted Pod Security Standard)") < at("secrets") < at("postgres with pgvector")
    platform = at("install the platform (hooks included)")
    teams = [at(f"install {t}") for t in harness.TEAMS]
    assert at("landing volume") < platform < min(teams)
    assert (
        max(teams)
        < at("every pod Ready and admitted")
        < at("burst: records and a malformed line into the landing zone")
    )
    burst = at("burst: records and a malformed line into the landing zone")
    faults = [i for i, n in enumerate(names) if n.startswith("fault:")]
    assert len(faults) == 4 and min(faults) == burst + 1
    assert names[-1].startswith("helm upgrade candidates with a bumped code version")
    webhook = at("webhook through its Service: 202s become inbox rows, then matched records")
    assert max(faults) < webhook < at("no LLM call counted twice") and e2e.plan()[webhook].phase == "verify"
    security = at("security: what one team must not do, attempted as that team and refused")
    # after the webhook step (it reads the replay's answer) and before the upgrade
    assert webhook < security < at("helm upgrade candidates with a bumped code version; rollback")
    assert e2e.plan()[security].phase == "verify"
    phases = [s.phase for s in e2e.plan()]
    assert phases.index("deploy") > max(i for i, p in enumerate(phases) if p == "setup")


def test_only_the_cluster_steps_differ_between_node_images(harness, tmp_path) -> None:
    local = harness.E2E(harness.KindCluster(kubeconfig=tmp_path / "k", node="local"), pg_password="x")
    kind = harness.E2E(harness.KindCluster(kubeconfig=tmp_path / "k", node="official"), pg_password="x")
    differs = [a.name for a, b in zip(local.plan(), kind.plan(), strict=True) if a.shell() != b.shell()]
    assert differs == ["cluster up", "build the images"]


def test_secrets_are_redacted_in_the_printed_plan(e2e) -> None:
    printed = "\n".join(s.shell() for s in e2e.plan())
    assert "pw-for-tests-only" not in printed
    assert "postgresql-password=***" in printed
    assert e2e.webhook_token not in printed and e2e.webhook_hmac_secret not in printed


@pytest.mark.parametrize(
    ("fail_at", "options"),
    [
        (None, []),
        ("install the platform (hooks included)", []),
        ("fault: delete a run's pod while it runs", []),
        ("every valid record matched", ["--keep-cluster"]),
        (None, ["--reuse-cluster"]),
    ],
)
def test_the_pytest_run_tears_down_reports_every_check_and_writes_the_summary(
    pytester, tmp_path, monkeypatch, fail_at, options
) -> None:
    """tests/e2e/test_e2e.py as `make e2e` runs it, on a fake cluster whose steps only record that
    they ran: a failed setup step stops everything after it, a failed check does not stop the
    checks after it, the first failure is dumped, and the cluster goes down at the end (unless
    kept) with summary.json written."""
    sys.path.insert(0, str(HERE))
    import harness as shared  # the module test_e2e.py imports, so its stash key and ARTIFACTS

    monkeypatch.setattr(shared, "ARTIFACTS", tmp_path / "artifacts")
    cluster = FakeCluster(tmp_path)
    ran: list[str] = []

    def factory():
        e2e = shared.E2E(cluster, pg_password="pw")
        real = e2e.plan()

        def no_cluster(*args, **kwargs):
            raise RuntimeError("no cluster in this test")

        def step(s):
            def action():
                ran.append(s.name)
                if s.name == fail_at:
                    raise RuntimeError("boom")

            return shared.Step(s.name, s.phase, s.argv, action)

        e2e.k = no_cluster
        e2e.plan = lambda: [step(s) for s in real]
        return e2e

    class Inject:
        def pytest_configure(self, config):
            config.stash[shared.E2E_FACTORY] = factory

    result = pytester.runpytest_inprocess(
        str(HERE / "test_e2e.py"), *shared.PYTEST_ARGS, "-p", "no:xdist", *options, plugins=[Inject()]
    )
    plan = [s.name for s in factory().plan()]
    checks = [n for n in plan if plan.index(n) > plan.index("every pod Ready and admitted")]
    outcomes = result.parseoutcomes()
    if "--reuse-cluster" in options:  # the cluster is there: taken, not created, and kept
        assert outcomes == {"passed": len(checks)} and ran == plan[1:] and plan[0] == "cluster up"
        assert cluster.calls[0] == "adopt"
    elif fail_at is None:
        assert outcomes == {"passed": len(checks)} and ran == plan
    elif fail_at in checks:
        assert outcomes == {"passed": len(checks) - 1, "failed": 1}
        assert ran == plan, "every check after the failed one still ran"
    else:
        assert outcomes == {"errors": len(checks)}
        assert ran == plan[: plan.index(fail_at) + 1], "nothing after a failed setup step ran"
    assert cluster.calls.count("dump") == (1 if fail_at else 0)
    assert (cluster.calls[-1] == "down") is not options, "--keep-cluster and --reuse-cluster keep it"
    summary = json.loads((tmp_path / "artifacts" / "summary.json").read_text())
    assert summary["passed"] is (fail_at is None)
    assert [f["step"] for f in summary.get("failures", [])] == ([fail_at] if fail_at else [])
    assert {"faults", "runs", "step_pods", "timings_s"} <= set(summary)
    assert summary["cluster_provider"] == "fake"
    assert ("error" in summary) is bool(fail_at)


def test_plan_command_prints_without_side_effects() -> None:
    out = subprocess.run(
        [sys.executable, str(HERE / "kind.py"), "plan"], capture_output=True, text=True, timeout=120, cwd=REPO
    )
    assert out.returncode == 0, out.stderr
    assert "tests/e2e/kind/kind.sh up" in out.stdout and "helm upgrade --install platform" in out.stdout


def test_quantities(harness) -> None:
    assert harness.same_resources({"cpu": "1", "memory": "1Gi"}, {"cpu": "1000m", "memory": str(2**30)})
    assert not harness.same_resources({"cpu": "500m"}, {"cpu": "1"})
    assert not harness.same_resources({"cpu": "1"}, {"cpu": "1", "memory": "1Gi"})
    with pytest.raises(ValueError):
        harness.quantity("one")


def test_declared_resources_cover_every_executable_asset(e2e) -> None:
    declared = e2e.declared_resources()
    assert {"normalized_candidates", "candidate_vectors", "normalized_jobs", "job_vectors", "matches"} <= set(declared)
    for res in declared.values():
        assert set(res) == {"requests", "limits"} and set(res["limits"]) == {"cpu", "memory"}


def test_the_code_version_bump_still_applies(harness) -> None:
    text = (REPO / harness.BUMP_FILE).read_text()
    assert text.count(harness.BUMP_FROM) == 1, "the e2e's bump no longer matches: update BUMP_FROM"


def test_manifests_validate_and_are_admissible_under_restricted(harness) -> None:
    import kubernetes_validate

    docs = []
    for path in harness.MANIFESTS:
        docs += [d for d in yaml.safe_load_all((REPO / path).read_text()) if d]
    for d in docs:
        kubernetes_validate.validate(d, "1.32.0", strict=True)
    for ns in (d for d in docs if d["kind"] == "Namespace"):
        assert ns["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    pg = next(d for d in docs if d["kind"] == "Deployment")
    spec = pg["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    assert container["image"] == harness.POSTGRES_IMAGE and container["imagePullPolicy"] == "IfNotPresent"
    assert (
        spec["securityContext"]["runAsNonRoot"]
        and spec["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    )
    sc = container["securityContext"]
    assert sc["capabilities"]["drop"] == ["ALL"] and sc["allowPrivilegeEscalation"] is False
    data = next(v for v in spec["volumes"] if v["name"] == "data")
    assert data["persistentVolumeClaim"]["claimName"] == "postgres-data"  # survives the restart fault


def test_kind_config(harness) -> None:
    config = yaml.safe_load((REPO / harness.KindCluster().config).read_text())
    assert config["kind"] == "Cluster" and config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert config["name"] == harness.KindCluster().name
    assert all(re.fullmatch(r"kindest/node:v1\.32\.\d+(@sha256:[0-9a-f]{64})?", n["image"]) for n in config["nodes"])


def test_e2e_values_use_the_built_images_the_e2e_database_and_landing(harness) -> None:
    platform = yaml.safe_load((REPO / "helm/values/kind/platform.yaml").read_text())
    assert f"{platform['image']['repository']}:{platform['image']['tag']}" == harness.PLATFORM_IMAGE
    assert platform["postgresql"]["host"] == f"postgres.{harness.DB_NAMESPACE}.svc.cluster.local"
    # Jobs and their pods outlive the run, so step pods' resources can be read at the end.
    assert (
        platform["runLauncher"]["config"]["k8sRunLauncher"]["runK8sConfig"]["jobSpecConfig"]["ttlSecondsAfterFinished"]
        >= harness.WAIT_S
    )
    for team in harness.TEAMS:
        values = yaml.safe_load((REPO / "helm/values/kind" / f"{team}.yaml").read_text())
        assert f"{values['image']['repository']}:{values['image']['tag']}" == harness.TEAM_IMAGES[team]
        assert values["image"]["pullPolicy"] == "IfNotPresent"  # loaded, never pulled
        assert values["env"]["TALENT_EXECUTOR"] == "k8s"
        assert values["volumes"][0]["persistentVolumeClaim"]["claimName"] == "talent-landing"
        assert values["env"]["TALENT_LANDING"] == values["volumeMounts"][0]["mountPath"] == "/landing"


# --- the webhook step ---------------------------------------------------------------------------------
def test_webhook_secret_is_random_and_given_to_receiver_and_sender(harness, tmp_path, monkeypatch) -> None:
    e2e = harness.E2E(FakeCluster(tmp_path), pg_password="pw")
    applied: list[dict] = []
    monkeypatch.setattr(e2e, "k", lambda *a, input=None, **kw: applied.append(json.loads(input)) or "")
    e2e.create_secrets()
    webhook = [m for m in applied if m["metadata"]["name"] == harness.WEBHOOK_SECRET]
    assert {m["metadata"]["namespace"] for m in webhook} == {harness.NAMESPACE, harness.SENDER_NAMESPACE}
    for m in webhook:
        assert m["stringData"] == {"token": e2e.webhook_token, "hmac-secret": e2e.webhook_hmac_secret}
    assert len({e2e.webhook_token, e2e.webhook_hmac_secret, "pw"}) == 3 and len(e2e.webhook_token) >= 24
    assert harness.E2E(FakeCluster(tmp_path), pg_password="pw").webhook_token != e2e.webhook_token


def test_webhook_values_fit_the_harness(harness) -> None:
    """The kind values enable the webhook with the Secret and keys the harness creates, on the port
    of WEBHOOK_URL, and its NetworkPolicy admits the harness's sender pods; the sender namespace
    exists and enforces restricted."""
    kind = yaml.safe_load((REPO / "helm/values/kind/platform.yaml").read_text())
    webhook = kind["webhook"]
    assert webhook["enabled"] is True
    assert webhook["auth"] == {
        "secretName": harness.WEBHOOK_SECRET,
        "tokenKey": "token",
        "hmacSecretKey": "hmac-secret",
    }
    chart = yaml.safe_load((REPO / "helm/platform/values.yaml").read_text())["webhook"]
    port = webhook.get("port", chart["port"])
    assert f"http://platform-webhook.{harness.NAMESPACE}.svc.cluster.local:{port}" == harness.WEBHOOK_URL
    label_key, _, label_value = harness.SENDER_LABEL.partition("=")
    assert kind["networkPolicy"]["webhookFrom"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": harness.SENDER_NAMESPACE}},
            "podSelector": {"matchLabels": {label_key: label_value}},
        }
    ]
    namespaces = [d for d in yaml.safe_load_all((REPO / harness.MANIFESTS[0]).read_text()) if d]
    (sender,) = [d for d in namespaces if d["metadata"]["name"] == harness.SENDER_NAMESPACE]
    assert sender["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_webhook_requests(harness) -> None:
    requests = harness.webhook_requests()
    valid = [r for r in requests if "id" in r["expect"]]
    assert len(valid) == sum(harness.WEBHOOK_RECORDS)
    assert {r["auth"] for r in valid} == {"bearer", "hmac"} and {r["endpoint"] for r in valid} == {"candidates", "jobs"}
    assert [r["expect"]["status"] for r in requests if "id" not in r["expect"]] == [400, 401, 401]
    # the replay follows a signed request (it re-sends that one under a new webhook-id)
    (replay,) = [i for i, r in enumerate(requests) if r["auth"] == "replay"]
    assert requests[replay - 1]["auth"] != "replay" and any(r["auth"] == "hmac" for r in requests[:replay])
    for r in requests:
        assert json.loads(r["body"]) == r["record"]
    # Ids no landing burst uses (seeds 1 to 3), so the e2e's counts stay exact.
    from talent_platform.seed import generate

    landed = {x["id"] for seed in (1, 2, 3) for records in generate(24, 8, seed=seed) for x in records}
    assert not landed & {r["record"]["id"] for r in requests}


@pytest.fixture
def receiver(monkeypatch):
    """The real receiver (talent_platform.webhook) on a local port, its inbox writes faked: yields
    (url, token, hmac secret, writes)."""
    import socket
    import threading
    import time

    import uvicorn

    from talent_platform.webhook import create_app
    from talent_shared.settings import Settings

    token, secret = "tok-" + "x" * 24, "whsec_" + "eXl5" * 11
    settings = Settings(ingest_token=token, ingest_hmac_secret=secret, database_url="postgresql://unused/none")
    app = create_app(settings)
    writes: list[tuple] = []
    monkeypatch.setattr(
        app.state.inbox, "write", lambda entity, value, record, key: writes.append((entity, record.id)) or True
    )
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the receiver did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token, secret, writes
    server.should_exit = True
    thread.join(timeout=10)


def _send(harness, url: str, token: str, secret: str, requests: list[dict]) -> list[dict]:
    env = {
        "PATH": "/usr/bin:/bin",
        "WEBHOOK_URL": url,
        "WEBHOOK_TOKEN": token,
        "WEBHOOK_HMAC_SECRET": secret,
        "WEBHOOK_REQUESTS": json.dumps([{k: r[k] for k in ("endpoint", "auth", "body")} for r in requests]),
    }
    done = subprocess.run(
        [sys.executable, "-c", harness.SENDER_SCRIPT], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return harness.parse_webhook_results("kubectl noise\n" + done.stdout, len(requests))


def test_sender_script_against_the_real_receiver(harness, receiver) -> None:
    """What the pod runs, against talent_platform.webhook: bearer and HMAC accepted, the invalid
    record refused with its field and reason, the signed delivery replayed under a new webhook-id
    and the wrong token refused; only the valid ones written."""
    url, token, secret, writes = receiver
    requests = harness.webhook_requests()
    results = _send(harness, url, token, secret, requests)
    assert harness.webhook_answer_problems(requests, results) == []
    assert sorted(writes) == sorted(
        ("candidate" if r["endpoint"] == "candidates" else "job", r["record"]["id"])
        for r in requests
        if "id" in r["expect"]
    )
    # With the wrong HMAC secret the signed record is refused, and the check says which and how.
    problems = harness.webhook_answer_problems(requests, _send(harness, url, token, "whsec_" + "enp6" * 11, requests))
    (problem,) = problems
    assert (
        "candidates c-4-000000 (hmac): expected 202" in problem and "401" in problem and "invalid signature" in problem
    )


def test_webhook_answer_problems_and_results_parsing(harness) -> None:
    requests = harness.webhook_requests()
    ok = [
        {"status": 202, "body": {"id": r["expect"]["id"], "duplicate": False}}
        if "id" in r["expect"]
        else {
            "status": r["expect"]["status"],
            "body": {"error": r["expect"]["error"], "field": r["expect"].get("field"), "reason": "why"},
        }
        for r in requests
    ]
    assert harness.webhook_answer_problems(requests, ok) == []
    bad = [dict(x) for x in ok]
    bad[1] = {"status": 202, "body": {"id": requests[1]["expect"]["id"], "duplicate": True}}
    bad[-3] = {"status": 400, "body": {"error": "invalid_record", "field": "years_experience", "reason": ""}}
    bad[-2] = {"status": 202, "body": {"id": requests[-2]["record"]["id"], "duplicate": False}}  # the replay
    problems = harness.webhook_answer_problems(requests, bad)
    assert len(problems) == 3
    assert "duplicate" in problems[0] and "without a reason" in problems[1]
    assert "(replay): expected 401 unauthorized" in problems[2]
    with pytest.raises(AssertionError, match="printed no results line"):
        harness.parse_webhook_results("error: pod refused", 6)
    with pytest.raises(AssertionError, match="answered 1 of 6"):
        harness.parse_webhook_results(harness.WEBHOOK_RESULTS_MARK + '[{"status": 202, "body": {}}]', 6)


class FakeDatabase:
    """talent.inbox, raw_records and rejects as check_webhook queries them."""

    def __init__(self, requests: list[dict]):
        self.inbox = []
        self.raw = []
        for i, r in enumerate(r for r in requests if "id" in r["expect"]):
            entity = "candidate" if r["endpoint"] == "candidates" else "job"
            self.inbox.append((100 + i, entity, r["record"]["id"]))
            self.raw.append((entity, r["record"]["id"], f"inbox:{100 + i}"))
        self.rejects: list[tuple] = []

    def sql(self, query: str, *params):
        if "FROM talent.inbox" in query:
            return [row for row in self.inbox if row[2] in params[0]]
        if "FROM talent.raw_records" in query:
            return [row for row in self.raw if row[1] in params[0]]
        if "FROM talent.rejects" in query:
            return [row for row in self.rejects if row[0] in params[0]]
        raise AssertionError(query)


@pytest.mark.parametrize(
    ("breakage", "message"),
    [
        (None, None),
        ("no inbox row", "answered 202 but no inbox row: [('job', 'j-4-000000')]"),
        ("refused one written", "refused by the webhook but in the inbox: [('candidate', 'webhook-bad-4')]"),
        ("raw record from elsewhere", "raw records not read from their webhook inbox row"),
        ("sensor rejected", "the sensor rejected inbox rows the webhook had accepted"),
    ],
)
def test_check_webhook_reads_the_database(harness, tmp_path, monkeypatch, breakage, message) -> None:
    e2e = harness.E2E(FakeCluster(tmp_path), pg_password="pw")
    requests = harness.webhook_requests()
    answers = [
        {"status": 202, "body": {"id": r["expect"]["id"], "duplicate": False}}
        if "id" in r["expect"]
        else {
            "status": r["expect"]["status"],
            "body": {"error": r["expect"]["error"], "field": r["expect"].get("field"), "reason": "r"},
        }
        for r in requests
    ]
    db = FakeDatabase(requests)
    if breakage == "no inbox row":
        db.inbox = [row for row in db.inbox if row[1] != "job"]
    elif breakage == "refused one written":
        db.inbox.append((999, "candidate", "webhook-bad-4"))
    elif breakage == "raw record from elsewhere":
        db.raw[0] = (*db.raw[0][:2], "candidates/e2e-1.jsonl")
    elif breakage == "sensor rejected":
        db.rejects.append(("inbox:100", "name: missing"))
    waited: list[dict] = []
    monkeypatch.setattr(e2e, "send_to_webhook", lambda reqs: answers)
    monkeypatch.setattr(e2e, "sql", db.sql)
    monkeypatch.setattr(e2e, "wait_all_matched", lambda: waited.append({k: set(v) for k, v in e2e.landed.items()}))
    if message is None:
        e2e.check_webhook()
        assert waited == [{"candidate": {"c-4-000000", "c-4-000001", "c-4-000002"}, "job": {"j-4-000000"}}]
        assert e2e.summary["webhook"]["inbox_rows"]["job/j-4-000000"] == 103
    else:
        with pytest.raises(AssertionError) as err:
            e2e.check_webhook()
        assert message in str(err.value)


def _load_render():
    name = "talent_helm_render"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, REPO / "tests" / "helm" / "render.py")
        assert spec and spec.loader
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _secret_refs(node) -> set[tuple[str, str]]:
    """(Secret, key) of every secretKeyRef, in JSON embedded in env values too (the container context)."""
    found: set[tuple[str, str]] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("secretKeyRef", "secret_key_ref") and isinstance(value, dict):
                found.add((value["name"], value["key"]))
            found |= _secret_refs(value)
    elif isinstance(node, list):
        for item in node:
            found |= _secret_refs(item)
    elif isinstance(node, str) and node.lstrip().startswith("{"):
        with contextlib.suppress(ValueError):
            found |= _secret_refs(json.loads(node))
    return found


def test_the_harness_creates_every_secret_the_kind_install_reads(harness, tmp_path, monkeypatch) -> None:
    """Roles are on for the e2e as in production: each role's Secret is created (random passwords),
    the URLs name the role and one database (Dagster's storage and the talent tables together)."""
    render = _load_render()
    if render.find_helm() is None:
        pytest.skip("helm not found (make tools)")
    docs = list(render.render_platform(kind=True).docs)
    for team in harness.TEAMS:
        docs += render.render_team(team, kind=True).docs
    read = set().union(*(_secret_refs(d) for d in docs))
    e2e = harness.E2E(FakeCluster(tmp_path), pg_password="pw")
    applied: list[dict] = []
    monkeypatch.setattr(e2e, "k", lambda *a, input=None, **kw: applied.append(json.loads(input)) or "")
    e2e.create_secrets()
    created = {
        (m["metadata"]["name"], key)
        for m in applied
        if m["metadata"]["namespace"] == harness.NAMESPACE
        for key in m["stringData"]
    }
    assert read - created == set()
    urls = {m["metadata"]["name"]: m["stringData"].get("database-url") for m in applied}
    assert urls["talent-db-ingest"].startswith(f"postgresql://talent_ingest:{e2e.role_passwords['ingest']}@")
    assert {u.rsplit("/", 1)[1] for u in urls.values() if u} == {"dagster"}
    assert len(set(e2e.role_passwords.values()) | {"pw"}) == len(harness.DB_ROLES) + 1


# --- the security cases ---------------------------------------------------------------------------------
def test_security_cases_are_the_issues_and_each_must_be_refused(harness) -> None:
    assert set(harness.SECURITY_CASES) == {
        "run a pod as another team's ServiceAccount",
        "mount another team's Secret",
        "create a privileged pod",
        "read another team's profiles",
        "write the Dagster storage as a team",
        "webhook replay with a new idempotency key",
    }
    good = [{"name": n, "passed": True, "detail": "refused: why"} for n in harness.SECURITY_CASES]
    assert harness.security_problems(good) == []
    bad = [dict(c) for c in good[1:]]
    bad[0]["passed"] = False
    bad[1]["detail"] = " "
    problems = harness.security_problems(bad)
    assert len(problems) == 3
    assert problems[0].startswith("missing case: run a pod as another team's ServiceAccount")
    assert problems[1].startswith("not refused: mount another team's Secret")
    assert problems[2] == "no detail: create a privileged pod"


def test_attack_jobs_differ_from_an_admissible_job_only_in_the_attack(harness) -> None:
    """So a refusal is for the attack, not for an unrelated flaw: the same Job with the team's own
    ServiceAccount and no foreign Secret is restricted and valid."""
    render = _load_render()
    baseline = harness.attack_job("x", "candidates-code-server")
    assert not render.restricted_violations(baseline["spec"]["template"]["spec"])
    other_sa = harness.attack_job("x", "jobs-code-server")
    assert other_sa["spec"]["template"]["spec"]["serviceAccountName"] == "jobs-code-server"
    secret = harness.attack_job("x", "candidates-code-server", secret="talent-db-jobs")
    (container,) = secret["spec"]["template"]["spec"]["containers"]
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == "talent-db-jobs"
    assert not render.restricted_violations(secret["spec"]["template"]["spec"])
    privileged = harness.attack_job("x", "candidates-code-server", privileged=True)
    assert render.restricted_violations(privileged["spec"]["template"]["spec"])


def test_refused_needs_a_non_zero_exit_and_the_reason(harness) -> None:
    denied = "The jobs \"x\" is invalid: ValidatingAdmissionPolicy 'platform-candidates-team-isolation' denied"
    assert harness.refused(denied, 1, "team-isolation")[0] is True
    assert harness.refused("job.batch/x created", 0, "team-isolation")[0] is False
    # refused for another reason (a typo in the manifest) is not the refusal the case is about
    assert harness.refused("error: unknown field", 1, "team-isolation")[0] is False


def test_admitted_attempts_are_deleted_at_once(harness, tmp_path, monkeypatch) -> None:
    e2e = harness.E2E(FakeCluster(tmp_path), pg_password="pw")
    deleted: list[tuple] = []
    monkeypatch.setattr(e2e, "k", lambda *a, **kw: deleted.append(a) or "")

    class Done:
        returncode, stdout, stderr = 0, b"job.batch/x created", b""

    monkeypatch.setattr(harness.subprocess, "run", lambda argv, **kw: Done())
    code, _ = e2e.attempt(harness.attack_job("x", "jobs-code-server"))
    assert code == 0 and deleted == [("delete", "job", "x", "--ignore-not-found", "--wait=false")]


def test_kind_cluster_node_choice(harness, tmp_path, monkeypatch) -> None:
    """The node image: official (kindest/node, the official Python base), local (both built here)
    or auto, decided when the cluster comes up; the choice goes to kind.sh with the cluster's name
    and kubeconfig."""
    monkeypatch.delenv("TALENT_KIND_NODE", raising=False)
    assert harness.KindCluster().node == "auto" and harness.KindCluster().base_image is None
    official = harness.KindCluster(kubeconfig=tmp_path / "k", node="official")
    local = harness.KindCluster(kubeconfig=tmp_path / "k", node="local")
    assert official.base_image == "python:3.11.14-slim-bookworm"
    assert local.base_image == "talent/python-base:3.11-bookworm"
    assert local.up_argv() == ["TALENT_KIND_NODE=local", "tests/e2e/kind/kind.sh", "up"]
    env = local._env()
    assert env["TALENT_KIND_NODE"] == "local" and env["TALENT_KIND_KUBECONFIG"] == str(tmp_path / "k")
    assert env["TALENT_KIND_NAME"] == local.name
    monkeypatch.setenv("TALENT_KIND_NODE", "local")
    assert harness.KindCluster().node == "local"
    with pytest.raises(ValueError, match="'auto', 'official' or 'local'"):
        harness.KindCluster(node="kindest")


def test_kind_facts_name_the_provider_and_the_kind_version(harness) -> None:
    facts = harness.KindCluster(node="official").facts()
    assert facts["cluster_provider"] == "kind" and facts["kind_node"] == "official"
    kind = harness.tool("kind")  # `make test` builds it (tools: kind-bin)
    out = subprocess.run([kind, "version"], capture_output=True, text=True, check=True).stdout
    assert out.split()[1] == facts["kind_version"] and re.fullmatch(r"v\d+\.\d+\.\d+", facts["kind_version"])


def test_kind_facts_without_a_kind_binary_say_unknown(harness, monkeypatch) -> None:
    monkeypatch.setattr(harness, "tool", lambda name: "/nonexistent/kind")
    assert harness.KindCluster(node="local").facts()["kind_version"] == "unknown"


def test_diagnosis_names_the_node_condition_and_why_a_pod_waits(harness) -> None:
    """What `kubectl get -o json` says of a node short of disk and the postgres pod it cannot place
    (the shapes of Kubernetes v1.32's objects), reduced to the lines a CI log's tail shows."""
    node = {
        "metadata": {"name": "talent-e2e-control-plane"},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "message": "kubelet has sufficient memory available"},
                {"type": "DiskPressure", "status": "True", "message": "kubelet has disk pressure"},
                {"type": "Ready", "status": "True", "message": "kubelet is posting ready status"},
            ]
        },
    }
    pending = {
        "metadata": {"name": "postgres-7d9c", "namespace": "talent-db"},
        "status": {
            "phase": "Pending",
            "conditions": [
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": "0/1 nodes are available: 1 node(s) had untolerated taint "
                    "{node.kubernetes.io/disk-pressure: }.",
                }
            ],
        },
    }
    crashing = {
        "metadata": {"name": "platform-daemon-5f", "namespace": "talent"},
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "False", "reason": "ContainersNotReady"}],
            "containerStatuses": [
                {"name": "dagster", "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}}}
            ],
        },
    }
    ready = {
        "metadata": {"name": "candidates-code-server-1", "namespace": "talent"},
        "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]},
    }
    done = {"metadata": {"name": "migrate-x", "namespace": "talent"}, "status": {"phase": "Succeeded"}}
    events = [
        {
            "type": "Warning",
            "reason": "FailedScheduling",
            "message": "0/1 nodes are available",
            "lastTimestamp": "2026-12-07T18:20:00Z",
            "involvedObject": {"kind": "Pod", "name": "postgres-7d9c"},
        },
        {"type": "Normal", "reason": "Scheduled", "message": "assigned", "involvedObject": {"kind": "Pod"}},
    ]
    lines = harness.diagnosis([node], [pending, crashing, ready, done], events)
    assert lines == [
        "node talent-e2e-control-plane: DiskPressure=True kubelet has disk pressure",
        "pod talent-db/postgres-7d9c Pending: PodScheduled: Unschedulable 0/1 nodes are available: "
        "1 node(s) had untolerated taint {node.kubernetes.io/disk-pressure: }.",
        "pod talent/platform-daemon-5f Running: Ready: ContainersNotReady; dagster waiting: CrashLoopBackOff back-off 40s",
        "event Pod/postgres-7d9c: FailedScheduling 0/1 nodes are available",
    ]
    healthy = {**node, "status": {"conditions": [{"type": "Ready", "status": "True"}]}}
    assert harness.diagnosis([healthy], [ready, done], []) == []


def test_the_run_refuses_a_disk_too_full_for_it(harness, monkeypatch, tmp_path) -> None:
    """The check measures the filesystem Docker's root is on; here a real directory stands for it."""
    e2e = harness.E2E(FakeCluster(tmp_path), pg_password="pw")
    monkeypatch.setattr(harness, "docker_root", lambda: str(tmp_path))
    free = harness.free_gb(str(tmp_path))
    assert free is not None and free > 0
    monkeypatch.setattr(harness, "MIN_FREE_GB", free + 1000)
    with pytest.raises(RuntimeError, match=r"Docker's disk has [0-9.]+ GB free; the e2e needs"):
        e2e.check_disk()
    monkeypatch.setattr(harness, "MIN_FREE_GB", 0.0)
    e2e.check_disk()
    assert e2e.summary["docker_disk_free_gb"] == pytest.approx(free, abs=1.0)
    monkeypatch.setattr(harness, "docker_root", lambda: None)  # a remote Docker: nothing to measure
    monkeypatch.setattr(harness, "MIN_FREE_GB", 1e9)
    e2e.check_disk()


def test_a_cluster_that_does_not_come_down_clean_fails_the_run(pytester, tmp_path, monkeypatch) -> None:
    sys.path.insert(0, str(HERE))
    import harness as shared

    monkeypatch.setattr(shared, "ARTIFACTS", tmp_path / "artifacts")

    class LeftOver(FakeCluster):
        def down(self) -> None:
            super().down()
            raise RuntimeError("kind.sh: not clean, left over: node containers")

    cluster = LeftOver(tmp_path)

    def factory():
        e2e = shared.E2E(cluster, pg_password="pw")
        real = e2e.plan()
        e2e.plan = lambda: [shared.Step(s.name, s.phase, s.argv, lambda: None) for s in real]
        return e2e

    class Inject:
        def pytest_configure(self, config):
            config.stash[shared.E2E_FACTORY] = factory

    result = pytester.runpytest_inprocess(
        str(HERE / "test_e2e.py"), *shared.PYTEST_ARGS, "-p", "no:xdist", plugins=[Inject()]
    )
    assert result.ret != 0 and result.parseoutcomes().get("errors") == 1
    result.stdout.fnmatch_lines(["*the cluster did not come down clean*node containers*"])
    assert json.loads((tmp_path / "artifacts" / "summary.json").read_text())["passed"] is False
