"""The end-to-end run of the whole platform on a real Kubernetes cluster, for any cluster.

The cluster is kind (:class:`KindCluster`, ``tests/e2e/kind/kind.sh``), on its official node image
where Docker can have it and on one built here where no registry is reachable. A cluster only has
to bring itself up, hand over a kubeconfig, load images into its runtime and take itself down
(:class:`Cluster`); everything the run checks is read from the API server, from Dagster's GraphQL
API and from the databases, never scraped from logs.

The run, in order (``plan`` prints it):

1. cluster up; images built (``tests/e2e/images/build.sh``) and loaded, never pulled;
2. namespaces enforcing the restricted Pod Security Standard, Secrets, Postgres with pgvector;
3. ``helm upgrade --install`` of the platform (hooks included) and of the three team releases;
   every pod Ready and admitted;
4. a burst of records, one of them malformed, dropped into the landing zone; while it runs, a run
   pod is deleted (run monitoring fails the run, the reconciler's next run of its batch completes it) and then the daemon pod
   (it resumes); afterwards Postgres is restarted and a second burst must still go through;
5. every valid record has its top-K; every run was a Job of the K8sRunLauncher; every asset step
   was its own Job whose pod's requests and limits equal what the asset declares;
6. the cost exporter, scraped through its Service from inside the cluster, agrees with the ledger;
   records posted to the webhook through its Service from a pod in another namespace (bearer and
   Standard Webhooks signatures; one invalid, one signed delivery replayed under a new id, one
   with a wrong token) are answered as the receiver documents, and each 202 is an inbox row, then
   a raw record read from that row, then matched; the security cases (``SECURITY_CASES``), each
   attempted as the candidates team against the jobs team and refused by the API server or
   Postgres, into ``summary["security"]``;
7. ``helm upgrade`` of the candidates team with a bumped code version re-normalizes exactly that
   team's records (read from the record lineage; vectors and ``matches`` only where a profile
   changed), as several runs at once (one per batch: at least two ``normalized_candidates`` step
   pods run at the same time), and changes no object of another release; ``helm rollback`` works;
8. ``.e2e-artifacts/summary.json`` from what was read; on failure, logs, events, describe output
   and Dagster run logs in ``.e2e-artifacts/``; the cluster is torn down in every case.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / ".e2e-artifacts"
# What the images take twice (Docker's store and the node's containerd) with room to spare.
MIN_FREE_GB = float(os.environ.get("TALENT_E2E_MIN_FREE_GB", "15"))
# How the run is started as pytest: only the e2e's tests (marked cluster), its output as it happens,
# no per-test timeout (the setup alone builds and loads images for many minutes: each wait in the
# harness has its own deadline), the checks in the plan's order.
PYTEST_ARGS = ["-m", "cluster", "-s", "-o", "timeout=0", "-ra"]
# Where a test of the pytest wiring puts its own E2E factory (tests/e2e/test_harness.py).
E2E_FACTORY: pytest.StashKey[Callable[[], E2E]] = pytest.StashKey()
NAMESPACE = "talent"
DB_NAMESPACE = "talent-db"
TAG = "e2e"
BUMP_TAG = "e2e-bump"
TEAMS = ("candidates", "jobs", "matching")
PLATFORM_IMAGE = f"talent-platform:{TAG}"
POSTGRES_IMAGE = f"talent-postgres:{TAG}"
TEAM_IMAGES = {t: f"talent-{t}:{TAG}" for t in TEAMS}
IMAGES = (PLATFORM_IMAGE, *TEAM_IMAGES.values(), POSTGRES_IMAGE)
MANIFESTS = (
    "tests/e2e/manifests/namespaces.yaml",
    "tests/e2e/manifests/postgres.yaml",
    "tests/e2e/manifests/landing.yaml",
)
TOP_K = 10
# The webhook (helm/values/kind/platform.yaml enables it): its Secret, its Service, and the namespace
# the e2e sends from, which its NetworkPolicy admits (networkPolicy.webhookFrom in the kind values).
SENDER_NAMESPACE = "talent-senders"
# What a failure is diagnosed and dumped from: ours, and the cluster's DNS and storage.
DEBUG_NAMESPACES = (NAMESPACE, DB_NAMESPACE, SENDER_NAMESPACE, "kube-system", "local-path-storage")
SENDER_LABEL = "app.kubernetes.io/name=webhook-sender"
WEBHOOK_SECRET = "talent-webhook"
WEBHOOK_URL = f"http://platform-webhook.{NAMESPACE}.svc.cluster.local:8080"
WEBHOOK_RECORDS = (3, 1)  # candidates, jobs posted through the webhook
WEBHOOK_SEED = 4  # the landing bursts use seeds 1 to 3: the ids differ
# The least-privilege database roles (talent_<name>), each with its own Secret (helm/values/kind).
DB_ROLES = ("candidates", "jobs", "matching", "dagster", "exporter", "ingest")
BURST = (24, 8)  # candidates, jobs of the first burst
SECOND_BURST = (6, 2)
WAIT_S = 25 * 60
REDACTED = "***"
# What the code-version bump changes: the candidates team's normalization logic version, in the
# team's own pipeline declaration. Only the candidates image is rebuilt with it.
BUMP_FILE = "code_locations/candidates/src/talent_candidates/defs/pipeline/defs.yaml"
BUMP_FROM = "normalize_version: normalize-1\n"
BUMP_TO = "normalize_version: normalize-1-e2e-bump\n"


# --- clusters --------------------------------------------------------------------------------------
class Cluster(Protocol):
    """What the harness needs of a cluster; nothing else in it is specific to one."""

    name: str
    kubeconfig: Path

    @property
    def base_image(self) -> str | None: ...  # the Python base the product images are built on (None: the default)

    def up_argv(self) -> list[str]: ...
    def up(self) -> None: ...
    def exists(self) -> bool: ...  # a cluster of this name is there (a run with --reuse-cluster takes it)
    def adopt(self) -> None: ...  # take the existing cluster instead of `up`
    def load(self, images: list[str]) -> None: ...
    def down(self) -> None: ...
    def dump(self, dest: Path) -> None: ...
    def facts(self) -> dict[str, str]: ...  # for summary.json: at least cluster_provider


@dataclass
class KindCluster:
    """kind (tests/e2e/kind/kind.sh). Its node image, ``TALENT_KIND_NODE``: ``official``
    (kindest/node and the official Python base, for a machine with internet), ``local`` (both
    built on this machine, for one that reaches no image registry) or ``auto`` (the default:
    official where Docker has or can pull kindest/node, else local, decided when the cluster
    comes up)."""

    name: str = "talent-e2e"
    kubeconfig: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "talent-e2e-kind.kubeconfig")
    node: str = field(default_factory=lambda: os.environ.get("TALENT_KIND_NODE", "auto"))
    config: str = "tests/e2e/kind-config.yaml"
    script: str = "tests/e2e/kind/kind.sh"
    node_script: str = "tests/e2e/kind/node-image.sh"

    def __post_init__(self) -> None:
        if self.node not in ("auto", "official", "local"):
            raise ValueError(f"TALENT_KIND_NODE must be 'auto', 'official' or 'local', not {self.node!r}")

    @property
    def base_image(self) -> str | None:
        return {
            "official": "python:3.11.14-slim-bookworm",
            "local": "talent/python-base:3.11-bookworm",
        }.get(self.node)  # auto: not decided before the cluster is up (a plan prints the default)

    def resolve(self) -> None:
        if self.node == "auto":
            out = subprocess.run(
                [self.node_script, "resolve"], cwd=REPO, env=self._env(), capture_output=True, text=True
            )
            if out.returncode != 0:
                raise RuntimeError(f"{self.node_script} resolve failed: {out.stderr.strip()}")
            self.node = out.stdout.strip()
            print(f"    TALENT_KIND_NODE=auto: {self.node}", flush=True)

    def _env(self) -> dict[str, str]:
        return {
            **os.environ,
            "TALENT_KIND_NODE": self.node,
            "TALENT_KIND_NAME": self.name,
            "TALENT_KIND_CONFIG": str(REPO / self.config),
            "TALENT_KIND_KUBECONFIG": str(self.kubeconfig),
        }

    def up_argv(self) -> list[str]:
        return [f"TALENT_KIND_NODE={self.node}", self.script, "up"]

    def up(self) -> None:
        self.resolve()
        sh([self.script, "up"], env=self._env())

    def exists(self) -> bool:
        out = subprocess.run([tool("kind"), "get", "clusters"], capture_output=True, text=True, check=False)
        return self.name in out.stdout.split()

    def adopt(self) -> None:
        self.resolve()
        sh([tool("kind"), "export", "kubeconfig", "--name", self.name, "--kubeconfig", str(self.kubeconfig)])

    def load(self, images: list[str]) -> None:
        sh([self.script, "load", *images], env=self._env())

    def down(self) -> None:
        sh([self.script, "down"], env=self._env())
        sh([self.script, "check-clean"], env=self._env())

    def dump(self, dest: Path) -> None:
        sh([self.script, "logs", str(dest / "cluster")], check=False, env=self._env())

    def facts(self) -> dict[str, str]:
        try:
            version = subprocess.run(
                [tool("kind"), "version"], capture_output=True, text=True, check=False
            ).stdout.split()
        except FileNotFoundError:  # no kind yet (`make kind-bin`): the summary says so rather than failing
            version = []
        return {
            "cluster_provider": "kind",
            "kind_version": version[1] if len(version) > 1 else "unknown",
            "kind_node": self.node,
        }


# --- small tools -----------------------------------------------------------------------------------
def tool(name: str) -> str:
    for local in (REPO / ".tools" / "k8s" / "bin" / name, REPO / ".tools" / "bin" / name):
        if local.exists():
            return str(local)
    return shutil.which(name) or name


def sh(argv: list[str], *, check: bool = True, env: dict[str, str] | None = None, timeout: float = 3600) -> int:
    print(f"    $ {' '.join(shlex.quote(a) for a in argv)}", flush=True)
    return subprocess.run(argv, cwd=REPO, check=check, env=env, timeout=timeout).returncode


def docker_root() -> str | None:
    """Where Docker keeps its images (None when no daemon answers)."""
    try:
        out = subprocess.run(
            ["docker", "info", "--format", "{{.DockerRootDir}}"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0:
        return None
    return out.stdout.strip() or None


def free_gb(path: str) -> float | None:
    """Free space on the filesystem of ``path`` (None when it is not visible from here, e.g. a
    remote Docker's)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return round(st.f_bavail * st.f_frsize / 1e9, 1)


def untagged_images() -> set[str]:
    out = subprocess.run(
        ["docker", "images", "--quiet", "--no-trunc", "--filter", "dangling=true"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return set(out.stdout.split())


def diagnosis(nodes: list[dict], pods: list[dict], events: list[dict], limit: int = 12) -> list[str]:
    """What is wrong in the cluster, in a few lines for the tail of a CI log: node conditions that
    are not healthy, pods that are not Ready with the reason Kubernetes gives, the last warnings."""
    lines = []
    for n in nodes:
        for c in n.get("status", {}).get("conditions", []):
            healthy = c["status"] == ("True" if c["type"] == "Ready" else "False")
            if not healthy:
                lines.append(f"node {n['metadata']['name']}: {c['type']}={c['status']} {c.get('message', '')}".rstrip())
    for p in pods:
        status = p.get("status", {})
        if status.get("phase") == "Succeeded" or any(
            c["type"] == "Ready" and c["status"] == "True" for c in status.get("conditions", [])
        ):
            continue
        why = [
            f"{c['type']}: {c.get('reason', '')} {c.get('message', '')}".strip()
            for c in status.get("conditions", [])
            if c["status"] != "True" and (c.get("reason") or c.get("message"))
        ]
        for cs in status.get("containerStatuses", []) + status.get("initContainerStatuses", []):
            for state in ("waiting", "terminated"):
                if st := cs.get("state", {}).get(state):
                    why.append(f"{cs['name']} {state}: {st.get('reason', '')} {st.get('message', '')}".strip())
        ns, name = p["metadata"].get("namespace", ""), p["metadata"]["name"]
        lines.append(f"pod {ns}/{name} {status.get('phase', '?')}: {'; '.join(why) or 'no reason given'}")
    warnings = [e for e in events if e.get("type") == "Warning"]
    warnings.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    for e in warnings[-5:]:
        obj = e.get("involvedObject", {})
        lines.append(f"event {obj.get('kind', '')}/{obj.get('name', '')}: {e.get('reason', '')} {e.get('message', '')}")
    return [line[:300] for line in lines[:limit]]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def quantity(value: str | int | float) -> float:
    """A Kubernetes quantity as a number (cpu in cores, memory in bytes), for comparing equal values
    written differently (``1`` and ``1000m``, ``1Gi`` and ``1073741824``)."""
    s = str(value)
    units = {"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}
    m = re.fullmatch(r"([0-9.]+)([a-zA-Z]*)", s)
    if not m:
        raise ValueError(f"not a quantity: {value!r}")
    return float(m.group(1)) * units.get(m.group(2), 1.0)


def same_resources(a: dict, b: dict) -> bool:
    keys = set(a) | set(b)
    return all(k in a and k in b and quantity(a[k]) == quantity(b[k]) for k in keys)


@dataclass
class Step:
    """One step of the run: ``argv`` is what ``plan`` prints (the equivalent command), ``action``
    does it. ``secret`` is replaced by *** wherever the step is printed."""

    name: str
    phase: str  # setup | deploy | verify | faults | upgrade
    argv: list[str]
    action: Callable[[], None]
    secret: str | None = None

    def shell(self) -> str:
        shown = [a.replace(self.secret, REDACTED) if self.secret else a for a in self.argv]
        return " ".join(a if a in {"|", "&", "&&"} else shlex.quote(a) for a in shown)


class PortForward:
    def __init__(self, e2e: E2E, target: str, remote: int, namespace: str = NAMESPACE):
        self.local = free_port()
        self.argv = [e2e.kubectl, "--namespace", namespace, "port-forward", target, f"{self.local}:{remote}"]
        self.env = e2e.env

    def __enter__(self) -> PortForward:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=self.env)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"port-forward exited: {self.proc.stderr.read().decode()[-500:]}")  # type: ignore[union-attr]
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.local)) == 0:
                    return self
            time.sleep(0.3)
        raise RuntimeError(f"port-forward did not come up: {' '.join(self.argv)}")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


