#!/usr/bin/env python3
"""The kind end-to-end run: the whole platform on a throwaway cluster.

    python tests/e2e/kind.py plan   # print every command, in order (no side effects)
    python tests/e2e/kind.py run    # execute them; the cluster is always deleted at the end

Needs Docker, kind and kubectl on PATH, helm at .tools/bin/helm (or PATH), and the project's
virtualenv (the demo records are generated with talent_shared.seed). What it does:

1. creates the cluster from tests/e2e/kind-config.yaml;
2. builds the four images (platform + one per location) and `kind load`s them, plus Postgres;
3. creates the namespaces (talent enforces the "restricted" Pod Security Standard), Postgres with
   pgvector (tests/e2e/manifests/postgres.yaml), the Secrets (a password generated per run), the
   landing PVC;
4. `helm upgrade --install`s the platform, then the three team releases, with helm/values/kind/*;
5. streams demo records into the landing PVC through the candidates code server
   (`tar | kubectl exec -i ... tar -x`: the simplest "upload" that needs no S3 server);
6. port-forwards the webserver and polls Dagster's GraphQL API until every location is loaded and
   `matches` has a materialization (sensors ingest the files; automation runs the rest);
7. checks that the `matches` step pod carried its limits and reads the cost exporter's /metrics;
8. on failure dumps cluster info to .e2e-artifacts/; always deletes the cluster.

A script, not a package module: the Makefile calls `python tests/e2e/kind.py plan|run`.
"""

from __future__ import annotations

import io
import json
import os
import secrets
import shlex
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
E2E = REPO / "tests" / "e2e"
CLUSTER = "talent-e2e"
NAMESPACE = "talent"
DB_NAMESPACE = "talent-db"
TAG = "e2e"
TEAMS = ("candidates", "jobs", "matching")
POSTGRES_IMAGE = "pgvector/pgvector:0.8.0-pg17"
IMAGES = {
    "talent-platform": "shared_lib/platform.Dockerfile",
    **{f"talent-{t}": f"code_locations/{t}/Dockerfile" for t in TEAMS},
}
KIND_CONFIG = "tests/e2e/kind-config.yaml"
MANIFESTS = (
    "tests/e2e/manifests/namespaces.yaml",
    "tests/e2e/manifests/postgres.yaml",
    "tests/e2e/manifests/landing.yaml",
)
ARTIFACTS = REPO / ".e2e-artifacts"
WEBSERVER_PORT = 18080
EXPORTER_PORT = 19108
MATCHES_TIMEOUT_S = 20 * 60
DEMO_CANDIDATES, DEMO_JOBS = 40, 12

REDACTED = "***"


@dataclass
class Step:
    """One command of the plan. ``argv`` is what `plan` prints and `run` executes, unless
    ``action`` is set: then ``argv`` is the equivalent shell command and ``action`` does it."""

    name: str
    argv: list[str]
    phase: str  # setup | deploy | verify | teardown
    action: Callable[[Context], None] | None = None
    secret: str | None = None  # printed as ***

    def shell(self) -> str:
        shown = [a.replace(self.secret, REDACTED) if self.secret else a for a in self.argv]
        return " ".join(a if a in {"|", "&"} else shlex.quote(a) for a in shown)


@dataclass
class Context:
    helm: str
    kubectl: str
    kind: str
    docker: str
    python: str
    pg_password: str
    workdir: Path


def tool(name: str) -> str:
    if name == "helm":
        local = REPO / ".tools" / "bin" / "helm"
        if local.exists():
            return str(local)
    return shutil.which(name) or name


def make_context() -> Context:
    return Context(
        helm=tool("helm"),
        kubectl=tool("kubectl"),
        kind=tool("kind"),
        docker=tool("docker"),
        python=sys.executable,
        pg_password=os.environ.get("E2E_PG_PASSWORD") or secrets.token_urlsafe(24),
        workdir=Path(tempfile.mkdtemp(prefix="talent-e2e-")),
    )


def database_url(ctx: Context, db: str) -> str:
    return f"postgresql://dagster:{ctx.pg_password}@postgres.{DB_NAMESPACE}.svc.cluster.local:5432/{db}"


