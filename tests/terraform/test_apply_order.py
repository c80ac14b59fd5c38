"""The first apply on an empty account, as terraform/README.md writes it, can succeed: the first
stage targets only modules that exist and install nothing in Kubernetes, and includes the cluster
and the registry; images are pushed after it and before the full apply, and the platform's
``helm upgrade`` (which passes their tag) comes after the full apply. And every per-team
``helm upgrade`` in the READMEs layers the team's infrastructure overlay."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import hcl2
import pytest

REPO = Path(__file__).resolve().parents[2]
TERRAFORM = REPO / "terraform"
KUBERNETES_RESOURCE = re.compile(r'resource\s+"(helm_release|kubernetes_[a-z_]+)"')


def _apply_order_commands() -> list[str]:
    text = (TERRAFORM / "README.md").read_text()
    section = text.split("## Apply order", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "no sh block under 'Apply order'"
    lines = block.group(1).replace("\\\n", " ").splitlines()  # join shell line continuations
    return [" ".join(line.split()) for line in lines if line.strip() and not line.strip().startswith("#")]


def _stack_modules() -> dict[str, Path]:
    with (TERRAFORM / "stack" / "main.tf").open() as f:
        parsed = hcl2.load(f)
    modules = {}
    for block in parsed.get("module", []):
        for name, body in block.items():
            name = name.strip('"')
            source = body["source"].strip('"') if isinstance(body["source"], str) else body["source"]
            modules[name] = (TERRAFORM / "stack" / source).resolve()
    return modules


def _installs_into_kubernetes(folder: Path) -> bool:
    return any(KUBERNETES_RESOURCE.search(tf.read_text()) for tf in folder.rglob("*.tf"))


def test_stage_one_targets_existing_modules_that_install_nothing_in_kubernetes() -> None:
    commands = _apply_order_commands()
    applies = [i for i, c in enumerate(commands) if c.startswith("tofu apply")]
    assert len(applies) >= 2, commands
    first = shlex.split(commands[applies[0]])
    targets = [a.split("=", 1)[1] for a in first if a.startswith("-target=")]
    assert targets, "the first apply must be targeted"
    modules = _stack_modules()
    names = []
    for target in targets:
        match = re.fullmatch(r"module\.stack\.module\.([a-z_]+)", target)
        assert match and match.group(1) in modules, f"{target} is not a module of stack/main.tf"
        names.append(match.group(1))
        assert not _installs_into_kubernetes(modules[match.group(1)]), f"{target} installs into Kubernetes"
    assert {"network", "eks", "registry"} <= set(names)
    assert _installs_into_kubernetes(modules["platform_release"])  # the check above can see a release


def test_images_are_pushed_between_the_registry_and_the_full_apply_then_the_platform_is_deployed() -> None:
    commands = _apply_order_commands()
    applies = [i for i, c in enumerate(commands) if c.startswith("tofu apply")]
    pushes = [i for i, c in enumerate(commands) if "docker push" in c]
    assert pushes and applies[0] < min(pushes) and max(pushes) < applies[1]
    full = commands[applies[1]]
    # The full apply installs no release of ours, so it takes no image tag (and cannot roll one back).
    assert "-target" not in full and "-var" not in full and "$GIT_SHA" not in full, full
    (deploy,) = [i for i, c in enumerate(commands) if c.startswith("helm upgrade --install platform ")]
    (overlay,) = [i for i, c in enumerate(commands) if "output -json platform_values >" in c]
    assert applies[1] < overlay < deploy, commands
    written = shlex.split(commands[overlay])[-1]
    args = shlex.split(commands[deploy])
    files = [args[i + 1] for i, a in enumerate(args) if a == "-f"]
    assert files == ["helm/values/platform.yaml", written], commands[deploy]
    assert re.fullmatch(r"helm/values/platform\.infra-(dev|prod)\.yaml", written)
    assert args[args.index("--set") : args.index("--set") + 2] == ["--set", "image.tag=$GIT_SHA"]
    loop = next(c for c in commands if c.startswith("for image in"))
    assert set(loop.split(" in ", 1)[1].split(";")[0].split()) == {"platform", "candidates", "jobs", "matching"}
    for dockerfile in ("tooling/Dockerfile", *(f"code_locations/{t}/Dockerfile" for t in ("jobs",))):
        assert (REPO / dockerfile).exists()


@pytest.mark.parametrize("readme", ["docs/teams.md", "helm/README.md", "terraform/README.md"])
def test_every_team_helm_upgrade_layers_its_infra_overlay(readme: str) -> None:
    text = (REPO / readme).read_text().replace("\\\n", " ")  # join shell line continuations
    commands = re.findall(r"helm upgrade --install (\S+) helm/code-location[^\n`]*", text)
    assert commands, f"{readme} shows no team helm upgrade"
    for command in re.finditer(r"helm upgrade --install (\S+) helm/code-location([^\n`]*)", text):
        team, rest = command.group(1), command.group(2)
        files = re.findall(r"-f (\S+)", rest)
        team_file = f"helm/values/{team}.yaml" if not team.startswith("<") else "helm/values/<team>.yaml"
        assert files[:1] == [team_file], command.group(0)
        assert len(files) == 2 and re.fullmatch(
            rf"helm/values/{re.escape(team)}\.infra-(prod|dev|<env>)\.yaml", files[1]
        ), f"{readme}: `{command.group(0)}` lacks the infra overlay (terraform output team_values)"
