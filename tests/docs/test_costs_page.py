"""docs/costs.md's LLM figures are what ``talent cost estimate`` computes on the demo data, and its
AWS bill names the sizes the Terraform environments set: a prompt, a price or a size that changes
makes this fail until the page is updated.

The demo data is what ``talent dev`` lands (``generate(40, 12, seed=7)``), processed by the three
locations with the local providers (their reconcilers ticked and their runs executed in process, as
the daemon would), then estimated with the production provider and models, priced offline.
"""

from __future__ import annotations

import importlib
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import dagster as dg
import hcl2
import pytest
from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "costs.md"
# the page's columns, in order: the asset an entity's new records cost in
ASSETS = {
    "candidates": ("normalized_candidates", "candidate_vectors", "matches"),
    "jobs": ("normalized_jobs", "job_vectors", "matches"),
}
ENTITY = {"candidates": "candidate", "jobs": "job"}
TENTH_OF_A_CENT = Decimal("0.001")  # as the page prints them


def _page_llm_rows() -> dict[str, list[Decimal]]:
    """``| 1,000 candidates | $0.076 | ... |`` rows of the page's LLM table: entity -> its figures."""
    rows = {}
    for line in PAGE.read_text().splitlines():
        m = re.match(r"\|\s*1,000 (candidates|jobs)\s*\|(.*)\|\s*$", line)
        if m:
            rows[m.group(1)] = [Decimal(c.strip().lstrip("$")) for c in m.group(2).split("|")]
    return rows


@pytest.fixture
def demo_state(talent_env: Path, db):
    """The demo records stored and processed by the three locations (local providers)."""
    from talent_platform.seed import generate
    from talent_shared.keys import LOCATIONS
    from talent_shared.testing import settle, store_records

    cands, jobs = generate(40, 12, seed=7)  # what `talent dev` lands
    store_records(db, "candidate", cands)
    store_records(db, "job", jobs)
    home = talent_env / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        defs = {
            location: importlib.reload(importlib.import_module(f"talent_{location}.definitions")).defs
            for location in LOCATIONS
        }
        settle(defs, instance)
        yield home


def test_llm_cost_per_1000_records_is_what_the_estimate_computes(demo_state: Path, monkeypatch) -> None:
    from talent_platform.cli import app
    from talent_shared.settings import get_settings

    page = _page_llm_rows()
    assert set(page) == set(ASSETS), "docs/costs.md needs a '| 1,000 candidates |' and a '| 1,000 jobs |' row"
    monkeypatch.setenv("DAGSTER_HOME", str(demo_state))
    monkeypatch.setenv("TALENT_LLM_PROVIDER", "openai")  # the production provider and models
    monkeypatch.setenv("TALENT_EMBEDDING_PROVIDER", "openai")
    get_settings.cache_clear()
    try:
        for entity, keys in ASSETS.items():
            out = CliRunner().invoke(
                app, ["cost", "estimate", "--new-records", "1000", "--entity", ENTITY[entity], "--json"]
            )
            assert out.exit_code == 0, out.output
            by_key = {a["asset_key"]: a for a in json.loads(out.stdout)["assets"]}
            methods = {key: by_key[key]["method"] for key in keys}
            assert all(m.startswith("offline tokens") for m in methods.values()), methods  # priced, not observed
            costs = [Decimal(str(by_key[k]["cost_usd"])) for k in keys]
            computed = [c.quantize(TENTH_OF_A_CENT, ROUND_HALF_UP) for c in [*costs, sum(costs)]]
            assert page[entity] == computed, f"1,000 {entity}: the page says {page[entity]}, the estimate {computed}"
    finally:
        monkeypatch.delenv("TALENT_LLM_PROVIDER")  # before reloading: monkeypatch restores only after the test
        monkeypatch.delenv("TALENT_EMBEDDING_PROVIDER")
        get_settings.cache_clear()
        from talent_platform.cost.estimate import deployed_graph

        deployed_graph(fresh=True)  # back to the local definitions for later tests


# -- the AWS bill -------------------------------------------------------------------------------

TERRAFORM = ROOT / "terraform"


def _literal(value):
    """python-hcl2 keeps string literals quoted (``'"m6i.large"'``): unquote them, in lists too."""
    if isinstance(value, list):
        return [_literal(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def _defaults(path: Path) -> dict:
    """Variable name -> its default, from a file of variable blocks."""
    with path.open() as handle:
        blocks = hcl2.load(handle)["variable"]
    return {_literal(name): _literal(body.get("default")) for block in blocks for name, body in block.items()}


def _tfvars(env: str) -> dict:
    """An environment's settings: its terraform.tfvars over the stack's defaults."""
    settings = _defaults(TERRAFORM / "stack" / "variables.tf")
    with (TERRAFORM / "envs" / env / "terraform.tfvars").open() as handle:
        settings.update({k: _literal(v) for k, v in hcl2.load(handle).items() if not k.startswith("__")})
    return settings


def _table_rows(heading: str) -> dict[str, list[str]]:
    """First cell -> the other cells, for the table whose header row starts with ``heading``."""
    lines = PAGE.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {heading} |"))
    rows = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        rows[cells[0]] = cells[1:]
    return rows


def test_the_aws_bill_names_the_sizes_terraform_sets() -> None:
    """The sizes the monthly figures are computed from are the environments' own."""
    sized = _table_rows("Sized")
    for column, env in enumerate(("dev", "prod")):
        v = _tfvars(env)
        capacity = "spot" if v["node_capacity_type"] == "SPOT" else "on-demand"
        (instance,) = v["node_instance_types"]
        nodes = f"{v['node_desired_size']} × {instance}, {capacity} ({v['node_min_size']}–{v['node_max_size']})"
        assert sized["Nodes (EKS managed node group)"][column] == nodes, env
        database = sized["PostgreSQL (RDS)"][column]
        az = "Multi-AZ" if v["db_multi_az"] else "single-AZ"
        assert database.startswith(f"{v['db_instance_class']}, {az}, "), (env, database)
        nat = 1 if v["single_nat_gateway"] else len(v["azs"])
        assert sized["NAT gateways"][column] == str(nat), env
    storage = _defaults(TERRAFORM / "modules" / "database" / "variables.tf")["allocated_storage"]
    assert all(cell.endswith(f", {storage} GiB gp3") for cell in sized["PostgreSQL (RDS)"])


def test_the_aws_totals_add_up() -> None:
    rows = _table_rows("Item, per month (730 h)")
    total = rows.pop("**Total**")
    for column in (0, 1):
        items = sum(int(cells[column].lstrip("$").replace(",", "")) for cells in rows.values())
        assert total[column] == f"**${items:,}**", (column, items)
