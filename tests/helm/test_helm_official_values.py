"""Values written for the official Dagster chart carry over by copy where these charts configure
the same thing under the same name: each block of tests/helm/data/official-chart-values.yaml is
copied, as it is, under our block, minus the keys listed here as configured elsewhere (helm/README.md,
"Coming from the official chart", says where), and the render carries every copied value.
A key that stops being shared, or starts to be, fails the test until the lists here say so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

OFFICIAL = yaml.safe_load((Path(__file__).parent / "data" / "official-chart-values.yaml").read_text())
POD_KEYS = ("nodeSelector", "affinity", "tolerations")

# official block -> (chart, our block, official keys configured elsewhere here, Deployment)
BLOCKS: dict[str, tuple[str, str, set[str], str]] = {
    "dagsterWebserver": ("platform", "webserver", {"replicaCount", "envSecrets"}, "platform-webserver"),
    "dagsterDaemon": ("platform", "daemon", {"heartbeatTolerance"}, "platform-daemon"),
    "dagster-user-deployments.deployments[0]": (
        "code-location",
        "codeServer",
        {"name", "image", "dagsterApiGrpcArgs"},
        "candidates-code-server",
    ),
}


def _official(path: str) -> dict[str, Any]:
    if path.endswith("[0]"):
        top, rest = path.removesuffix("[0]").split(".", 1)
        return OFFICIAL[top][rest][0]
    return OFFICIAL[path]


def _schema_keys(render, chart: str, block: str) -> set[str]:
    schema = json.loads((render.HELM_DIR / chart / "values.schema.json").read_text())
    return set(schema["properties"][block]["properties"])


def _copy(render, path: str) -> dict[str, Any]:
    chart, block, elsewhere, _ = BLOCKS[path]
    official = _official(path)
    shared = set(official) & _schema_keys(render, chart, block)
    # Every official key is either taken by copy or listed as configured elsewhere, never both.
    assert set(official) - shared == elsewhere, f"{path}: keys not shared changed"
    return {k: v for k, v in official.items() if k in shared}


def _render(render, chart: str, values: dict[str, Any], tmp_path: Path):
    f = tmp_path / "copied.yaml"
    f.write_text(yaml.safe_dump(values))
    if chart == "platform":
        files = (*render.values_files("platform"), f)
        return render.template(render.PLATFORM_CHART, "platform", files)
    return render.template(render.CODE_LOCATION_CHART, "candidates", (*render.values_files("candidates"), f))


@pytest.mark.parametrize("path", sorted(BLOCKS))
def test_pod_settings_copied_from_the_official_chart_apply(render, tmp_path, path: str) -> None:
    chart, block, _, deployment = BLOCKS[path]
    copied = _copy(render, path)
    r = _render(render, chart, {block: copied}, tmp_path)
    spec = r.get("Deployment", deployment)["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    for key in POD_KEYS:
        if key in copied:
            assert spec[key] == copied[key], key
    assert copied["resources"] == container["resources"]
    # The security contexts are merged over the restricted defaults: every copied key lands.
    for key, value in copied.get("podSecurityContext", {}).items():
        assert spec["securityContext"][key] == value
    for key, value in copied.get("securityContext", {}).items():
        assert container["securityContext"][key] == value
    assert render.restricted_violations(spec) == []


def test_the_official_ingress_block_is_accepted_as_is(render, tmp_path) -> None:
    """The webserver's part of the official `ingress` block is ours, whole."""
    r = _render(render, "platform", {"ingress": OFFICIAL["ingress"], "webserver": {"pathPrefix": "/dagster"}}, tmp_path)
    ingress = r.one("Ingress")
    web = OFFICIAL["ingress"]["dagsterWebserver"]
    assert ingress["metadata"]["annotations"] == OFFICIAL["ingress"]["annotations"]
    assert ingress["metadata"]["labels"]["team"] == "data-platform"
    assert ingress["spec"]["tls"] == [{"hosts": [web["host"]], "secretName": web["tls"]["secretName"]}]
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert (rule["host"], path["path"], path["pathType"]) == (web["host"], web["path"], web["pathType"])


def test_the_readme_maps_every_official_value_it_names_to_one_of_ours(render) -> None:
    """The mapping table in helm/README.md names values of ours that exist (schema paths)."""
    text = (render.HELM_DIR / "README.md").read_text()
    section = text.split("## Coming from the official chart", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    assert len(rows) >= 20, "the mapping table is missing"
    schemas = {
        c: json.loads((render.HELM_DIR / c / "values.schema.json").read_text()) for c in ("platform", "code-location")
    }
    for row in rows:
        ours = row.split("|")[2].strip()
        chart = "code-location" if "(team)" in ours else "platform"
        names = ours.split("`")[1::2]
        assert names, row
        for name in names:
            node = schemas[chart]
            for key in name.split("[]")[0].split("."):
                assert "properties" in node and key in node["properties"], f"{row}: {name} is not a {chart} value"
                node = node["properties"][key]
