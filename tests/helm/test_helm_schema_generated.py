"""Both charts' values.schema.json are generated from the pydantic models in helm/schema (as the
official Dagster chart generates its own): the committed files are exactly what the models give,
so a schema edited by hand, or a model changed without `make schemas`, fails here."""

from __future__ import annotations

import importlib
import json
import shutil
import sys
from pathlib import Path

import pytest

HELM = Path(__file__).resolve().parents[2] / "helm"


@pytest.fixture(scope="module")
def chart_schema():
    sys.path.insert(0, str(HELM / "schema"))
    try:
        yield importlib.import_module("chart_schema.__main__")
    finally:
        sys.path.remove(str(HELM / "schema"))


@pytest.mark.parametrize("chart", ["platform", "code-location"])
def test_the_committed_schema_is_the_generated_one(chart_schema, chart: str) -> None:
    committed = (HELM / chart / "values.schema.json").read_text()
    assert chart_schema.render(chart) == committed, f"helm/{chart}/values.schema.json is stale: run `make schemas`"


def test_check_fails_on_a_stale_schema_and_passes_once_regenerated(chart_schema, tmp_path, monkeypatch) -> None:
    for chart in ("platform", "code-location"):
        (tmp_path / chart).mkdir()
        shutil.copy(HELM / chart / "values.schema.json", tmp_path / chart / "values.schema.json")
    stale = json.loads((tmp_path / "platform" / "values.schema.json").read_text())
    del stale["properties"]["retention"]  # as if edited by hand
    (tmp_path / "platform" / "values.schema.json").write_text(json.dumps(stale, indent=2) + "\n")
    monkeypatch.setattr(chart_schema, "HELM_DIR", tmp_path)
    monkeypatch.setattr(sys, "argv", ["chart_schema", "--check"])
    assert chart_schema.main() == 1
    monkeypatch.setattr(sys, "argv", ["chart_schema"])
    assert chart_schema.main() == 0
    monkeypatch.setattr(sys, "argv", ["chart_schema", "--check"])
    assert chart_schema.main() == 0
    assert (tmp_path / "platform" / "values.schema.json").read_text() == (
        HELM / "platform" / "values.schema.json"
    ).read_text()


def test_the_old_names_are_in_the_models_as_refusals(chart_schema) -> None:
    """The names before the official ones stay refused with their new name after regeneration."""
    platform = json.loads(chart_schema.render("platform"))["properties"]
    team = json.loads(chart_schema.render("code-location"))["properties"]
    for props, old, new in (
        (platform, "webserver", "dagsterWebserver"),
        (platform, "daemon", "dagsterDaemon"),
        (platform, "computeLogs", "computeLogManager"),
        (platform, "codeLocations", "dagsterWebserver.workspace.servers"),
        (team, "codeServer", "top level"),
        (team, "location", "dagsterApiGrpcArgs"),
    ):
        (message,) = props[old]["enum"]
        assert new in message, old
