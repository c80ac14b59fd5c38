"""A real Prometheus scrapes the exporter; every dashboard query and every alert rule runs on it.

The ledger it reads is written by real pipeline runs (``pipeline_ledger`` in conftest.py): the
three code locations' assets materialized in-process with the local providers, then with the
OpenAI ones over recorded HTTP payloads, the deploy estimated and reconciled by ``talent cost
estimate``. A second batch of runs (new records) lands while Prometheus is scraping, so
``increase()``/``rate()`` see it.

Prometheus (Debian's package, `make tools`) is started here on a free loopback port with a
throw-away config and storage, and terminated in the fixture's teardown whatever happens.
"""

from __future__ import annotations

import json
import math
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from talent_platform.cost.exporter import ExporterServer, serve

SCRAPE_INTERVAL = "1s"
# Grafana's variables for a dashboard opened on the last 5 minutes: every window covers all the
# samples of this test, so increase()/rate() see the second batch.
DURATIONS = {"range_": "5m", "rate_interval": "1m", "interval": "1m"}


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Prometheus:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **params: Any) -> Any:
        query = urllib.parse.urlencode(params, doseq=True)
        with urllib.request.urlopen(f"{self.base}{path}?{query}", timeout=10) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict]:
        data = urllib.parse.urlencode({"query": expr}).encode()
        try:
            with urllib.request.urlopen(f"{self.base}/api/v1/query", data=data, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:  # 400 on a PromQL error: report Prometheus' message
            body = json.load(exc)
        if body.get("status") != "success":
            raise AssertionError(f"{expr!r}: {body.get('errorType')}: {body.get('error')}")
        result = body["data"]["result"]
        if body["data"]["resultType"] == "scalar":
            return [{"metric": {}, "value": result}]
        return result

    def value(self, expr: str) -> float | None:
        result = self.query(expr)
        return float(result[0]["value"][1]) if result else None


def wait_for(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def exporter(pipeline_ledger: Any, budgets: dict[str, float]) -> Iterator[ExporterServer]:
    server = serve(port=0, url=pipeline_ledger.url, addr="127.0.0.1", budgets=lambda conn: budgets, block=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def prometheus(
    prometheus_bin: str, exporter: ExporterServer, tmp_path_factory: pytest.TempPathFactory, paths: dict[str, Path]
) -> Iterator[Prometheus]:
    workdir = tmp_path_factory.mktemp("prometheus")
    config = workdir / "prometheus.yml"
    config.write_text(
        json.dumps(  # JSON is YAML
            {
                "global": {
                    "scrape_interval": SCRAPE_INTERVAL,
                    "scrape_timeout": SCRAPE_INTERVAL,
                    "evaluation_interval": SCRAPE_INTERVAL,
                },
                "rule_files": [str(paths["rules"])],
                "scrape_configs": [
                    {
                        "job_name": "talent-cost-exporter",
                        "static_configs": [{"targets": [f"127.0.0.1:{exporter.port}"]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    log = (workdir / "prometheus.log").open("w")
    proc = subprocess.Popen(
        [
            prometheus_bin,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        base = f"http://127.0.0.1:{port}"

        def ready() -> bool:
            if proc.poll() is not None:
                raise AssertionError(
                    f"prometheus exited ({proc.returncode}):\n{(workdir / 'prometheus.log').read_text()}"
                )
            try:
                with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as response:
                    return response.status == 200
            except OSError:
                return False

        wait_for("prometheus to be ready", ready, timeout=20)
        yield Prometheus(base)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def scraped(prometheus: Prometheus, pipeline_ledger: Any) -> Prometheus:
    """Prometheus holding a few scrapes of batch 0, then batch 1 on top (so counters increase)."""
    wait_for(
        "two scrapes of the ledger",
        lambda: (prometheus.value("min(count_over_time(talent_llm_cost_usd_total[5m]))") or 0) >= 2,
    )
    before = prometheus.value("sum(talent_llm_requests_total)")
    assert before
    pipeline_ledger.new_records()
    records = sum(len(ids) for ids in pipeline_ledger.records.values())
    wait_for(
        "the second batch to be scraped",
        lambda: (
            (prometheus.value("sum(talent_llm_requests_total)") or 0) > before
            and prometheus.value("sum(talent_records_processed_total)") == records
            and (prometheus.value('sum(talent_llm_unpriced_requests_total{code_location="matching"})') or 0) > 0
        ),
    )
    return prometheus


def test_every_panel_query_returns_data(scraped: Prometheus, panel_queries: list[dict], substitute) -> None:
    failures = []
    for q in panel_queries:
        expr = substitute(q["expr"], q["variables"], **DURATIONS)
        assert "$" not in expr, expr
        where = f"{q['dashboard']} / {q['panel']} / {q['ref']}: {expr}"
        try:
            result = scraped.query(expr)
        except AssertionError as exc:
            failures.append(f"{where}\n    error: {exc}")
            continue
        values = [float(r["value"][1]) for r in result]
        if not values:
            failures.append(f"{where}\n    no data")
        elif not any(math.isfinite(v) for v in values):
            failures.append(f"{where}\n    only NaN/Inf: {values}")
    assert not failures, f"{len(failures)} of {len(panel_queries)} panel queries failed:\n" + "\n".join(failures)


def test_variable_queries_return_values(scraped: Prometheus, panel_queries: list[dict]) -> None:
    variables = {name: v for q in panel_queries for name, v in q["variables"].items()}
    queries = [v for v in variables.values() if v.get("type") == "query"]
    assert queries
    for variable in queries:
        metric, label = variable["query"].removeprefix("label_values(").removesuffix(")").split(", ")
        values = scraped.get(f"/api/v1/label/{label}/values", **{"match[]": metric})
        assert {"candidates", "jobs", "matching"} <= set(values), (variable["name"], values)


def test_alert_rules_evaluate_on_real_data(scraped: Prometheus) -> None:
    def alerts() -> set[tuple[str, str, str]]:
        return {
            (a["labels"]["alertname"], a["labels"].get("code_location", ""), a["state"])
            for a in scraped.get("/api/v1/alerts")["alerts"]
        }

    # matching's explanations on gpt-9-preview (batch 1) are unpriced and new (no `for`); the jobs
    # location's OpenAI runs spent more than its 0.0001 USD budget (`for` pending).
    expected = {
        ("TalentLLMUnpricedCalls", "matching", "firing"),
        ("TalentLLMBudgetBurn", "jobs", "pending"),
        ("TalentLLMBudgetExceeded", "jobs", "pending"),
    }
    wait_for(f"alerts {sorted(expected)}", lambda: expected <= alerts(), timeout=15)
    assert {a for a in alerts() if a[1] in ("candidates", "matching") and a[0] != "TalentLLMUnpricedCalls"} == set()

    rules = [r for g in scraped.get("/api/v1/rules")["groups"] for r in g["rules"]]
    assert len(rules) == 8  # six on the LLM ledger, two on the reconcilers
    unhealthy = [(r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
    assert not unhealthy


def test_exporter_is_up(scraped: Prometheus) -> None:
    assert scraped.value('up{job="talent-cost-exporter"}') == 1
    assert scraped.value("max(talent_exporter_scrape_errors_total)") == 0
