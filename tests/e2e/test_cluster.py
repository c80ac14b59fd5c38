"""The local Kubernetes of tests/e2e/cluster: `up`, a smoke test of what the platform relies on
(restricted Pod Security, a PVC from the default StorageClass, cluster DNS, a Service, exec and
port-forward), `down`, and nothing of it left; then an `up` stopped midway, which `down` must
also leave clean.

Marked `cluster`: plain `make test` deselects it (pyproject), `make e2e` runs it. It needs Docker
and root, and builds the Kubernetes binaries on first use (about 20 minutes cold).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "tests/e2e/cluster/cluster.sh"
KUBECTL = ROOT / ".tools/k8s/bin/kubectl"
KUBECONFIG = ROOT / ".tools/k8s/kubeconfig"
CONTAINER = os.environ.get("TALENT_CLUSTER_NAME", "talent-k8s")
NODE = "talent-k8s"  # fixed in tests/e2e/cluster/node/, whatever the container is called
ARTIFACTS = ROOT / ".e2e-artifacts/cluster"

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(3600)]


def _docker_missing() -> str | None:
    try:
        subprocess.run(["docker", "info"], check=True, capture_output=True, timeout=30)
    except FileNotFoundError:
        return "docker is not installed (make docker installs and starts it)"
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
        return "no Docker daemon answers (make docker starts one)"
    if os.geteuid() != 0:
        return "the cluster needs root (it sets up a privileged node container)"
    return None


@pytest.fixture(scope="module", autouse=True)
def _docker() -> None:
    reason = _docker_missing()
    if reason:
        pytest.skip(reason)


def cluster(*args: str, timeout: float = 3000) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(CLUSTER), *args], check=True, text=True, timeout=timeout)


def kubectl(*args: str, input: str | None = None, timeout: float = 120) -> str:
    done = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(KUBECONFIG), *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout


def assert_clean() -> None:
    done = subprocess.run([str(CLUSTER), "check-clean"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


SMOKE = """
apiVersion: v1
kind: Namespace
metadata:
  name: smoke
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/enforce-version: latest
---
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: data, namespace: smoke}
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 10Mi}}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: web, namespace: smoke}
data:
  Corefile: |
    .:8053 {
        health :8080
        whoami
    }
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: smoke}
spec:
  selector: {app: web}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: smoke, labels: {app: web}}
spec:
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: web
    # CoreDNS's health endpoint is the smallest HTTP server among the images built here.
    image: local/coredns:v1.11.3
    imagePullPolicy: IfNotPresent
    args: [-conf, /etc/web/Corefile]
    ports: [{containerPort: 8080}]
    readinessProbe: {httpGet: {path: /health, port: 8080}, periodSeconds: 1}
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    volumeMounts: [{name: conf, mountPath: /etc/web}]
  volumes: [{name: conf, configMap: {name: web}}]
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: smoke}
spec:
  terminationGracePeriodSeconds: 1
  securityContext:
    runAsNonRoot: true
    runAsUser: 10001
    runAsGroup: 10001
    fsGroup: 10001
    seccompProfile: {type: RuntimeDefault}
  containers:
  - name: client
    image: local/debian:bookworm
    imagePullPolicy: IfNotPresent
    command: [sleep, infinity]
    securityContext:
      allowPrivilegeEscalation: false
      readOnlyRootFilesystem: true
      capabilities: {drop: [ALL]}
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
"""


@pytest.fixture
def up() -> Iterator[None]:
    try:
        cluster("up")
        yield
    finally:
        # Kept for a failure's post-mortem; `logs` says so itself when there is nothing to copy.
        subprocess.run([str(CLUSTER), "logs", str(ARTIFACTS / "logs")], check=False)
        cluster("down", timeout=300)


def test_up_smoke_down_clean(up: None) -> None:
    node = json.loads(kubectl("get", "node", NODE, "-o", "json"))
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}
    assert ready["Ready"] == "True"
    classes = json.loads(kubectl("get", "storageclass", "-o", "json"))["items"]
    default = [
        c["metadata"]["name"]
        for c in classes
        if c["metadata"].get("annotations", {}).get("storageclass.kubernetes.io/is-default-class") == "true"
    ]
    assert default == ["local-path"]
    # check-clean sees a running cluster (so its silence after `down` means something).
    dirty = subprocess.run([str(CLUSTER), "check-clean"], capture_output=True, text=True, timeout=120)
    assert dirty.returncode != 0 and "docker containers" in dirty.stderr, dirty.stderr

    kubectl("apply", "-f", "-", input=SMOKE)
    kubectl("-n", "smoke", "wait", "--for=condition=Ready", "pod/web", "pod/client", "--timeout=180s", timeout=200)

    # The restricted profile is enforced: a pod that asks for nothing is refused.
    refused = subprocess.run(
        [str(KUBECTL), "--kubeconfig", str(KUBECONFIG), "-n", "smoke", "run", "bare", "--image=local/debian:bookworm"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0 and "violates PodSecurity" in refused.stderr, refused.stderr

    script = r"""