def plan(ctx: Context) -> list[Step]:
    k, ns = ctx.kubectl, ["--namespace", NAMESPACE]
    steps: list[Step] = [
        Step(
            "create the cluster",
            [ctx.kind, "create", "cluster", "--name", CLUSTER, "--config", KIND_CONFIG, "--wait", "180s"],
            "setup",
        ),
    ]
    for image, dockerfile in IMAGES.items():
        steps.append(
            Step(f"build {image}", [ctx.docker, "build", "--file", dockerfile, "--tag", f"{image}:{TAG}", "."], "setup")
        )
    steps.append(Step("pull postgres", [ctx.docker, "pull", POSTGRES_IMAGE], "setup"))
    steps.append(
        Step(
            "load the images into kind",
            [ctx.kind, "load", "docker-image", "--name", CLUSTER, *(f"{i}:{TAG}" for i in IMAGES), POSTGRES_IMAGE],
            "setup",
        )
    )
    steps.append(Step("namespaces", [k, "apply", "--filename", MANIFESTS[0]], "setup"))
    steps.append(
        Step(
            "postgres password",
            [
                k,
                "--namespace",
                DB_NAMESPACE,
                "create",
                "secret",
                "generic",
                "postgres",
                f"--from-literal=password={ctx.pg_password}",
            ],
            "setup",
            secret=ctx.pg_password,
        )
    )
    steps.append(Step("postgres with pgvector", [k, "apply", "--filename", MANIFESTS[1]], "setup"))
    steps.append(
        Step(
            "wait for postgres",
            [k, "--namespace", DB_NAMESPACE, "rollout", "status", "deployment/postgres", "--timeout", "300s"],
            "setup",
        )
    )
    steps.append(
        Step(
            "secret: Dagster instance password",
            [
                k,
                *ns,
                "create",
                "secret",
                "generic",
                "dagster-postgresql",
                f"--from-literal=postgresql-password={ctx.pg_password}",
            ],
            "setup",
            secret=ctx.pg_password,
        )
    )
    steps.append(
        Step(
            "secret: talent database URL",
            [
                k,
                *ns,
                "create",
                "secret",
                "generic",
                "talent-database",
                f"--from-literal=database-url={database_url(ctx, 'talent')}",
            ],
            "setup",
            secret=ctx.pg_password,
        )
    )
    steps.append(Step("landing volume", [k, "apply", "--filename", MANIFESTS[2]], "setup"))
    steps.append(
        Step(
            "install the platform",
            [
                ctx.helm,
                "upgrade",
                "--install",
                "platform",
                "helm/platform",
                *ns,
                "--values",
                "helm/values/platform.yaml",
                "--values",
                "helm/values/kind/platform.yaml",
                "--wait",
                "--timeout",
                "10m",
            ],
            "deploy",
        )
    )
    for team in TEAMS:
        steps.append(
            Step(
                f"install {team}",
                [
                    ctx.helm,
                    "upgrade",
                    "--install",
                    team,
                    "helm/code-location",
                    *ns,
                    "--values",
                    f"helm/values/{team}.yaml",
                    "--values",
                    f"helm/values/kind/{team}.yaml",
                    "--wait",
                    "--timeout",
                    "10m",
                ],
                "deploy",
            )
        )
    demo = ctx.workdir / "demo"
    steps.append(
        Step(
            "generate demo records",
            [
                ctx.python,
                "-c",
                f"from pathlib import Path; from talent_shared.seed import generate, write; "
                f"write(Path({str(demo)!r}), *generate({DEMO_CANDIDATES}, {DEMO_JOBS}, seed=7), prefix='e2e')",
            ],
            "verify",
        )
    )
    steps.append(
        Step(
            "upload demo records into the landing volume",
            [
                "tar",
                "-C",
                str(demo),
                "-cf",
                "-",
                ".",
                "|",
                k,
                *ns,
                "exec",
                "-i",
                "deployment/candidates-code-server",
                "--",
                "tar",
                "-xf",
                "-",
                "-C",
                "/landing",
            ],
            "verify",
            action=lambda c: upload(c, demo),
        )
    )
    steps.append(
        Step(
            "wait for every location and a materialization of matches (GraphQL)",
            [
                k,
                *ns,
                "port-forward",
                "service/platform-webserver",
                f"{WEBSERVER_PORT}:80",
                "&",
                "curl",
                "-sf",
                f"http://127.0.0.1:{WEBSERVER_PORT}/graphql",
                "--json",
                json.dumps({"query": MATCHES_QUERY}),
            ],
            "verify",
            action=wait_for_matches,
        )
    )
    steps.append(
        Step(
            "the matches step pod carried its limits",
            [
                k,
                *ns,
                "get",
                "jobs",
                "--selector",
                "dagster/op=matches",
                "--output",
                "jsonpath={.items[*].spec.template.spec.containers[0].resources}",
            ],
            "verify",
            action=check_matches_limits,
        )
    )
    steps.append(
        Step(
            "read the cost exporter's metrics",
            [
                k,
                *ns,
                "port-forward",
                "service/platform-cost-exporter",
                f"{EXPORTER_PORT}:9108",
                "&",
                "curl",
                "-sf",
                f"http://127.0.0.1:{EXPORTER_PORT}/metrics",
            ],
            "verify",
            action=read_metrics,
        )
    )
    return steps


