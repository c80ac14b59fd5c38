"""The end-to-end harness without a cluster: what it runs, in which order, what it tears down and
reports on failure, and that its fixed inputs (manifests, values, the code-version bump) still fit
the product. The run itself is `make e2e` (local cluster) or `make e2e-kind`."""

from __future__ import annotations

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


@pytest.fixture(params=["local", "kind", "fake"])
def e2e(request, harness, tmp_path):
    cluster = {
        "local": lambda: harness.LocalCluster(),
        "kind": lambda: harness.KindCluster(kubeconfig=tmp_path / "kind.kubeconfig"),
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
    phases = [s.phase for s in e2e.plan()]
    assert phases.index("deploy") > max(i for i, p in enumerate(phases) if p == "setup")


def test_only_the_cluster_steps_differ_between_clusters(harness, tmp_path) -> None:
    local = harness.E2E(harness.LocalCluster(), pg_password="x")
    kind = harness.E2E(harness.KindCluster(kubeconfig=tmp_path / "k"), pg_password="x")
    differs = [a.name for a, b in zip(local.plan(), kind.plan(), strict=True) if a.shell() != b.shell()]
    assert differs == ["cluster up", "build the images"]


def test_secrets_are_redacted_in_the_printed_plan(e2e) -> None:
    printed = "\n".join(s.shell() for s in e2e.plan())
    assert "pw-for-tests-only" not in printed
    assert "postgresql-password=***" in printed


@pytest.mark.parametrize(
    "fail_at", ["install the platform (hooks included)", "fault: delete a run's pod while it runs", None]
)
def test_run_always_tears_down_dumps_on_failure_and_writes_the_summary(harness, tmp_path, monkeypatch, fail_at) -> None:
    cluster = FakeCluster(tmp_path)
    e2e = harness.E2E(cluster, pg_password="pw")
    monkeypatch.setattr(harness, "ARTIFACTS", tmp_path / "artifacts")

    def no_cluster(*args, **kwargs):
        raise RuntimeError("no cluster in this test")

    monkeypatch.setattr(e2e, "k", no_cluster)
    ran: list[str] = []
    real = e2e.plan()

    def step(s):
        def action():
            ran.append(s.name)
            if s.name == fail_at:
                raise RuntimeError("boom")

        return harness.Step(s.name, s.phase, s.argv, action)

    monkeypatch.setattr(e2e, "plan", lambda: [step(s) for s in real])
    rc = e2e.run()
    assert rc == (1 if fail_at else 0)
    assert cluster.calls[-1] == "down"
    assert ("dump" in cluster.calls) is bool(fail_at)
    if fail_at:
        assert ran[-1] == fail_at  # nothing after the failed step ran
    summary = json.loads((tmp_path / "artifacts" / "summary.json").read_text())
    assert summary["passed"] is (fail_at is None)
    assert {"faults", "runs", "step_pods", "timings_s"} <= set(summary)
    assert ("error" in summary) is bool(fail_at)


def test_plan_command_prints_without_side_effects() -> None:
    for script, first in (("local.py", "tests/e2e/cluster/cluster.sh up"), ("kind.py", "create cluster")):
        out = subprocess.run(
            [sys.executable, str(HERE / script), "plan"], capture_output=True, text=True, timeout=120, cwd=REPO
        )
        assert out.returncode == 0, out.stderr
        assert first in out.stdout and "helm upgrade --install platform" in out.stdout


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
    assert platform["runLauncher"]["runK8sConfig"]["jobSpecConfig"]["ttlSecondsAfterFinished"] >= harness.WAIT_S
    for team in harness.TEAMS:
        values = yaml.safe_load((REPO / "helm/values/kind" / f"{team}.yaml").read_text())
        assert f"{values['image']['repository']}:{values['image']['tag']}" == harness.TEAM_IMAGES[team]
        assert values["image"]["pullPolicy"] == "IfNotPresent"  # loaded, never pulled
        assert values["env"]["TALENT_EXECUTOR"] == "k8s"
        assert values["extraVolumes"][0]["persistentVolumeClaim"]["claimName"] == "talent-landing"
        assert values["env"]["TALENT_LANDING"] == values["extraVolumeMounts"][0]["mountPath"] == "/landing"