set -e
id -u; id -g
echo written-by-$(id -u) > /data/probe && cat /data/probe
if touch /rootfs-probe 2>/dev/null; then echo root-writable; else echo root-readonly; fi
grep CapEff /proc/self/status
grep Seccomp: /proc/self/status
getent hosts kubernetes.default.svc.cluster.local
exec 3<>/dev/tcp/web.smoke.svc.cluster.local/80
printf 'GET /health HTTP/1.0\r\nHost: web\r\n\r\n' >&3
cat <&3
"""
    out = kubectl("-n", "smoke", "exec", "client", "--", "bash", "-c", script, timeout=60)
    lines = out.splitlines()
    assert lines[0:2] == ["10001", "10001"], out
    assert "written-by-10001" in lines, out
    assert "root-readonly" in lines, out
    assert re.search(r"CapEff:\s+0+$", out, re.M), out
    assert re.search(r"Seccomp:\s+2$", out, re.M), out
    assert re.search(r"^10\.96\.0\.1\s+kubernetes\.default\.svc\.cluster\.local", out, re.M), out
    assert "200 OK" in out and out.rstrip().endswith("OK"), out

    claim = json.loads(kubectl("-n", "smoke", "get", "pvc", "data", "-o", "json"))
    assert claim["status"]["phase"] == "Bound"
    assert claim["spec"]["storageClassName"] == "local-path"

    forward = subprocess.Popen(
        [str(KUBECTL), "--kubeconfig", str(KUBECONFIG), "-n", "smoke", "port-forward", "svc/web", "0:80"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert forward.stdout is not None
        first = forward.stdout.readline()
        port = re.search(r"127\.0\.0\.1:(\d+)", first)
        assert port, first + (forward.stderr.read() if forward.poll() is not None and forward.stderr else "")
        with urllib.request.urlopen(f"http://127.0.0.1:{port.group(1)}/health", timeout=10) as response:
            assert response.status == 200
            assert response.read().decode().strip() == "OK"
    finally:
        forward.terminate()
        forward.wait(timeout=10)


def test_clean_after_down() -> None:
    """Runs after the smoke test's fixture has torn the cluster down."""
    assert_clean()
    assert not KUBECONFIG.exists()


def _container_exists() -> bool:
    return subprocess.run(["docker", "inspect", CONTAINER], capture_output=True).returncode == 0


def _phase() -> str:
    done = subprocess.run(["docker", "exec", CONTAINER, "cat", "/run/talent/phase"], capture_output=True, text=True)
    return done.stdout.strip()


def _start_up_and_wait_for(phases: set[str]) -> subprocess.Popen[bytes]:
    """`cluster.sh up` in its own process group, once the node reports one of `phases`."""
    proc = subprocess.Popen([str(CLUSTER), "up"], start_new_session=True)
    deadline = time.monotonic() + 600
    while _phase() not in phases:
        assert proc.poll() is None, "up ended before the phase to interrupt it at"
        assert time.monotonic() < deadline, f"up did not reach {phases} within 10 minutes"
        time.sleep(0.2)
    return proc


@pytest.fixture
def down_after() -> Iterator[None]:
    """Whatever the test's outcome, the next test (or the next CI job) starts from nothing."""
    yield
    subprocess.run([str(CLUSTER), "down"], check=False, timeout=300)


@pytest.mark.usefixtures("down_after")
def test_interrupted_up_tears_itself_down() -> None:
    # With the control plane starting (the phases after it last seconds each, too short to poll).
    proc = _start_up_and_wait_for({"kube-apiserver", "controllers", "images", "kubelet", "addons"})
    os.killpg(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=300) != 0
    # Its trap already ran `down`; a second one must be harmless.
    assert not _container_exists()
    cluster("down", timeout=300)
    assert_clean()


@pytest.mark.usefixtures("down_after")
def test_killed_up_is_cleaned_by_down() -> None:
    # SIGKILL leaves no trap to run, with pods (cgroups, mounts, network namespaces) being made.
    proc = _start_up_and_wait_for({"addons", "running"})
    time.sleep(1)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    assert _container_exists()
    cluster("down", timeout=300)
    assert_clean()