# --- the run ---------------------------------------------------------------------------------------
RUNS_QUERY = """
query Runs($cursor: String) {
  runsOrError(limit: 500, cursor: $cursor) {
    ... on Runs { results { runId status creationTime tags { key value } assetSelection { path } } }
  }
}
"""
LOCATIONS_QUERY = """
{ workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError { __typename } } } } }
"""
MATERIALIZATIONS_QUERY = """
query Mats($key: AssetKeyInput!, $after: String) {
  assetOrError(assetKey: $key) {
    ... on Asset { assetMaterializations(limit: 10000, afterTimestampMillis: $after) { runId partition timestamp } }
  }
}
"""
RUN_LOGS_QUERY = """
query Logs($runId: ID!) {
  logsForRun(runId: $runId, limit: 2000) {
    ... on EventConnection { events { __typename ... on MessageEvent { message timestamp level stepKey } } }
  }
}
"""


# Runs in a pod of SENDER_NAMESPACE (python -c): posts each request of $WEBHOOK_REQUESTS to
# $WEBHOOK_URL, authenticated as its "auth" says (bearer: $WEBHOOK_TOKEN; hmac: signed with
# $WEBHOOK_HMAC_SECRET by the stock Standard Webhooks SDK, as a producer signs; replay: the previous
# hmac request's headers and body again under a new webhook-id, as an attacker who captured it
# would send it; wrong-token: a token that is not it), and prints one line: WEBHOOK_RESULTS_MARK
# then a JSON list of {"status", "body"}, in order.
WEBHOOK_RESULTS_MARK = "WEBHOOK-RESULTS "
SENDER_SCRIPT = """
import json, os, time, urllib.error, urllib.request, uuid
from datetime import datetime, timezone
from standardwebhooks import Webhook

out, last = [], None
for r in json.loads(os.environ["WEBHOOK_REQUESTS"]):
    body = r["body"].encode()
    headers = {"Content-Type": "application/json"}
    if r["auth"] == "hmac":
        now = datetime.fromtimestamp(int(time.time()), tz=timezone.utc)
        msg_id = "msg_" + uuid.uuid4().hex
        signature = Webhook(os.environ["WEBHOOK_HMAC_SECRET"]).sign(msg_id, now, r["body"])
        headers.update({"webhook-id": msg_id, "webhook-timestamp": str(int(now.timestamp())), "webhook-signature": signature})
        last = (body, dict(headers))
    elif r["auth"] == "replay":
        body, headers = last[0], {**last[1], "webhook-id": "msg_" + uuid.uuid4().hex}
    else:
        token = os.environ["WEBHOOK_TOKEN"] if r["auth"] == "bearer" else "not-" + os.environ["WEBHOOK_TOKEN"]
        headers["Authorization"] = "Bearer " + token
    url = os.environ["WEBHOOK_URL"] + "/v1/" + r["endpoint"]
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            status, text = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, text = exc.code, exc.read().decode()
    try:
        answer = json.loads(text)
    except ValueError:
        answer = {"unparsed": text[:200]}
    out.append({"status": status, "body": answer})
print("WEBHOOK-RESULTS " + json.dumps(out), flush=True)
"""


def webhook_requests(seed: int = WEBHOOK_SEED) -> list[dict]:
    """What the e2e posts: the valid records (the first candidate HMAC-signed, the rest with the
    bearer token), then one the contract refuses, then a valid one with a wrong token.
    ``expect`` is the id a 202 must name, or the status and error an invalid request must get."""
    from talent_platform.seed import generate

    cands, jobs = generate(*WEBHOOK_RECORDS, seed=seed)
    out = [
        {"endpoint": "candidates", "auth": "hmac" if i == 0 else "bearer", "record": c, "expect": {"id": c["id"]}}
        for i, c in enumerate(cands)
    ]
    out += [{"endpoint": "jobs", "auth": "bearer", "record": j, "expect": {"id": j["id"]}} for j in jobs]
    bad = dict(cands[0], id=f"webhook-bad-{seed}", years_experience="seven")  # wrong type: refused
    out.append(
        {
            "endpoint": "candidates",
            "auth": "bearer",
            "record": bad,
            "expect": {"status": 400, "error": "invalid_record", "field": "years_experience"},
        }
    )
    # the first candidate's signed delivery again, under a new webhook-id (its record is the same)
    out.append(
        {
            "endpoint": "candidates",
            "auth": "replay",
            "record": cands[0],
            "expect": {"status": 401, "error": "unauthorized"},
        }
    )
    stranger = dict(cands[0], id=f"webhook-unauthorized-{seed}")
    out.append(
        {
            "endpoint": "candidates",
            "auth": "wrong-token",
            "record": stranger,
            "expect": {"status": 401, "error": "unauthorized"},
        }
    )
    for r in out:
        r["body"] = json.dumps(r["record"])
    return out


def parse_webhook_results(output: str, sent: int) -> list[dict]:
    """The sender pod's answers, from its output (kubectl may add lines of its own)."""
    lines = [ln for ln in output.splitlines() if ln.startswith(WEBHOOK_RESULTS_MARK)]
    if len(lines) != 1:
        raise AssertionError(f"the sender pod printed no results line; its output: {output[-1500:]!r}")
    results = json.loads(lines[0][len(WEBHOOK_RESULTS_MARK) :])
    if len(results) != sent:
        raise AssertionError(f"the sender pod answered {len(results)} of {sent} requests: {results}")
    return results