def teardown(ctx: Context, failed: bool) -> list[Step]:
    steps = []
    if failed:
        steps.append(
            Step(
                "dump cluster info",
                [
                    ctx.kubectl,
                    "cluster-info",
                    "dump",
                    "--namespaces",
                    f"{NAMESPACE},{DB_NAMESPACE}",
                    "--output-directory",
                    str(ARTIFACTS / "cluster-info"),
                ],
                "teardown",
            )
        )
        steps.append(
            Step(
                "dump events and pods",
                [ctx.kubectl, "get", "all,events,networkpolicies", "--all-namespaces", "--output", "wide"],
                "teardown",
            )
        )
    steps.append(Step("delete the cluster", [ctx.kind, "delete", "cluster", "--name", CLUSTER], "teardown"))
    return steps


# --- actions: what a shell pipe or a polling loop would do ----------------------------------------
MATCHES_QUERY = """
query E2E {
  workspaceOrError { ... on Workspace { locationEntries { name locationOrLoadError { __typename } } } }
  assetOrError(assetKey: {path: ["matches"]}) {
    ... on Asset { assetMaterializations(limit: 1) { runId timestamp } }
  }
}
"""


def upload(ctx: Context, demo: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path in sorted(demo.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(demo)), recursive=False)
    subprocess.run(
        [
            ctx.kubectl,
            "--namespace",
            NAMESPACE,
            "exec",
            "-i",
            "deployment/candidates-code-server",
            "--",
            "tar",
            "-xf",
            "-",
            "-C",
            "/landing",
        ],
        input=buf.getvalue(),
        check=True,
        timeout=120,
    )


