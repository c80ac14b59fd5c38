"""`helm lint --strict` of both charts with every values file they are installed with."""

from __future__ import annotations

import pytest

RELEASES = [("platform", "platform"), *((team, "code-location") for team in ("candidates", "jobs", "matching"))]


@pytest.mark.parametrize("kind", [False, True], ids=["prod", "kind"])
@pytest.mark.parametrize(("release", "chart"), RELEASES, ids=[r for r, _ in RELEASES])
def test_lint_strict(render, release: str, chart: str, kind: bool) -> None:
    out = render.lint(render.HELM_DIR / chart, render.values_files(release, kind))
    assert "0 chart(s) failed" in out


def test_every_values_file_is_used(render) -> None:
    """No stray values file: each one belongs to a release the tests render."""
    expected = {f"{r}.yaml" for r, _ in RELEASES}
    assert {p.name for p in render.VALUES_DIR.glob("*.yaml")} == expected
    assert {p.name for p in (render.VALUES_DIR / "kind").glob("*.yaml")} == expected


@pytest.mark.parametrize("chart", ["platform", "code-location"])
def test_schema_is_strict_draft07(render, chart: str) -> None:
    import json

    import jsonschema

    schema = json.loads((render.HELM_DIR / chart / "values.schema.json").read_text())
    assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
    jsonschema.Draft7Validator.check_schema(schema)

    def walk(node, path="$"):
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                # False everywhere, except raw Kubernetes passthroughs that say so explicitly.
                assert node.get("additionalProperties") in (False, True), f"{chart}: {path} allows unknown keys"
                if node.get("additionalProperties") is True:
                    assert "Raw" in node.get("description", ""), f"{chart}: {path} is open without saying why"
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(schema)


@pytest.mark.parametrize("chart", ["platform", "code-location"])
def test_every_value_is_documented(render, chart: str) -> None:
    """Every top-level key of values.yaml has a comment block right above it."""
    lines = (render.HELM_DIR / chart / "values.yaml").read_text().splitlines()
    for i, line in enumerate(lines):
        if line and not line.startswith((" ", "#")) and ":" in line:
            assert i > 0 and lines[i - 1].lstrip().startswith("#"), f"{chart}/values.yaml: `{line}` has no comment"
