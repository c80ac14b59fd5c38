"""The committed dashboards are exactly what dashboards.py generates, and only query metrics the
exporter serves. (test_prometheus.py runs every query against a real Prometheus.)"""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path

import yaml

from talent_platform.cost import dashboards
from talent_platform.cost.exporter import LedgerCollector

METRIC = re.compile(r"\btalent_[a-z0-9_]+\b")


def exported_names() -> set[str]:
    names = set()
    for family in LedgerCollector("postgresql://unused").describe():
        if family.type == "counter":
            names.add(family.name + "_total")
        elif family.type == "histogram":
            names |= {family.name + suffix for suffix in ("_bucket", "_sum", "_count")}
        else:
            names.add(family.name)
    # Gauges the collector only adds once it has a value to report.
    names |= {"talent_exporter_scrape_duration_seconds", "talent_exporter_last_success_timestamp_seconds"}
    return names


def test_committed_json_is_generated(paths: dict[str, Path]) -> None:
    directory = paths["dashboards"]
    assert {p.name for p in directory.glob("*.json")} == set(dashboards.DASHBOARDS)
    assert dashboards.stale(directory) == [], (
        "helm/platform/dashboards is stale or hand-edited: run "
        "`python -m talent_platform.cost.dashboards helm/platform/dashboards` and commit the result"
    )


# Grafana's dashboard schemaVersion of the first release of each major (its schema migrations):
# a 10.x build writes 36-38, which Grafana 11 and 12 migrate on every load.
GRAFANA_11_SCHEMA_VERSION = 39


def test_dashboards_are_built_for_grafana_11_or_later(paths: dict[str, Path]) -> None:
    """grafana-foundation-sdk's versions are `<build timestamp>!<Grafana version>`: the newest
    timestamp is the 10.1 build, so an unpinned or carelessly bumped install picks Grafana 10."""
    sdk = importlib.metadata.version("grafana-foundation-sdk")
    grafana = sdk.rpartition("!")[2]
    assert int(grafana.split(".")[0]) >= 11, f"grafana-foundation-sdk {sdk} is built for Grafana {grafana}"
    pins = (paths["root"] / "constraints.txt").read_text()
    assert f"grafana-foundation-sdk=={sdk}\n" in pins, "the installed SDK is not the one constraints.txt pins"
    sdk_schema = dashboards.dash.Dashboard("probe").build().schema_version
    assert sdk_schema >= GRAFANA_11_SCHEMA_VERSION
    for path in sorted(paths["dashboards"].glob("*.json")):
        assert json.loads(path.read_text())["schemaVersion"] == sdk_schema, path.name


def test_check_mode(paths: dict[str, Path], tmp_path: Path) -> None:
    assert dashboards.main([str(paths["dashboards"]), "--check"]) == 0
    dashboards.write(tmp_path)
    target = tmp_path / next(iter(dashboards.DASHBOARDS))
    target.write_text(target.read_text().replace("Spend", "Spend!"))
    assert dashboards.main([str(tmp_path), "--check"]) == 1


def test_queries_use_exported_metrics(panel_queries: list[dict]) -> None:
    exported = exported_names()
    for query in panel_queries:
        used = set(METRIC.findall(query["expr"]))
        assert used, f"{query['dashboard']} / {query['panel']}: no talent_ metric in {query['expr']!r}"
        assert used <= exported, f"{query['dashboard']} / {query['panel']}: unknown {sorted(used - exported)}"


def test_rules_use_exported_metrics(paths: dict[str, Path]) -> None:
    exported = exported_names()
    groups = yaml.safe_load(paths["rules"].read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        used = set(METRIC.findall(rule["expr"]))
        assert used and used <= exported, (rule["alert"], sorted(used - exported))


def test_panels_are_well_formed(paths: dict[str, Path]) -> None:
    for path in sorted(paths["dashboards"].glob("*.json")):
        board = json.loads(path.read_text())
        assert board["uid"] and board["title"]
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for panel in board["panels"]:
            if panel["type"] == "row":
                continue
            assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
            refs = [t["refId"] for t in panel["targets"]]
            assert refs and len(refs) == len(set(refs)) and all(refs), panel["title"]
            assert panel.get("options"), f"{path.name} / {panel['title']}: no options"
