"""kind on this machine (tests/e2e/kind): which node image is used, the docker shim's rewriting,
the scripts' lint. The test marked `cluster` builds the local node image when missing and brings a
kind cluster up and down (a minute with the images built):

    .venv/bin/python -m pytest tests/e2e/test_kind.py -m cluster
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
KIND_DIR = HERE / "kind"
NODE_IMAGE = KIND_DIR / "node-image.sh"
KIND_SH = KIND_DIR / "kind.sh"
SHIM = KIND_DIR / "docker-shim" / "docker"

# A docker that records its arguments, one per line, then a separator: the shim's output is checked
# against what it passed on, and "nothing was built" against an empty record.
FAKE_DOCKER = """#!/bin/sh
for a in "$@"; do printf '%s\\n' "$a" >> "$FAKE_DOCKER_LOG"; done
echo --- >> "$FAKE_DOCKER_LOG"
# An offline machine: no image, no registry.
[ -z "$FAKE_DOCKER_OFFLINE" ] || case "$1 $2" in "image inspect" | "pull "*) exit 1 ;; esac
"""


@pytest.fixture
def fake_docker(tmp_path: Path) -> tuple[Path, Path]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(FAKE_DOCKER)
    (bin_dir / "docker").chmod(0o755)
    return bin_dir, tmp_path / "docker.log"


def run(argv: list[str], env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True, timeout=120)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def calls(log: Path) -> list[list[str]]:
    if not log.exists():
        return []
    out: list[list[str]] = [[]]
    for line in log.read_text().splitlines():
        if line == "---":
            out.append([])
        else:
            out[-1].append(line)
    return out[:-1]


# --- which node image ------------------------------------------------------------------------------


def test_official_names_kindest_node_and_builds_nothing(fake_docker: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir, log = fake_docker
    env = {"TALENT_KIND_NODE": "official", "PATH": f"{bin_dir}:{os.environ['PATH']}", "FAKE_DOCKER_LOG": str(log)}
    env["TALENT_KIND_WORK"] = str(tmp_path / "work")
    assert run([str(NODE_IMAGE), "name"], env).stdout.strip() == "kindest/node:v1.32.2"
    out = run([str(NODE_IMAGE), "build"], env).stdout
    assert "nothing to build" in out
    assert calls(log) == []
    assert not (tmp_path / "work").exists()
    env["TALENT_KIND_OFFICIAL_IMAGE"] = "kindest/node:v1.32.5"
    assert run([str(NODE_IMAGE), "name"], env).stdout.strip() == "kindest/node:v1.32.5"


def test_local_name_follows_the_binaries(tmp_path: Path) -> None:
    if not shutil.which("go"):
        pytest.skip("go not found (the kind module is read through it)")
    tools = tmp_path / "k8s"
    (tools / "bin").mkdir(parents=True)
    (tools / "bin" / ".stamp").write_text("k8s=v1.32.13 recipe=1\n")
    env = {"TALENT_K8S_TOOLS": str(tools), "TALENT_KIND_NODE": "local"}
    first = run([str(NODE_IMAGE), "name"], env).stdout.strip()
    assert re.fullmatch(r"local/kind-node:v1\.32\.13-[0-9a-f]{16}", first), first
    assert run([str(NODE_IMAGE), "name"], env).stdout.strip() == first
    (tools / "bin" / ".stamp").write_text("k8s=v1.32.13 recipe=2\n")
    assert run([str(NODE_IMAGE), "name"], env).stdout.strip() != first


def test_auto_is_the_default_and_official_where_docker_has_kindest_node(fake_docker: tuple[Path, Path]) -> None:
    bin_dir, log = fake_docker
    env = {k: v for k, v in os.environ.items() if k != "TALENT_KIND_NODE"}
    env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", FAKE_DOCKER_LOG=str(log))
    result = subprocess.run([str(NODE_IMAGE), "resolve"], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "official", result.stderr
    assert calls(log)[0] == ["image", "inspect", "kindest/node:v1.32.2"]
    assert run([str(NODE_IMAGE), "name"], env).stdout.strip() == "kindest/node:v1.32.2"


def test_auto_builds_here_where_no_registry_answers(fake_docker: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir, log = fake_docker
    tools = tmp_path / "k8s"
    (tools / "bin").mkdir(parents=True)
    (tools / "bin" / ".stamp").write_text("k8s=v1.32.13 recipe=1\n")
    env = {
        "TALENT_KIND_NODE": "auto",
        "TALENT_K8S_TOOLS": str(tools),
        "PATH": f"{bin_dir}:{os.environ['PATH']}",
        "FAKE_DOCKER_LOG": str(log),
        "FAKE_DOCKER_OFFLINE": "1",
    }
    assert run([str(NODE_IMAGE), "resolve"], env).stdout.strip() == "local"
    assert [c[:2] for c in calls(log) if c] == [["image", "inspect"], ["pull", "-q"]]
    if shutil.which("go"):  # the local name reads the kind module through go
        local = run([str(NODE_IMAGE), "name"], {**env, "TALENT_KIND_NODE": "local"}).stdout.strip()
        assert run([str(NODE_IMAGE), "name"], env).stdout.strip() == local


def test_local_without_binaries_says_what_to_run(tmp_path: Path) -> None:
    result = run(
        [str(NODE_IMAGE), "name"], {"TALENT_K8S_TOOLS": str(tmp_path), "TALENT_KIND_NODE": "local"}, check=False
    )
    assert result.returncode != 0
    assert "make k8s-bin" in result.stderr


def test_an_unknown_source_is_refused() -> None:
    result = run([str(NODE_IMAGE), "name"], {"TALENT_KIND_NODE": "latest"}, check=False)
    assert result.returncode != 0
    assert "'auto', 'official' or 'local'" in result.stderr


# --- the docker shim -------------------------------------------------------------------------------


def shim(fake_docker: tuple[Path, Path], *args: str) -> list[str]:
    bin_dir, log = fake_docker
    env = {"PATH": f"{SHIM.parent}:{bin_dir}:/usr/bin:/bin", "FAKE_DOCKER_LOG": str(log)}
    run(["docker", *args], env)
    return calls(log)[-1]


def test_shim_replaces_privileged_on_run(fake_docker: tuple[Path, Path]) -> None:
    argv = shim(
        fake_docker, "run", "--hostname", "n", "--privileged", "--volume", "/var",
        "--volume", "/lib/modules:/lib/modules:ro", "-e", "K", "img",
    )  # fmt: skip
    assert "--privileged" not in argv
    assert argv[:3] == ["run", "--hostname", "n"]
    i = argv.index("--cap-add")
    assert argv[i : i + 4] == ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"]
    assert "systempaths=unconfined" in argv and "/dev/kmsg" in argv and "a *:* rwm" in argv
    assert argv[-3:] == ["-e", "K", "img"]
    assert ("/lib/modules:/lib/modules:ro" in argv) == Path("/lib/modules").is_dir()
    assert argv[argv.index("/var") - 1] == "--volume"


def test_shim_drops_the_capabilities_it_is_told(fake_docker: tuple[Path, Path], monkeypatch) -> None:
    monkeypatch.setenv("TALENT_DOCKER_DROP_CAPS", "SYS_RESOURCE BPF")
    argv = shim(fake_docker, "run", "--privileged", "img")
    assert argv[1:7] == ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE", "--cap-drop", "BPF"]


def test_kind_sh_names_the_capabilities_the_bounding_set_lacks() -> None:
    """What the shim is told to drop: bit 24 is CAP_SYS_RESOURCE, the one root lacks on the CI machine."""
    script = KIND_SH.read_text()
    function = script[script.index("missing_caps() {") : script.index("\n}\n", script.index("missing_caps() {")) + 3]
    out = subprocess.run(["bash", "-c", function + "missing_caps"], capture_output=True, text=True, check=True)
    bounding = int(
        next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("CapBnd:")).split()[1], 16
    )
    assert ("SYS_RESOURCE" in out.stdout.split()) == (not bounding >> 24 & 1)
    assert ("SYS_ADMIN" in out.stdout.split()) == (not bounding >> 21 & 1)


def test_shim_drops_privileged_on_exec_and_passes_the_rest(fake_docker: tuple[Path, Path]) -> None:
    assert shim(fake_docker, "exec", "--privileged", "node", "cat", "/kind/version") == [
        "exec",
        "node",
        "cat",
        "/kind/version",
    ]
    assert shim(fake_docker, "inspect", "--privileged", "x") == ["inspect", "--privileged", "x"]


# --- lint ------------------------------------------------------------------------------------------


def test_scripts_shellcheck_clean() -> None:
    shellcheck = Path(sys.executable).parent / "shellcheck"
    if not shellcheck.exists():
        pytest.skip("shellcheck not in the venv")
    scripts = [NODE_IMAGE, KIND_SH, SHIM, KIND_DIR / "talent-entrypoint"]
    result = subprocess.run([str(shellcheck), *map(str, scripts)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_base_dockerfile_hadolint_clean() -> None:
    hadolint = Path(sys.executable).parent / "hadolint"
    if not hadolint.exists():
        pytest.skip("hadolint not in the venv")
    result = subprocess.run(
        [str(hadolint), "--no-color", str(KIND_DIR / "base.Dockerfile")], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- a real kind cluster ---------------------------------------------------------------------------


@pytest.mark.cluster
def test_kind_up_load_down_clean() -> None:
    """The node image (built when missing), kind create/load/delete, and nothing left after."""
    # Local unless told: this machine reaches no image registry.
    env = {"TALENT_KIND_NAME": "talent-kind-test", "TALENT_KIND_NODE": os.environ.get("TALENT_KIND_NODE", "local")}
    try:
        run([str(KIND_SH), "up"], env)
        run([str(KIND_SH), "load", "local/debian:bookworm"], env)
        kubectl = [str(REPO / ".tools/k8s/bin/kubectl"), "--kubeconfig", str(REPO / ".tools/kind/kubeconfig")]
        nodes = run([*kubectl, "get", "nodes", "-o", "jsonpath={.items[*].status.nodeInfo.kubeletVersion}"], {})
        assert nodes.stdout.startswith("v1.32.")
        corefile = run([*kubectl, "-n", "kube-system", "get", "cm", "coredns", "-o", "jsonpath={.data.Corefile}"], {})
        if env["TALENT_KIND_NODE"] == "local":
            assert "forward" not in corefile.stdout
    finally:
        run([str(KIND_SH), "down"], env)
    run([str(KIND_SH), "check-clean"], env)