class PortForward:
    def __init__(self, ctx: Context, target: str, local: int, remote: int):
        self.argv = [ctx.kubectl, "--namespace", NAMESPACE, "port-forward", target, f"{local}:{remote}"]
        self.local = local

    def __enter__(self) -> PortForward:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.local)) == 0:
                    return self
            time.sleep(0.5)
        raise RuntimeError(f"port-forward did not come up: {' '.join(self.argv)}")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def graphql(port: int, query: str) -> dict:
    req = urllib.request.Request(
        f"http://127.0.0.1:{port}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.load(resp)


def wait_for_matches(ctx: Context) -> None:
    with PortForward(ctx, "service/platform-webserver", WEBSERVER_PORT, 80):
        deadline = time.monotonic() + MATCHES_TIMEOUT_S
        last = None
        while time.monotonic() < deadline:
            try:
                data = graphql(WEBSERVER_PORT, MATCHES_QUERY)["data"]
                entries = data["workspaceOrError"]["locationEntries"]
                loaded = {
                    e["name"]
                    for e in entries
                    if (e["locationOrLoadError"] or {}).get("__typename") == "RepositoryLocation"
                }
                mats = (data.get("assetOrError") or {}).get("assetMaterializations") or []
                last = {"loaded": sorted(loaded), "matches": mats}
                if loaded == set(TEAMS) and mats:
                    print(f"matches materialized by run {mats[0]['runId']}")
                    return
            except Exception as exc:  # the webserver may restart while locations load
                last = repr(exc)
            time.sleep(10)
        raise TimeoutError(f"no materialization of matches after {MATCHES_TIMEOUT_S}s; last state: {last}")


def check_matches_limits(ctx: Context) -> None:
    out = subprocess.run(
        [ctx.kubectl, "--namespace", NAMESPACE, "get", "jobs", "--selector", "dagster/op=matches", "--output", "json"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    jobs = json.loads(out.stdout)["items"]
    if not jobs:
        print("matches step Job already removed by its TTL; the clusterless tests cover its resources")
        return
    resources = jobs[0]["spec"]["template"]["spec"]["containers"][0]["resources"]
    print(f"matches step pod resources: {resources}")
    if not resources.get("limits"):
        raise AssertionError(f"matches step pod has no limits: {resources}")


def read_metrics(ctx: Context) -> None:
    with (
        PortForward(ctx, "service/platform-cost-exporter", EXPORTER_PORT, 9108),
        urllib.request.urlopen(f"http://127.0.0.1:{EXPORTER_PORT}/metrics", timeout=30) as resp,
    ):
        body = resp.read().decode()
    talent = [line for line in body.splitlines() if line.startswith("talent_")]
    print("\n".join(talent[:20]) or body[:2000])
    if "# HELP" not in body:
        raise AssertionError("the exporter served no Prometheus metrics")


# --- running -------------------------------------------------------------------------------------
Runner = Callable[[Step, Context], None]


def execute(step: Step, ctx: Context) -> None:
    if step.action is not None:
        step.action(ctx)
    else:
        subprocess.run(step.argv, cwd=REPO, check=True)


def run(ctx: Context, runner: Runner = execute) -> int:
    """Executes the plan; on failure dumps cluster info. The cluster is deleted in every case."""
    failed = False
    started = time.monotonic()
    try:
        for step in plan(ctx):
            print(f"==> [{time.monotonic() - started:6.0f}s] {step.name}: {step.shell()}", flush=True)
            runner(step, ctx)
    except BaseException as exc:  # KeyboardInterrupt too: the cluster must not outlive the run
        failed = True
        print(f"!!! e2e failed: {exc!r}", file=sys.stderr, flush=True)
        if isinstance(exc, KeyboardInterrupt):
            raise
    finally:
        for step in teardown(ctx, failed):
            print(f"==> {step.name}: {step.shell()}", flush=True)
            try:
                runner(step, ctx)
            except Exception as exc:  # keep tearing down
                print(f"!!! {step.name} failed: {exc!r}", file=sys.stderr)
        shutil.rmtree(ctx.workdir, ignore_errors=True)
    print(f"e2e {'FAILED' if failed else 'passed'} in {time.monotonic() - started:.0f}s")
    return 1 if failed else 0


def print_plan(ctx: Context) -> None:
    for i, step in enumerate(plan(ctx), 1):
        print(f"# {i:2d}. [{step.phase}] {step.name}\n{step.shell()}")
    print("# always, last (after dumping cluster info on failure):")
    for step in teardown(ctx, failed=True):
        print(f"# [{step.phase}] {step.name}\n{step.shell()}")


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1 or argv[0] not in {"plan", "run"}:
        print(__doc__, file=sys.stderr)
        return 2
    ctx = make_context()
    if argv[0] == "plan":
        print_plan(ctx)
        shutil.rmtree(ctx.workdir, ignore_errors=True)
        return 0
    missing = [t for t in ("docker", "kind", "kubectl") if not shutil.which(t)] + (
        [] if Path(ctx.helm).exists() or shutil.which("helm") else ["helm"]
    )
    if missing:
        print(f"missing tools: {', '.join(missing)} (see helm/README.md)", file=sys.stderr)
        return 2
    return run(ctx)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