# --- security: one team's attempts on another, each refused by the API server or Postgres -------------
SECURITY_TEAM, OTHER_TEAM = "candidates", "jobs"
SECURITY_CASES = (
    "run a pod as another team's ServiceAccount",
    "mount another team's Secret",
    "create a privileged pod",
    "read another team's profiles",
    "write the Dagster storage as a team",
    "webhook replay with a new idempotency key",
)


def team_identity(team: str) -> str:
    """What the API server sees when the team's run pods call it (kubectl --as)."""
    return f"system:serviceaccount:{NAMESPACE}:{team}-code-server"


def attack_job(name: str, service_account: str, *, secret: str | None = None, privileged: bool = False) -> dict:
    """A Job a team's code could write: restricted unless ``privileged``, and as harmless as can be if
    it were ever admitted (``true``, deleted at once by check_security)."""
    container: dict[str, Any] = {
        "name": "attempt",
        "image": "talent-platform:e2e",
        "imagePullPolicy": "IfNotPresent",
        "command": ["true"],
        "securityContext": {
            "allowPrivilegeEscalation": privileged,
            "privileged": privileged,
            "runAsNonRoot": not privileged,
            **({} if privileged else {"runAsUser": 10001}),
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }
    if secret:
        container["env"] = [{"name": "STOLEN", "valueFrom": {"secretKeyRef": {"name": secret, "key": "database-url"}}}]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": NAMESPACE, "labels": {"talent.io/e2e": "security"}},
        "spec": {
            "backoffLimit": 0,
            "ttlSecondsAfterFinished": 60,
            "template": {
                "metadata": {"labels": {"talent.io/e2e": "security"}},
                "spec": {
                    "restartPolicy": "Never",
                    "serviceAccountName": service_account,
                    "automountServiceAccountToken": False,
                    "securityContext": {"seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                },
            },
        },
    }


def refused(output: str, returncode: int, *markers: str) -> tuple[bool, str]:
    """(refused, detail) of a kubectl create: refused only with a non-zero exit naming a marker."""
    text = " ".join(output.split())[-400:]
    return returncode != 0 and any(m in output for m in markers), text


def security_problems(cases: list[dict]) -> list[str]:
    """Every required case present, each refused (passed) and explained."""
    names = [c["name"] for c in cases]
    problems = [f"missing case: {n}" for n in SECURITY_CASES if n not in names]
    problems += [f"not refused: {c['name']}: {c['detail']}" for c in cases if not c["passed"]]
    problems += [f"no detail: {c['name']}" for c in cases if not str(c.get("detail", "")).strip()]
    return problems


def webhook_answer_problems(requests: list[dict], results: list[dict]) -> list[str]:
    """Each answer against what the receiver documents (shared_lib/docs/ingestion.md, "Answers")."""
    problems = []
    for r, got in zip(requests, results, strict=True):
        what = f"{r['endpoint']} {r['record']['id']} ({r['auth']})"
        want, status, body = r["expect"], got["status"], got["body"]
        if "id" in want:
            if status != 202 or body != {"id": want["id"], "duplicate": False}:
                problems.append(f"{what}: expected 202 {{id: {want['id']}, duplicate: false}}, got {status} {body}")
            continue
        if status != want["status"] or body.get("error") != want["error"]:
            problems.append(f"{what}: expected {want['status']} {want['error']}, got {status} {body}")
        elif "field" in want and body.get("field") != want["field"]:
            problems.append(f"{what}: refused, but field {body.get('field')!r} is not {want['field']!r}: {body}")
        elif not body.get("reason"):
            problems.append(f"{what}: refused without a reason: {body}")
    return problems


class E2E:
    def __init__(self, cluster: Cluster, *, pg_password: str | None = None):
        self.cluster = cluster
        self.kubectl = tool("kubectl")
        self.helm = tool("helm")
        self.python = sys.executable
        self.pg_password = pg_password or secrets.token_urlsafe(24)
        self.webhook_token = secrets.token_urlsafe(24)
        # Each least-privilege role's password (talent_shared/db/roles.py): the migrate hook sets them
        # from talent-db-role-passwords, every other pod connects with its own (as in production).
        self.role_passwords = {role: secrets.token_urlsafe(24) for role in DB_ROLES}
        # Standard Webhooks secrets are whsec_ + standard base64 (the receiver refuses anything else)
        self.webhook_hmac_secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
        self.workdir = Path(tempfile.mkdtemp(prefix="talent-e2e-"))
        self.env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
        self.summary: dict[str, Any] = {"cluster": cluster.name, "faults": [], "timings_s": {}}
        self.landed: dict[str, set[str]] = {"candidate": set(), "job": set()}
        self.bad_lines = 0
        self.started = time.monotonic()
        self._pod_log: dict[str, dict] = {}  # every run/step pod seen, by name, as last read
        self._watching = threading.Event()
        self._steps: dict[str, Step] | None = None  # the plan by step name, built on first use

    # -- kubectl / helm / graphql / sql -----------------------------------------------------------
    def k(
        self,
        *args: str,
        namespace: str | None = NAMESPACE,
        check: bool = True,
        input: bytes | None = None,
        timeout: float = 300,
    ) -> str:
        argv = [self.kubectl, *(["--namespace", namespace] if namespace else []), *args]
        out = subprocess.run(argv, env=self.env, capture_output=True, input=input, timeout=timeout)
        if check and out.returncode != 0:
            raise RuntimeError(f"{' '.join(argv[:6])}... failed: {out.stderr.decode()[-2000:]}")
        return out.stdout.decode()

    def rollout(self, deployment: str, namespace: str = NAMESPACE, wait_s: int = 300) -> None:
        """Wait for a Deployment's rollout. kubectl's own timeout expires first, so its message (not
        the subprocess's) says what it waited for."""
        self.k(
            "rollout",
            "status",
            f"deployment/{deployment}",
            "--timeout",
            f"{wait_s}s",
            namespace=namespace,
            timeout=wait_s + 60,
        )

    def kjson(self, *args: str, namespace: str | None = NAMESPACE) -> dict:
        return json.loads(self.k(*args, "--output", "json", namespace=namespace))

    def helm_argv(self, release: str, chart: str, values: list[str], *extra: str) -> list[str]:
        argv = [self.helm, "upgrade", "--install", release, chart, "--namespace", NAMESPACE]
        for v in values:
            argv += ["--values", v]
        return [*argv, *extra, "--wait", "--timeout", "15m"]

    def graphql(self, port: int, query: str, variables: dict | None = None) -> dict:
        req = urllib.request.Request(
            f"http://127.0.0.1:{port}/graphql",
            data=json.dumps({"query": query, "variables": variables or {}}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = json.load(resp)
        if body.get("errors"):
            raise RuntimeError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    @contextlib.contextmanager
    def webserver(self) -> Iterator[int]:
        with PortForward(self, "service/platform-webserver", 80) as pf:
            yield pf.local

    @contextlib.contextmanager
    def database(self, db: str = "dagster", role: str | None = None) -> Iterator[Any]:
        """The owner's connection, or role ``talent_<role>``'s (with the password its pods hold)."""
        import psycopg

        user, password = (
            ("dagster", self.pg_password) if role is None else (f"talent_{role}", self.role_passwords[role])
        )
        with PortForward(self, "service/postgres", 5432, namespace=DB_NAMESPACE) as pf:
            conn = psycopg.connect(
                host="127.0.0.1", port=pf.local, user=user, password=password, dbname=db, autocommit=True
            )
            try:
                yield conn
            finally:
                conn.close()

    def sql(self, query: str, *params: Any) -> list[tuple]:
        with self.database() as conn:
            return conn.execute(query, params).fetchall()

    def database_url(self, db: str, role: str | None = None) -> str:
        """The owner's URL (dagster, the server's superuser), or that of role ``talent_<role>``."""
        user, password = (
            ("dagster", self.pg_password) if role is None else (f"talent_{role}", self.role_passwords[role])
        )
        return f"postgresql://{user}:{password}@postgres.{DB_NAMESPACE}.svc.cluster.local:5432/{db}"

    def runs(self, port: int) -> list[dict]:
        return self.graphql(port, RUNS_QUERY)["runsOrError"]["results"]

    # -- the plan ---------------------------------------------------------------------------------
    def plan(self) -> list[Step]:
        k, ns = self.kubectl, ["--namespace", NAMESPACE]
        build_env = f"TALENT_BASE_IMAGE={self.cluster.base_image}" if self.cluster.base_image else ""
        steps = [
            Step("cluster up", "setup", self.cluster.up_argv(), self.cluster.up),
            Step(
                "build the images",
                "setup",
                [*([build_env] if build_env else []), "tests/e2e/images/build.sh"],
                self.build_images,
            ),
            Step(
                "load the images into the cluster", "setup", ["load", *IMAGES], lambda: self.cluster.load(list(IMAGES))
            ),
            self.apply_step("namespaces (restricted Pod Security Standard)", MANIFESTS[0]),
            Step(
                "secrets",
                "setup",
                [
                    k,
                    *ns,
                    "create",
                    "secret",
                    "generic",
                    "dagster-postgresql",
                    f"--from-literal=postgresql-password={self.pg_password}",
                    "&&",
                    "...",
                ],
                self.create_secrets,
                secret=self.pg_password,
            ),
            Step("postgres with pgvector", "setup", [k, "apply", "-f", MANIFESTS[1]], self.install_postgres),
            self.apply_step("landing volume", MANIFESTS[2]),
            Step(
                "install the platform (hooks included)",
                "deploy",
                self.helm_argv("platform", "helm/platform", self.values("platform")),
                lambda: self.helm_install("platform", "helm/platform", self.values("platform")),
            ),
        ]
        for team in TEAMS:
            steps.append(
                Step(
                    f"install {team}",
                    "deploy",
                    self.helm_argv(team, "helm/code-location", self.values(team)),
                    lambda t=team: self.helm_install(t, "helm/code-location", self.values(t)),
                )
            )
        steps += [
            Step("every pod Ready and admitted", "deploy", [k, *ns, "get", "pods,replicasets,events"], self.check_pods),
            Step(
                "burst: records and a malformed line into the landing zone",
                "verify",
                [
                    "tar",
                    "-c",
                    "...",
                    "|",
                    k,
                    *ns,
                    "exec",
                    "-i",
                    "deployment/candidates-code-server",
                    "--",
                    "tar",
                    "-x",
                    "-C",
                    "/landing",
                ],
                lambda: self.land(*BURST, seed=1),
            ),
            Step(
                "fault: delete a run's pod while it runs",
                "faults",
                [k, *ns, "delete", "pod", "-l", "app.kubernetes.io/component=run_worker"],
                self.fault_run_pod,
            ),
            Step(
                "fault: delete the daemon pod during the burst",
                "faults",
                [k, *ns, "delete", "pod", "-l", "app.kubernetes.io/component=daemon"],
                self.fault_daemon,
            ),
            Step("every valid record matched", "verify", ["graphql", "+", "sql"], self.wait_all_matched),
            Step(
                "fault: restart Postgres, then a second burst",
                "faults",
                [k, "-n", DB_NAMESPACE, "delete", "pod", "-l", "app.kubernetes.io/name=postgres"],
                self.fault_postgres,
            ),
            Step(
                "fault: the malformed record is a reject, the records beside it matched",
                "faults",
                ["sql", "talent.rejects"],
                self.fault_bad_record,
            ),
            Step(
                "runs were K8sRunLauncher Jobs, steps k8s_job_executor Jobs sized per asset",
                "verify",
                [k, *ns, "get", "jobs,pods", "-l", "dagster/run-id"],
                self.check_runs_and_steps,
            ),
            Step(
                "cost exporter through its Service agrees with the ledger",
                "verify",
                [k, *ns, "apply", "--filename", "-", "# pod scrape-exporter: python -c urlopen(...); logs"],
                self.check_exporter,
            ),
            Step(
                "webhook through its Service: 202s become inbox rows, then matched records",
                "verify",
                [
                    k,
                    "--namespace",
                    SENDER_NAMESPACE,
                    "apply",
                    "--filename",
                    "-",
                    "# pod send-to-webhook: POST ...; logs",
                ],
                self.check_webhook,
            ),
            Step("no LLM call counted twice", "verify", ["sql", "talent.llm_usage"], self.check_ledger),
            Step(
                "security: what one team must not do, attempted as that team and refused",
                "verify",
                [k, *ns, "create", "--as", team_identity(SECURITY_TEAM), "# Jobs and pods; sql as talent_<team>"],
                self.check_security,
            ),
            Step(
                "helm upgrade candidates with a bumped code version; rollback",
                "upgrade",
                self.helm_argv(
                    "candidates", "helm/code-location", self.values("candidates"), "--set", f"image.tag={BUMP_TAG}"
                ),
                self.upgrade_and_rollback,
            ),
        ]
        return steps

    def apply(self, manifest: str) -> None:
        self.k("apply", "-f", str(REPO / manifest), namespace=None)

    def apply_step(self, name: str, manifest: str) -> Step:
        return Step(name, "setup", [self.kubectl, "apply", "-f", manifest], lambda: self.apply(manifest))

    def values(self, release: str) -> list[str]:
        return [f"helm/values/{release}.yaml", f"helm/values/kind/{release}.yaml"]

    # -- setup ------------------------------------------------------------------------------------
    def build_images(self) -> None:
        self.check_disk()
        env = dict(os.environ)
        if self.cluster.base_image:
            env["TALENT_BASE_IMAGE"] = self.cluster.base_image
        t0 = time.monotonic()
        before = untagged_images()
        sh(["tests/e2e/images/build.sh"], env=env)
        self.summary["timings_s"]["images_build"] = round(time.monotonic() - t0, 1)
        left = untagged_images() - before
        assert not left, f"the image builds left {len(left)} untagged images in Docker (docker-build.sh)"

    def check_disk(self) -> None:
        """Refuse to start on a disk that cannot hold the run. The images are built into Docker and
        copied into the node's containerd, both on the host's disk; short of room, the failure shows
        up much later and far from its cause (a node under DiskPressure, pods Pending)."""
        root = docker_root()
        free = free_gb(root) if root else None
        self.summary["docker_disk_free_gb"] = free
        if free is not None and free < MIN_FREE_GB:
            raise RuntimeError(
                f"Docker's disk has {free:.1f} GB free; the e2e needs {MIN_FREE_GB:.0f} GB "
                f"(TALENT_E2E_MIN_FREE_GB). `docker image prune` frees what earlier builds left untagged."
            )

    def create_secrets(self) -> None:
        webhook = {"token": self.webhook_token, "hmac-secret": self.webhook_hmac_secret}
        # One database for Dagster's storage and the talent tables, as on RDS: the roles step grants
        # talent_dagster the public schema of the database it runs in.
        role_urls = [
            (NAMESPACE, f"talent-db-{role}", {"database-url": self.database_url("dagster", role)})
            for role in DB_ROLES
            if role != "dagster"
        ]
        for ns, name, data in (
            (DB_NAMESPACE, "postgres", {"password": self.pg_password}),
            # the owner's, read by the migrate hook alone
            (NAMESPACE, "dagster-postgresql", {"postgresql-password": self.pg_password}),
            (NAMESPACE, "talent-database", {"database-url": self.database_url("dagster")}),
            (NAMESPACE, "talent-db-role-passwords", dict(self.role_passwords)),
            (NAMESPACE, "talent-db-dagster", {"postgresql-password": self.role_passwords["dagster"]}),
            *role_urls,
            # The receiver's credentials, and the sender's copy in its own namespace.
            (NAMESPACE, WEBHOOK_SECRET, webhook),
            (SENDER_NAMESPACE, WEBHOOK_SECRET, webhook),
        ):
            manifest = {
                "apiVersion": "v1",
                "kind": "Secret",
                "type": "Opaque",
                "metadata": {"name": name, "namespace": ns},
                "stringData": data,
            }
            self.k("apply", "-f", "-", namespace=None, input=json.dumps(manifest).encode())

    def adopt_secrets(self) -> bool:
        """On a cluster kept from an earlier run: take the credentials its Secrets hold (Postgres
        was initialised with them). False when they are not there."""
        try:
            pg = self.kjson("get", "secret", "postgres", namespace=DB_NAMESPACE)["data"]
            roles = self.kjson("get", "secret", "talent-db-role-passwords")["data"]
            hook = self.kjson("get", "secret", WEBHOOK_SECRET)["data"]
        except (RuntimeError, KeyError):
            return False

        def text(value: str) -> str:
            return base64.b64decode(value).decode()

        self.pg_password = text(pg["password"])
        self.role_passwords = {role: text(v) for role, v in roles.items()}
        self.webhook_token, self.webhook_hmac_secret = text(hook["token"]), text(hook["hmac-secret"])
        return True

    def install_postgres(self) -> None:
        self.apply(MANIFESTS[1])
        self.rollout("postgres", namespace=DB_NAMESPACE)

    def helm_install(self, release: str, chart: str, values: list[str], *extra: str) -> None:
        t0 = time.monotonic()
        sh(self.helm_argv(release, chart, values, *extra), env=self.env)
        self.summary["timings_s"][f"helm_{release}"] = round(time.monotonic() - t0, 1)

    def check_pods(self) -> None:
        ns = self.kjson("get", "namespace", NAMESPACE, namespace=None)
        enforce = ns["metadata"]["labels"].get("pod-security.kubernetes.io/enforce")
        assert enforce == "restricted", f"namespace {NAMESPACE} enforces {enforce!r}, not restricted"
        deadline = time.monotonic() + 300
        while True:
            pods = self.kjson("get", "pods")["items"]
            long_running = [p for p in pods if "dagster/run-id" not in p["metadata"].get("labels", {})]
            not_ready = [
                p["metadata"]["name"]
                for p in long_running
                if p["status"].get("phase") != "Succeeded"
                and not any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", []))
            ]
            if not not_ready:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"pods not Ready after 300 s: {not_ready}")
            time.sleep(5)
        # Admission: a pod the namespace refused never exists; its ReplicaSet says so.
        for rs in self.kjson("get", "replicasets")["items"]:
            want, have = rs["spec"].get("replicas", 0), rs["status"].get("replicas", 0)
            assert have >= want, f"ReplicaSet {rs['metadata']['name']} has {have}/{want} pods: refused at admission?"
            for c in rs["status"].get("conditions", []):
                assert c["type"] != "ReplicaFailure", f"{rs['metadata']['name']}: {c.get('message')}"
        events = self.kjson("get", "events")["items"]
        refused = [e["message"] for e in events if "violates PodSecurity" in e.get("message", "")]
        assert not refused, f"pods refused by Pod Security admission: {refused}"
        self.summary["pods"] = [
            {
                "name": p["metadata"]["name"],
                "images": [c["image"] for c in p["spec"]["containers"]],
                "phase": p["status"].get("phase"),
            }
            for p in long_running
        ]
        print(f"    {len(long_running)} pods Ready in {NAMESPACE}, none refused by the restricted policy")
        self.start_pod_watch()

    # -- records ----------------------------------------------------------------------------------
    def land(self, candidates: int, jobs: int, *, seed: int, malformed: bool = True) -> None:
        """Writes records to the landing volume through the candidates code server (tar over
        ``kubectl exec``: no S3 server needed). The first burst carries one malformed line in the
        middle of a candidates file: it must be rejected, and the records beside it matched."""
        from talent_platform.seed import generate

        cands, jobs_ = generate(candidates, jobs, seed=seed)
        files: dict[str, bytes] = {}
        lines = [json.dumps(c) for c in cands]
        if malformed:
            bad = dict(cands[0], id=f"bad-{seed}", years_experience="seven")  # wrong type: rejected
            lines.insert(len(lines) // 2, json.dumps(bad))
            self.bad_lines += 1
            self.bad_source = f"candidates/e2e-{seed}.jsonl"
        files[f"candidates/e2e-{seed}.jsonl"] = "\n".join(lines).encode() + b"\n"
        files[f"jobs/e2e-{seed}.jsonl"] = "".join(json.dumps(j) + "\n" for j in jobs_).encode()
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as tar:
            for name, data in files.items():
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        self.k(
            "exec",
            "-i",
            "deployment/candidates-code-server",
            "--",
            "tar",
            "-x",
            "-f",
            "-",
            "-C",
            "/landing",
            input=buf.getvalue(),
        )
        self.landed["candidate"] |= {c["id"] for c in cands}
        self.landed["job"] |= {j["id"] for j in jobs_}
        self.summary.setdefault("landing_times", []).append(time.time())
        print(f"    landed {len(cands)} candidates and {len(jobs_)} jobs (seed {seed})")

    def matched_state(self) -> dict[str, Any]:
        rows = self.sql(
            """
            SELECT 'candidate', r.record_id, count(m.job_id) FROM talent.raw_records r
              LEFT JOIN talent.matches m ON m.candidate_id = r.record_id AND m.candidate_rank IS NOT NULL
             WHERE r.entity = 'candidate' GROUP BY r.record_id
            UNION ALL
            SELECT 'job', r.record_id, count(m.candidate_id) FROM talent.raw_records r
              LEFT JOIN talent.matches m ON m.job_id = r.record_id AND m.job_rank IS NOT NULL
             WHERE r.entity = 'job' GROUP BY r.record_id
            """
        )
        accepted = {"candidate": {}, "job": {}}
        for entity, rid, n in rows:
            accepted[entity][rid] = n
        return accepted

    def all_matched(self) -> tuple[bool, dict]:
        state = self.matched_state()
        n_c, n_j = len(self.landed["candidate"]), len(self.landed["job"])
        want = {"candidate": min(TOP_K, n_j), "job": min(TOP_K, n_c)}
        missing = {e: sorted(i for i in self.landed[e] if state[e].get(i, 0) < want[e]) for e in ("candidate", "job")}
        return not any(missing.values()), {e: len(v) for e, v in missing.items()}

    def wait_all_matched(self) -> None:
        t0 = time.monotonic()
        deadline = t0 + WAIT_S
        last: Any = None
        while time.monotonic() < deadline:
            try:
                done, last = self.all_matched()
                if done and not self.in_flight():
                    break
            except Exception as exc:  # Postgres or a port-forward may be restarting
                last = repr(exc)
            time.sleep(10)
        else:
            raise TimeoutError(f"records not all matched after {WAIT_S}s; missing per entity: {last}")
        elapsed = round(time.monotonic() - t0, 1)
        self.summary["timings_s"].setdefault("landing_to_all_matched", []).append(elapsed)
        print(f"    every landed record has its top-{TOP_K} ({elapsed} s after the wait began)")

    def in_flight(self) -> bool:
        with self.webserver() as port:
            runs = self.runs(port)
        return any(r["status"] in {"QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING"} for r in runs)

    # -- pods seen over the whole run (Jobs are kept by a TTL, but a deleted run pod is gone) --------
    def start_pod_watch(self) -> None:
        def watch() -> None:
            while not self._watching.is_set():
                with contextlib.suppress(Exception):
                    for p in self.kjson("get", "pods", "-l", "dagster/run-id")["items"]:
                        self._pod_log[p["metadata"]["name"]] = p
                self._watching.wait(3)

        threading.Thread(target=watch, daemon=True, name="pod-watch").start()

    # -- faults -----------------------------------------------------------------------------------
    def fault(self, name: str, passed: bool, detail: str) -> None:
        self.summary["faults"].append({"name": name, "passed": passed, "detail": detail})
        print(f"    fault {name}: {'passed' if passed else 'FAILED'}: {detail}")
        if not passed:
            raise AssertionError(f"fault {name}: {detail}")

    def wait_for(self, what: str, probe: Callable[[], Any], timeout: float = 600, every: float = 2) -> Any:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                got = probe()
                if got:
                    return got
            except Exception as exc:  # a restarting pod or port-forward: try again, but say so
                last = exc
            time.sleep(every)
        raise TimeoutError(f"{what}: not within {timeout:.0f} s (last error: {last!r})")

    def fault_run_pod(self) -> None:
        """Deletes the first run worker pod seen Running. Run monitoring must fail that run, and the
        location's reconciler, finding the run's records still stale, must request the same batch (or
        ``matches``) again in a run that succeeds (its runs carry no run retry: it is the retry)."""

        def running_run_pod() -> dict | None:
            for p in self.kjson("get", "pods", "-l", "app.kubernetes.io/component=run_worker")["items"]:
                if p["status"].get("phase") == "Running":
                    return p
            return None

        pod = self.wait_for("a run pod Running", running_run_pod, timeout=900, every=1)
        run_id = pod["metadata"]["labels"]["dagster/run-id"]
        self.k("delete", "pod", pod["metadata"]["name"], "--wait=false")
        print(f"    deleted run pod {pod['metadata']['name']} of run {run_id}")

        def outcome() -> dict | None:
            with self.webserver() as port:
                runs = {r["runId"]: r for r in self.runs(port)}
            failed = runs.get(run_id, {})
            if failed.get("status") != "FAILURE":
                return None
            same = {
                t["key"]: t["value"] for t in failed["tags"] if t["key"] in ("talent/pipeline", "dagster/partition")
            }
            later = [
                r
                for r in runs.values()
                if r["runId"] != run_id
                and r["status"] == "SUCCESS"
                and (r.get("creationTime") or 0) > (failed.get("creationTime") or 0)
                and all({"key": k, "value": v} in r["tags"] for k, v in same.items())
            ]
            if same and later:
                return {"failed": run_id, "retry": later[0]["runId"], "of": same}
            return None

        result = self.wait_for(
            "the deleted run failed and the reconciler's next run of its batch succeeded",
            outcome,
            timeout=900,
            every=10,
        )
        self.fault(
            "run pod deleted",
            True,
            f"run {result['failed']} failed; run {result['retry']} of the same {result['of']} succeeded",
        )

    def fault_daemon(self) -> None:
        before = self.kjson("get", "pods", "-l", "app.kubernetes.io/component=daemon")["items"]
        names = [p["metadata"]["name"] for p in before]
        self.land(*SECOND_BURST, seed=2, malformed=False)
        self.k("delete", "pod", *names, "--wait=false")
        self.rollout("platform-daemon")
        self.wait_all_matched()
        self.fault("daemon pod deleted during a burst", True, f"deleted {names}; the new daemon finished the burst")

    def fault_postgres(self) -> None:
        before = self.matched_state()
        self.k("delete", "pod", "-l", "app.kubernetes.io/name=postgres", namespace=DB_NAMESPACE)
        self.rollout("postgres", namespace=DB_NAMESPACE)
        after = self.wait_for("postgres answers again", self.matched_state, timeout=300, every=5)
        kept = all(set(before[e]) <= set(after[e]) for e in before)
        self.land(*SECOND_BURST, seed=3, malformed=False)
        self.wait_all_matched()
        self.fault(
            "postgres restarted",
            kept,
            f"{sum(len(v) for v in before.values())} records kept across the restart; a burst after it matched",
        )

    def fault_bad_record(self) -> None:
        rows = self.sql("SELECT source, line, reason FROM talent.rejects WHERE source LIKE %s", f"%{self.bad_source}")
        done, _ = self.all_matched()
        passed = len(rows) == self.bad_lines and done
        detail = f"rejects: {[(s, ln, r[:80]) for s, ln, r in rows]}; every good record beside it matched: {done}"
        self.fault("malformed record", passed, detail)

    # -- checks -----------------------------------------------------------------------------------
    def declared_resources(self) -> dict[str, dict]:
        """What each asset declares (its op tags), read from the locations' own definitions."""
        from dagster_k8s.job import get_user_defined_k8s_config

        declared = {}
        for team in TEAMS:
            module = __import__(f"talent_{team}.definitions", fromlist=["defs"])
            for assets_def in module.defs.assets or []:
                if not getattr(assets_def, "is_executable", False):
                    continue
                resources = get_user_defined_k8s_config(assets_def.op.tags).container_config.get("resources")
                if resources:
                    for key in assets_def.keys:
                        declared[key.to_user_string()] = resources
        return declared

    def check_runs_and_steps(self) -> None:
        with self.webserver() as port:
            runs = self.runs(port)
        jobs = {j["metadata"]["name"]: j for j in self.kjson("get", "jobs")["items"]}
        summary_runs = []
        for r in runs:
            job_name = f"dagster-run-{r['runId']}"
            summary_runs.append({"run_id": r["runId"], "status": r["status"], "k8s_job": job_name})
            run_job = jobs.get(job_name)
            pod_seen = any(p["metadata"]["labels"].get("dagster/run-id") == r["runId"] for p in self._pod_log.values())
            assert run_job is not None or pod_seen, f"run {r['runId']} has no Kubernetes Job {job_name}"
            if run_job is not None:
                labels = run_job["spec"]["template"]["metadata"]["labels"]
                assert labels.get("app.kubernetes.io/component") == "run_worker", (job_name, labels)
        self.summary["runs"] = summary_runs
        declared = self.declared_resources()
        steps = []
        for pod in self._pod_log.values():
            labels = pod["metadata"]["labels"]
            if labels.get("app.kubernetes.io/component") != "step_worker":
                continue
            asset = labels["dagster/op"]
            res = pod["spec"]["containers"][0].get("resources", {})
            want = declared[asset]
            steps.append(
                {
                    "asset": asset,
                    "pod": pod["metadata"]["name"],
                    "run_id": labels["dagster/run-id"],
                    "requests": res.get("requests", {}),
                    "limits": res.get("limits", {}),
                    "declared_requests": want["requests"],
                    "declared_limits": want["limits"],
                }
            )
        assert steps, "no step pod was seen: the runs did not use k8s_job_executor"
        bad = [
            s
            for s in steps
            if not (
                same_resources(s["requests"], s["declared_requests"])
                and same_resources(s["limits"], s["declared_limits"])
            )
        ]
        self.summary["step_pods"] = steps
        executed = {s["asset"] for s in steps}
        assert executed >= set(declared), f"assets that never ran as a step pod: {set(declared) - executed}"
        print(f"    {len(runs)} runs, each a K8sRunLauncher Job; {len(steps)} step pods:")
        print(f"    {'asset':24} {'requests':28} {'limits':28} declared equal")
        seen = set()
        for s in steps:
            if s["asset"] in seen:
                continue
            seen.add(s["asset"])
            fmt = lambda d: ", ".join(f"{k}={v}" for k, v in sorted(d.items()))  # noqa: E731
            print(f"    {s['asset']:24} {fmt(s['requests']):28} {fmt(s['limits']):28} {s not in bad}")
        assert not bad, f"step pods whose resources differ from what the asset declares: {bad[:3]}"

    def run_pod(
        self,
        name: str,
        script: str,
        *,
        env: list[dict] | None = None,
        labels: dict[str, str] | None = None,
        namespace: str = NAMESPACE,
        timeout: float = 300,
    ) -> str:
        """Runs ``python -c script`` in a one-off pod of the platform image under the restricted
        Pod Security profile and returns its output. Create, wait for the phase, read the logs,
        delete: ``kubectl run -i --rm`` attaches after a fast container may already have exited
        and then prints nothing (a CI run lost the exporter's scrape that way)."""
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {
                "restartPolicy": "Never",
                "automountServiceAccountToken": False,
                "securityContext": {
                    "runAsNonRoot": True,
                    "runAsUser": 10001,
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "containers": [
                    {
                        "name": "main",
                        "image": PLATFORM_IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "command": ["python", "-c", script],
                        "env": env or [],
                        "securityContext": {
                            "allowPrivilegeEscalation": False,
                            "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]},
                        },
                    }
                ],
            },
        }
        self.k("delete", "pod", name, "--ignore-not-found", "--wait=true", namespace=namespace)
        self.k("apply", "--filename", "-", input=json.dumps(pod).encode(), namespace=namespace)
        try:
            deadline = time.monotonic() + timeout
            phase = ""
            while time.monotonic() < deadline:
                phase = self.k("get", "pod", name, "--output", "jsonpath={.status.phase}", namespace=namespace)
                if phase in ("Succeeded", "Failed"):
                    break
                time.sleep(1)
            logs = self.k("logs", name, "--container", "main", check=False, namespace=namespace)
            if phase != "Succeeded":
                status = self.k("get", "pod", name, "--output", "jsonpath={.status}", check=False, namespace=namespace)
                raise AssertionError(
                    f"pod {namespace}/{name} ended {phase or 'nowhere'}: {logs[-1500:]} {status[-1500:]}"
                )
            return logs
        finally:
            self.k("delete", "pod", name, "--ignore-not-found", "--wait=false", check=False, namespace=namespace)

    def check_exporter(self) -> None:
        """Scrapes the exporter from a pod inside the cluster, through its Service."""
        url = "http://platform-cost-exporter:9108/metrics"
        script = f"import urllib.request; print(urllib.request.urlopen({url!r}, timeout=30).read().decode())"
        body = self.run_pod("scrape-exporter", script)
        series: dict[str, float] = {}
        for line in body.splitlines():
            if line.startswith("talent_llm_requests_total{"):
                labels, value = line.rsplit(" ", 1)
                series[labels] = float(value)
        assert series, f"no talent_llm_requests_total series in the exporter's output: {body[:500]}"
        exported = sum(series.values())
        ledger = self.sql("SELECT count(*) FROM talent.llm_usage")[0][0]
        cost_line = [ln for ln in body.splitlines() if ln.startswith("talent_llm_cost_usd_total{")]
        exported_cost = sum(float(ln.rsplit(" ", 1)[1]) for ln in cost_line)
        ledger_cost = float(self.sql("SELECT coalesce(sum(cost_usd), 0) FROM talent.llm_usage")[0][0])
        self.summary["exporter"] = {
            "requests_exported": exported,
            "requests_in_ledger": ledger,
            "cost_exported_usd": exported_cost,
            "cost_in_ledger_usd": ledger_cost,
            "series": len(series),
        }
        assert exported == ledger, f"exporter counts {exported} LLM requests, the ledger {ledger}"
        assert abs(exported_cost - ledger_cost) < 1e-6, (exported_cost, ledger_cost)
        print(f"    exporter: {exported:.0f} requests, ${exported_cost:.6f} = ledger ({len(series)} series)")

    def send_to_webhook(self, requests: list[dict]) -> list[dict]:
        """Posts ``requests`` from a pod in SENDER_NAMESPACE to the webhook's Service, as the
        exporter is scraped: ``kubectl run`` with the platform image, restricted security context,
        credentials from the sender's copy of the Secret (never on a command line)."""

        def from_secret(key: str) -> dict:
            return {"valueFrom": {"secretKeyRef": {"name": WEBHOOK_SECRET, "key": key}}}

        requests_json = json.dumps([{k: r[k] for k in ("endpoint", "auth", "body")} for r in requests])
        label_key, label_value = SENDER_LABEL.split("=", 1)
        output = self.run_pod(
            "send-to-webhook",
            SENDER_SCRIPT,
            env=[
                {"name": "WEBHOOK_URL", "value": WEBHOOK_URL},
                {"name": "WEBHOOK_REQUESTS", "value": requests_json},
                {"name": "WEBHOOK_TOKEN", **from_secret("token")},
                {"name": "WEBHOOK_HMAC_SECRET", **from_secret("hmac-secret")},
            ],
            labels={label_key: label_value},
            namespace=SENDER_NAMESPACE,
        )
        return parse_webhook_results(output, len(requests))

    def attempt(self, manifest: dict, *, as_team: bool = True) -> tuple[int, str]:
        """kubectl create, as the team's ServiceAccount (impersonated): (exit code, output). An
        admitted object is deleted at once: it should not have been."""
        args = ["create", "-f", "-"]
        if as_team:
            args += ["--as", team_identity(SECURITY_TEAM)]
        argv = [self.kubectl, "--namespace", NAMESPACE, *args]
        out = subprocess.run(argv, env=self.env, capture_output=True, input=json.dumps(manifest).encode(), timeout=60)
        if out.returncode == 0:
            kind = manifest["kind"].lower()
            self.k("delete", kind, manifest["metadata"]["name"], "--ignore-not-found", "--wait=false", check=False)
        return out.returncode, (out.stdout + out.stderr).decode()

    def check_security(self) -> None:
        """Each case of SECURITY_CASES attempted for real as one team (candidates) against another
        (jobs): Jobs through the API server as the team's ServiceAccount, SQL as the team's database
        role with the password its pods hold. Written to summary["security"]; all must be refused."""
        import psycopg

        cases: list[dict] = []

        def case(name: str, passed: bool, detail: str) -> None:
            cases.append({"name": name, "passed": bool(passed), "detail": detail})

        other_sa = f"{OTHER_TEAM}-code-server"
        code, out = self.attempt(attack_job("e2e-as-other-sa", other_sa))
        ok, text = refused(out, code, "team-isolation", "ServiceAccount")
        case(SECURITY_CASES[0], ok, f"Job with serviceAccountName {other_sa}: {text}")

        own_sa = f"{SECURITY_TEAM}-code-server"
        code, out = self.attempt(attack_job("e2e-other-secret", own_sa, secret=f"talent-db-{OTHER_TEAM}"))
        ok, text = refused(out, code, "team-isolation", "Secrets")
        case(SECURITY_CASES[1], ok, f"Job reading talent-db-{OTHER_TEAM}: {text}")

        # the team may not create pods at all (RBAC), and no one may create a privileged one in the
        # namespace (Pod Security admission, restricted): both attempted, both must be refused
        pod = attack_job("e2e-privileged", own_sa, privileged=True)["spec"]["template"]
        pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "e2e-privileged", "namespace": NAMESPACE}, **pod}
        code_team, out_team = self.attempt(pod)
        code_admin, out_admin = self.attempt(
            {**pod, "metadata": {**pod["metadata"], "name": "e2e-privileged-admin"}}, as_team=False
        )
        ok_team, text_team = refused(out_team, code_team, "forbidden", "Forbidden")
        ok_admin, text_admin = refused(out_admin, code_admin, "PodSecurity", "violates")
        case(SECURITY_CASES[2], ok_team and ok_admin, f"as the team: {text_team}; as an admin: {text_admin}")

        other_entity = "job" if OTHER_TEAM == "jobs" else "candidate"
        with self.database() as owner:
            (exists,) = owner.execute(
                "SELECT count(*) FROM talent.profiles WHERE entity = %s", (other_entity,)
            ).fetchone()
        with self.database(role=SECURITY_TEAM) as conn:
            (seen,) = conn.execute("SELECT count(*) FROM talent.profiles WHERE entity = %s", (other_entity,)).fetchone()
        case(
            SECURITY_CASES[3],
            exists > 0 and seen == 0,
            f"talent_{SECURITY_TEAM} sees {seen} of the {exists} {other_entity} profiles (row-level security)",
        )

        try:
            with self.database(role=SECURITY_TEAM) as conn:
                conn.execute("UPDATE public.instigators SET status = status")
            case(SECURITY_CASES[4], False, f"talent_{SECURITY_TEAM} updated Dagster's sensor cursors")
        except psycopg.errors.InsufficientPrivilege as exc:
            case(
                SECURITY_CASES[4],
                True,
                f"talent_{SECURITY_TEAM}: {type(exc).__name__} on public.instigators; its pods still hold"
                " talent_dagster's password for Dagster's own writes (open: helm/README.md, Database roles)",
            )

        answers = (self.summary.get("webhook") or {}).get("answers", [])
        replays = [a for a in answers if a.get("auth") == "replay"]
        case(
            SECURITY_CASES[5],
            bool(replays) and all(a["status"] == 401 for a in replays),
            "; ".join(f"{a['status']} {(a.get('body') or {}).get('reason')}" for a in replays) or "no replay was sent",
        )

        self.summary["security"] = cases
        for c in cases:
            print(f"    security: {'refused' if c['passed'] else 'NOT REFUSED'}: {c['name']}: {c['detail'][:160]}")
        problems = security_problems(cases)
        assert not problems, "security: " + "; ".join(problems)

    def check_webhook(self) -> None:
        """Every 202 is an inbox row, which the ingestion sensor turned into a raw record (source
        ``inbox:<id>``) that then got its top-K; the refused requests wrote nothing."""
        requests = webhook_requests()
        results = self.send_to_webhook(requests)
        self.summary["webhook"] = {
            "answers": [
                {"endpoint": r["endpoint"], "id": r["record"]["id"], "auth": r["auth"], **got}
                for r, got in zip(requests, results, strict=True)
            ]
        }
        problems = webhook_answer_problems(requests, results)
        assert not problems, "webhook answers: " + "; ".join(problems)

        accepted = {
            ("candidate" if r["endpoint"] == "candidates" else "job", r["record"]["id"])
            for r in requests
            if "id" in r["expect"]
        }
        refused = [r["record"]["id"] for r in requests if "id" not in r["expect"]]
        rows = self.sql(
            "SELECT id, entity, payload->>'id' FROM talent.inbox WHERE payload->>'id' = ANY(%s)",
            [rid for _, rid in accepted] + refused,
        )
        inbox = {(entity, rid): inbox_id for inbox_id, entity, rid in rows}
        assert len(rows) == len(inbox), f"a webhook record is in the inbox more than once: {rows}"
        missing = sorted(accepted - set(inbox))
        assert not missing, f"answered 202 but no inbox row: {missing} (inbox rows found: {rows})"
        written = sorted(key for key in inbox if key not in accepted)
        assert not written, f"refused by the webhook but in the inbox: {written}"

        for entity, rid in accepted:
            self.landed[entity].add(rid)
        self.wait_all_matched()  # every landed record, these included, has its top-K

        rows = self.sql(
            "SELECT entity, record_id, source FROM talent.raw_records WHERE record_id = ANY(%s)",
            [rid for _, rid in accepted],
        )
        sources = {(entity, rid): source for entity, rid, source in rows}
        wrong = {key: sources.get(key) for key in accepted if sources.get(key) != f"inbox:{inbox[key]}"}
        assert not wrong, f"raw records not read from their webhook inbox row (want inbox:<id>): {wrong}"
        rejects = self.sql(
            "SELECT source, reason FROM talent.rejects WHERE source = ANY(%s)", [f"inbox:{i}" for i in inbox.values()]
        )
        assert not rejects, f"the sensor rejected inbox rows the webhook had accepted: {rejects}"
        self.summary["webhook"]["inbox_rows"] = {f"{e}/{r}": i for (e, r), i in sorted(inbox.items())}
        refusals = ", ".join(f"{got['status']} {got['body'].get('error')}" for got in results if got["status"] != 202)
        print(f"    webhook: {len(accepted)} records 202 -> inbox -> raw_records -> matched; refused: {refusals}")

    def check_ledger(self) -> None:
        """No input was paid for twice: every paid (not cached) chat call put its answer in the
        response cache in the same transaction, so a second paid call for the same input (a retry
        that re-bought what a killed run had bought) would make paid calls outnumber cached inputs.
        The e2e turns the cache on for the local providers (helm/values/kind), as OpenAI has it."""
        rows = self.sql(
            """
            SELECT u.model,
                   count(*) FILTER (WHERE NOT u.cache_hit AND u.status = 'ok'),
                   count(*) FILTER (WHERE u.cache_hit),
                   (SELECT count(*) FROM talent.llm_cache c WHERE c.model = u.model)
              FROM talent.llm_usage u WHERE u.operation = 'chat' GROUP BY u.model
            """
        )
        assert rows, "the ledger has no chat calls"
        self.summary["ledger"] = [
            {"model": m, "paid_calls": paid, "cache_hits": hits, "cached_inputs": inputs}
            for m, paid, hits, inputs in rows
        ]
        twice = [(m, paid, inputs) for m, paid, _, inputs in rows if paid != inputs]
        assert not twice, f"paid calls != distinct inputs bought (model, paid, inputs): {twice}"
        print(f"    ledger: {self.summary['ledger']}")

    # -- upgrade ----------------------------------------------------------------------------------
    def build_bumped_image(self) -> None:
        ctx = self.workdir / "bump"
        for rel in (
            "constraints.txt",
            "constraints-tools.txt",
            ".dockerignore",
            "shared_lib",
            "code_locations/candidates",
        ):
            src, dst = REPO / rel, ctx / rel
            dst.parent.mkdir(parents=True, exist_ok=True)
            if src.is_dir():
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "tests"))
            else:
                shutil.copy2(src, dst)
        target = ctx / BUMP_FILE
        text = target.read_text()
        assert BUMP_FROM in text, f"{BUMP_FILE} no longer says {BUMP_FROM}: update the e2e's bump"
        target.write_text(text.replace(BUMP_FROM, BUMP_TO))
        image = f"talent-candidates:{BUMP_TAG}"
        env = {**os.environ, "TALENT_IMAGE_TAG": BUMP_TAG, "TALENT_BUILD_CONTEXT": str(ctx)}
        if self.cluster.base_image:
            env["TALENT_BASE_IMAGE"] = self.cluster.base_image
        t0 = time.monotonic()
        sh(["tests/e2e/images/build.sh", "candidates"], env=env)
        self.summary["timings_s"]["bumped_image_build"] = round(time.monotonic() - t0, 1)
        self.cluster.load([image])

    def resource_versions(self, exclude_release: str) -> dict[str, str]:
        kinds = "deployments,services,configmaps,secrets,serviceaccounts,roles,rolebindings,networkpolicies"
        out = {}
        for item in self.kjson("get", kinds)["items"]:
            labels = item["metadata"].get("labels") or {}
            ours = labels.get("app.kubernetes.io/instance") == exclude_release
            helm_record = labels.get("owner") == "helm" and labels.get("name") == exclude_release  # its history
            if ours or helm_record or "dagster/run-id" in labels:
                continue
            out[f"{item['kind']}/{item['metadata']['name']}"] = item["metadata"]["resourceVersion"]
        return out

    def step_pods_at_once(self, asset: str | None, since_s: float) -> int:
        """The most step pods of ``asset`` (``None``: run pods) that ran at the same time (from each
        pod's start and its container's finish, as the API server reported them), among pods created
        after ``since_s``."""
        from datetime import datetime

        def ts(text: str | None) -> float | None:
            return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp() if text else None

        spans = []
        self.summary["fan_out_pods"] = []
        for pod in self._pod_log.values():
            labels = pod["metadata"]["labels"]
            component = labels.get("app.kubernetes.io/component")
            created = ts(pod["metadata"].get("creationTimestamp"))
            start = ts(pod["status"].get("startTime"))
            states = [c.get("state", {}) for c in pod["status"].get("containerStatuses", [])]
            ends = [ts(st.get("terminated", {}).get("finishedAt")) for st in states]
            end = max((e for e in ends if e is not None), default=time.time())
            if created is None or created < since_s:
                continue
            # every run and step pod of the window, for the artifacts: why pods did or did not overlap
            self.summary["fan_out_pods"].append(
                {
                    "pod": pod["metadata"]["name"],
                    "component": component,
                    "op": labels.get("dagster/op"),
                    "created": round(created - since_s, 1),
                    "started": round(start - since_s, 1) if start else None,
                    "finished": round(end - since_s, 1),
                }
            )
            wanted = component == "run_worker" if asset is None else component == "step_worker"
            if wanted and labels.get("dagster/op") == asset and start is not None:
                spans.append((start, end))
        events = sorted([(a, 1) for a, _ in spans] + [(b, -1) for _, b in spans], key=lambda e: (e[0], e[1]))
        most = now = 0
        for _, step in events:
            now += step
            most = max(most, now)
        return most

    def processed_since(self, since_s: float) -> dict[str, int]:
        """Records each stage processed since then, from the record lineage (records are rows: a
        batch's one materialization says nothing of how many of its records ran)."""
        counts = dict.fromkeys(("normalized_candidates", "candidate_vectors", "normalized_jobs", "job_vectors"), 0)
        rows = self.sql(
            "SELECT entity, stage, count(*) FROM talent.record_stages"
            " WHERE status = 'done' AND updated_at >= to_timestamp(%s) GROUP BY entity, stage",
            since_s,
        )
        for entity, stage, n in rows:
            counts[f"normalized_{entity}s" if stage == "normalized" else f"{entity}_vectors"] = n
        return counts

    def materializations_since(self, port: int, asset: str, since_ms: int) -> list[dict]:
        data = self.graphql(port, MATERIALIZATIONS_QUERY, {"key": {"path": [asset]}, "after": str(since_ms)})
        return (data.get("assetOrError") or {}).get("assetMaterializations") or []

    def upgrade_and_rollback(self) -> None:
        self.build_bumped_image()

        def quiet() -> bool:
            with self.webserver() as port:
                return not any(r["status"] in {"QUEUED", "STARTING", "STARTED"} for r in self.runs(port))

        # the bump's runs get the location's whole run-queue limit: a run still live from an earlier
        # section would take one slot, and the re-run would go one run at a time
        self.wait_for("no run live before the upgrade", quiet, timeout=WAIT_S, every=5)
        before = self.resource_versions(exclude_release="candidates")
        since_ms = int(time.time() * 1000)
        self.helm_install(
            "candidates", "helm/code-location", self.values("candidates"), "--set", f"image.tag={BUMP_TAG}"
        )
        n_cand = len(self.landed["candidate"])

        def rerun_done() -> dict | None:
            counts = self.processed_since(since_ms / 1000)
            with self.webserver() as port:
                counts["matches"] = len(self.materializations_since(port, "matches", since_ms))
                busy = any(r["status"] in {"QUEUED", "STARTING", "STARTED"} for r in self.runs(port))
            # the bump re-normalizes every candidate; vectors and matches follow only where a profile
            # came out different (the local extractor ignores the version: none does)
            return counts if counts["normalized_candidates"] >= n_cand and not busy else None

        counts = self.wait_for("the bumped team's records re-ran", rerun_done, timeout=WAIT_S, every=10)
        time.sleep(20)  # more reconciler ticks: nothing else may follow
        counts.update(
            {k: v for k, v in self.processed_since(since_ms / 1000).items() if k.endswith("jobs") or "job" in k}
        )
        after = self.resource_versions(exclude_release="candidates")
        changed = sorted(k for k in before if after.get(k) != before[k])
        fan_out = self.step_pods_at_once("normalized_candidates", since_ms / 1000)
        runs_at_once = self.step_pods_at_once(None, since_ms / 1000)
        self.summary["upgrade"] = {
            "materializations_after_upgrade": counts,
            "other_releases_changed": changed,
            "normalized_candidates_step_pods_at_once": fan_out,
            "run_pods_at_once": runs_at_once,
        }
        assert runs_at_once >= 2, f"the re-run never ran two Kubernetes Jobs at once ({runs_at_once})"
        assert fan_out >= 2, (
            f"the re-run of every candidate batch never ran two step pods at once ({fan_out}):"
            f" {self.summary['fan_out_pods']}"
        )
        assert counts["normalized_jobs"] == 0 and counts["job_vectors"] == 0, f"a jobs asset re-ran: {counts}"
        assert counts["normalized_candidates"] == n_cand, counts
        assert not changed, f"the candidates upgrade changed objects of other releases: {changed}"
        sh([self.helm, "rollback", "candidates", "--namespace", NAMESPACE, "--wait", "--timeout", "10m"], env=self.env)
        image = self.kjson("get", "deployment", "candidates-code-server")["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
        assert image == TEAM_IMAGES["candidates"], f"rollback left image {image}"
        self.rollout("candidates-code-server")
        self.summary["upgrade"]["rollback_image"] = image
        print(f"    upgrade re-ran {counts}; no other release changed; rollback back to {image}")

    # -- reporting --------------------------------------------------------------------------------
    def finish_summary(self) -> None:
        with contextlib.suppress(Exception):
            self.summary.update(self.cluster.facts())
        with contextlib.suppress(Exception):
            self.summary["kubernetes_version"] = self.kjson("version", namespace=None)["serverVersion"]["gitVersion"]
        with contextlib.suppress(Exception):
            state = self.matched_state()
            rejected = self.sql("SELECT count(*) FROM talent.rejects")[0][0]
            self.summary["records"] = {
                "landed": sum(len(v) for v in self.landed.values()) + self.bad_lines,
                "accepted": sum(len(v) for v in state.values()),
                "rejected": rejected,
                "matched": sum(1 for e in state for n in state[e].values() if n > 0),
            }
        self.summary.setdefault("runs", [])
        self.summary.setdefault("step_pods", [])
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "summary.json").write_text(json.dumps(self.summary, indent=2, default=str))

    def dump(self) -> None:
        """Everything needed to debug a failure, into .e2e-artifacts/ (ignored by git)."""
        ARTIFACTS.mkdir(exist_ok=True)
        for ns in DEBUG_NAMESPACES:
            for what in ("get all,events,pvc,jobs -o wide", "describe pods", "describe jobs"):
                with contextlib.suppress(Exception):
                    name = what.split()[0] + "-" + what.split()[1].split(",")[0]
                    (ARTIFACTS / f"{ns}.{name}.txt").write_text(self.k(*what.split(), namespace=ns, check=False))
            with contextlib.suppress(Exception):
                logs = ARTIFACTS / "pod-logs" / ns
                logs.mkdir(parents=True, exist_ok=True)
                for pod in self.kjson("get", "pods", namespace=ns)["items"]:
                    name = pod["metadata"]["name"]
                    text = self.k("logs", name, "--all-containers", "--tail", "2000", namespace=ns, check=False)
                    (logs / f"{name}.log").write_text(text)
        with contextlib.suppress(Exception), self.webserver() as port:
            runs_dir = ARTIFACTS / "dagster-runs"
            runs_dir.mkdir(exist_ok=True)
            for r in self.runs(port):
                if r["status"] != "SUCCESS":
                    data = self.graphql(port, RUN_LOGS_QUERY, {"runId": r["runId"]})
                    (runs_dir / f"{r['runId']}.json").write_text(json.dumps(data, indent=1))
        with contextlib.suppress(Exception):
            self.cluster.dump(ARTIFACTS)
        print(f"    failure artifacts in {ARTIFACTS}")

    def diagnose(self) -> list[str]:
        pods, events = [], []
        for ns in DEBUG_NAMESPACES:
            with contextlib.suppress(Exception):
                pods += self.kjson("get", "pods", namespace=ns).get("items", [])
                events += self.kjson("get", "events", namespace=ns).get("items", [])
        return diagnosis(self.kjson("get", "nodes", namespace=None)["items"], pods, events)

    def print_plan(self) -> None:
        for i, step in enumerate(self.plan(), 1):
            print(f"# {i:2d}. [{step.phase}] {step.name}\n{step.shell()}")
        print("# always, last: summary.json; on failure a dump into .e2e-artifacts/; then the cluster is torn down")

    # -- the run, step by step: tests/e2e/test_e2e.py drives these (one test per check) -----------
    def begin(self) -> None:
        if ARTIFACTS.exists():
            shutil.rmtree(ARTIFACTS)
        ARTIFACTS.mkdir()

    def step(self, name: str) -> Step:
        if self._steps is None:
            self._steps = {s.name: s for s in self.plan()}
        return self._steps[name]

    def run_step(self, step: Step) -> None:
        t0 = time.monotonic()
        print(f"==> [{t0 - self.started:6.0f}s] {step.name}", flush=True)
        step.action()
        self.summary["timings_s"].setdefault("steps", {})[step.name] = round(time.monotonic() - t0, 1)

    def failed(self, where: str, exc: BaseException) -> None:
        """Record a failed step. The cluster as the first failure left it is what explains it, so
        that one is diagnosed and dumped; later ones are only listed."""
        print(f"!!! {where} failed: {exc!r}", file=sys.stderr, flush=True)
        self.summary.setdefault("failures", []).append({"step": where, "error": repr(exc)[:2000]})
        if "error" in self.summary:
            return
        self.summary["error"] = repr(exc)
        with contextlib.suppress(BaseException):
            self.summary["diagnosis"] = self.diagnose()
        with contextlib.suppress(BaseException):
            self.dump()

    def finish(self, *, keep: bool = False) -> bool:
        """summary.json, then the cluster down (unless kept); True when nothing failed."""
        self._watching.set()
        with contextlib.suppress(BaseException):
            self.finish_summary()
        t0 = time.monotonic()
        if keep:
            print(f"==> cluster kept ({self.cluster.name}; tests/e2e/kind/kind.sh down removes it)", flush=True)
        else:
            try:
                print("==> cluster down", flush=True)
                self.cluster.down()
            except Exception as exc:
                self.summary.setdefault("failures", []).append({"step": "cluster down", "error": repr(exc)})
                print(f"!!! teardown failed: {exc!r}", file=sys.stderr)
            self.summary["timings_s"]["cluster_down"] = round(time.monotonic() - t0, 1)
        failures = self.summary.get("failures", [])
        self.summary["passed"] = not failures
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "summary.json").write_text(json.dumps(self.summary, indent=2, default=str))
        shutil.rmtree(self.workdir, ignore_errors=True)
        if failures:
            # Again at the very end: the tail of a CI log is what gets read.
            for f in failures:
                print(f"!!! failed: {f['step']}: {f['error'][:300]}")
            for line in self.summary.get("diagnosis", []):
                print(f"!!! {line}")
        print(f"e2e {'FAILED' if failures else 'passed'} in {time.monotonic() - self.started:.0f}s", flush=True)
        return not failures


def interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(cluster: Cluster, argv: list[str], doc: str) -> int:
    """`plan`: print every step, in order, with no side effect. `run [pytest options]`: the run
    itself, as pytest (tests/e2e/test_e2e.py: one test per check, --keep-cluster, --reuse-cluster)."""
    if argv[:1] == ["plan"] and len(argv) == 1:
        e2e = E2E(cluster, pg_password="(generated per run)")
        e2e.print_plan()
        shutil.rmtree(e2e.workdir, ignore_errors=True)
        return 0
    if argv[:1] == ["run"]:
        args = [sys.executable, "-m", "pytest", str(Path(__file__).with_name("test_e2e.py")), *PYTEST_ARGS, *argv[1:]]
        os.execv(sys.executable, args)
    print(doc, file=sys.stderr)
    return 2
