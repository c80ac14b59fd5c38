"""The cost exporter against a real (embedded) Postgres holding ledger rows."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from talent_platform.cost.exporter import LATENCY_BUCKETS, LedgerCollector, make_registry, serve
from talent_shared.db import connection, embedded

DEFAULT_BUDGET = 25.0
ALLOWED_LABELS = {"code_location", "asset", "provider", "model", "operation", "token_type", "status", "entity", "le"}


def scrape(collector: LedgerCollector) -> dict[tuple[str, frozenset], float]:
    """Every sample of one scrape, keyed by (sample name, labels)."""
    text = generate_latest(make_registry(collector)).decode()
    return parse(text)


def parse(text: str) -> dict[tuple[str, frozenset], float]:
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def named(samples: dict, name: str) -> dict[frozenset, float]:
    return {labels: value for (n, labels), value in samples.items() if n == name}


def key(**labels: str) -> frozenset:
    return frozenset(labels.items())


def http_get(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read().decode()


@pytest.fixture()
def collector(ledger_url: str, budgets: dict[str, float]) -> LedgerCollector:
    return LedgerCollector(ledger_url, budgets=lambda conn: budgets, default_budget=DEFAULT_BUDGET)


def ledger_expectations(url: str) -> dict[str, dict[frozenset, float]]:
    """What every counter should read, aggregated in Python from the rows themselves."""
    sums: dict[str, dict[frozenset, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    with connection.connect(url) as conn:
        rows = conn.execute(
            "SELECT code_location, asset_key, provider, model, operation, input_tokens, cached_tokens,"
            " output_tokens, cost_usd, priced, latency_ms, status, cache_hit, saved_usd,"
            " created_at >= date_trunc('day', now(), 'UTC') FROM talent.llm_usage"
        ).fetchall()
        records = conn.execute("SELECT entity FROM talent.raw_records").fetchall()
    assert rows, "the ledger is empty: fill_ledger() wrote nothing"
    for loc, asset, provider, model, op, inp, cached, out, cost, priced, latency, status, hit, saved, today in rows:
        labels = {
            "code_location": loc or "unknown",
            "asset": asset or "unknown",
            "provider": provider,
            "model": model,
            "operation": op,
        }
        base = frozenset(labels.items())
        sums["talent_llm_cost_usd_total"][base] += cost or 0
        for token_type, n in (("input", inp), ("cached", cached), ("output", out)):
            sums["talent_llm_tokens_total"][base | {("token_type", token_type)}] += n
        for s in ("ok", "error", "billed_error"):
            sums["talent_llm_requests_total"][base | {("status", s)}] += 1 if status == s else 0
        sums["talent_llm_cache_savings_usd_total"][base] += saved
        sums["talent_llm_cache_hits_total"][base] += 1 if hit else 0
        sums["talent_llm_unpriced_requests_total"][base] += 0 if priced else 1
        sums["talent_llm_request_duration_seconds_count"][base] += 1
        for bound in LATENCY_BUCKETS:
            le = {("le", repr(float(bound)))}
            sums["talent_llm_request_duration_seconds_bucket"][base | le] += 1 if latency <= bound * 1000 else 0
        sums["talent_llm_request_duration_seconds_bucket"][base | {("le", "+Inf")}] += 1
        sums["talent_llm_spend_today_usd"][key(code_location=labels["code_location"])] += (cost or 0) if today else 0
    for (entity,) in records:
        sums["talent_records_processed_total"][key(entity=entity)] += 1
    return {name: {labels: float(v) for labels, v in by.items()} for name, by in sums.items()}


def test_counters_equal_the_ledger(collector: LedgerCollector, ledger_url: str) -> None:
    samples = scrape(collector)
    expected = ledger_expectations(ledger_url)
    for name, by_labels in expected.items():
        # Exact equality: the exporter sums numerics in SQL and converts once, as Python does here.
        assert named(samples, name) == by_labels, name
    assert named(samples, "talent_exporter_scrape_errors_total") == {key(): 0.0}
    assert named(samples, "talent_exporter_db_up") == {key(): 1.0}


def test_known_rows(collector: LedgerCollector) -> None:
    """Literal values for the SQL rows of fill_ledger() batch 0 (replace with the real runs' figures)."""
    s = scrape(collector)
    gpt4o = dict(
        code_location="candidates", asset="normalized_candidates", provider="openai", model="gpt-4o", operation="chat"
    )
    vectors = dict(
        code_location="candidates",
        asset="candidate_vectors",
        provider="openai",
        model="text-embedding-3-small",
        operation="embeddings",
    )
    mini = dict(code_location="jobs", asset="normalized_jobs", provider="openai", model="gpt-4o-mini", operation="chat")
    preview = dict(
        code_location="matching", asset="matches", provider="openai", model="gpt-9-preview", operation="chat"
    )
    sensor = dict(
        code_location="unknown", asset="unknown", provider="local", model="all-minilm-l6-v2", operation="embeddings"
    )

    cost = named(s, "talent_llm_cost_usd_total")
    assert cost[key(**gpt4o)] == 0.35844  # 0.0035 + 0.00494 + 0.35 (yesterday)
    assert cost[key(**vectors)] == 0.00002
    assert cost[key(**mini)] == 0.00039  # the billed error counts, the plain error does not
    assert cost[key(**preview)] == 0.0  # unpriced: NULL cost, never a silent price
    assert cost[key(**sensor)] == 0.0

    tokens = named(s, "talent_llm_tokens_total")
    assert tokens[key(**gpt4o, token_type="input")] == 103000
    assert tokens[key(**gpt4o, token_type="cached")] == 1024
    assert tokens[key(**gpt4o, token_type="output")] == 10250

    requests = named(s, "talent_llm_requests_total")
    assert [requests[key(**mini, status=st)] for st in ("ok", "error", "billed_error")] == [1, 1, 1]
    assert requests[key(**gpt4o, status="error")] == 0  # initialised, so rate() sees a first error

    assert named(s, "talent_llm_unpriced_requests_total")[key(**preview)] == 1
    assert named(s, "talent_llm_cache_hits_total")[key(**vectors)] == 1
    assert named(s, "talent_llm_cache_savings_usd_total")[key(**vectors)] == 0.00002

    buckets = named(s, "talent_llm_request_duration_seconds_bucket")
    assert buckets[key(**mini, le="2.5")] == 1 and buckets[key(**mini, le="5.0")] == 3
    assert buckets[key(**preview, le="10.0")] == 0 and buckets[key(**preview, le="30.0")] == 1
    assert named(s, "talent_llm_request_duration_seconds_sum")[key(**mini)] == pytest.approx(9.7)
    assert named(s, "talent_llm_request_duration_seconds_count")[key(**gpt4o)] == 3

    assert named(s, "talent_llm_spend_today_usd") == {
        key(code_location="candidates"): 0.00846,  # yesterday's 0.35 excluded
        key(code_location="jobs"): 0.00039,
        key(code_location="matching"): 0.0,
        key(code_location="unknown"): 0.0,
    }
    assert named(s, "talent_llm_budget_usd") == {
        key(code_location="candidates"): 10.0,
        key(code_location="jobs"): 0.0001,
        key(code_location="matching"): 5.0,
        key(code_location="unknown"): DEFAULT_BUDGET,  # in the ledger, not in the budgets mapping
    }
    assert named(s, "talent_records_processed_total") == {key(entity="candidate"): 2, key(entity="job"): 1}
    assert named(s, "talent_llm_deploy_estimate_usd") == {
        key(code_location="candidates"): 2.0,
        key(code_location="jobs"): 1.0,
    }
    assert named(s, "talent_llm_deploy_actual_usd") == {key(code_location="candidates"): 1.5}


def test_no_forbidden_labels(collector: LedgerCollector, ledger_url: str) -> None:
    samples = scrape(collector)
    names = {label for (_, labels) in samples for label, _ in labels}
    assert names <= ALLOWED_LABELS, names - ALLOWED_LABELS
    with connection.connect(ledger_url) as conn:
        ids = {
            v
            for row in conn.execute("SELECT call_id, run_id, step_key, partition_key FROM talent.llm_usage").fetchall()
            for v in row
            if v
        } - {"normalized_candidates", "candidate_vectors", "normalized_jobs", "matches"}  # step keys = asset names here
        ids |= {r for (r,) in conn.execute("SELECT record_id FROM talent.raw_records").fetchall()}
    values = {value for (_, labels) in samples for _, value in labels}
    assert not values & ids


def test_served_metrics_pass_promtool(ledger_url: str, budgets: dict[str, float], promtool: str) -> None:
    server = serve(port=0, url=ledger_url, addr="127.0.0.1", budgets=lambda conn: budgets, block=False)
    try:
        status, text = http_get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.stop()
    assert status == 200 and "talent_llm_cost_usd_total{" in text
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr
    with pytest.raises(OSError):  # stopped means the port no longer answers
        http_get(f"http://127.0.0.1:{server.port}/metrics")


def test_estimates_table_is_optional(collector: LedgerCollector, ledger_url: str) -> None:
    with connection.connect(ledger_url) as conn:
        conn.execute("ALTER TABLE talent.cost_estimates RENAME TO cost_estimates_hidden")
    try:
        samples = scrape(collector)
    finally:
        with connection.connect(ledger_url) as conn:
            conn.execute("ALTER TABLE talent.cost_estimates_hidden RENAME TO cost_estimates")
    assert not named(samples, "talent_llm_deploy_estimate_usd")
    assert not named(samples, "talent_llm_deploy_actual_usd")
    assert named(samples, "talent_exporter_scrape_errors_total") == {key(): 0.0}
    assert named(samples, "talent_llm_cost_usd_total")


def test_survives_a_database_outage(pg: tuple[str, Path], ledger_url: str, budgets: dict[str, float]) -> None:
    _, pgdata = pg
    server = serve(port=0, url=ledger_url, addr="127.0.0.1", budgets=lambda conn: budgets, block=False)
    metrics = f"http://127.0.0.1:{server.port}/metrics"
    try:
        before = parse(http_get(metrics)[1])
        assert named(before, "talent_exporter_db_up") == {key(): 1.0}
        errors0 = named(before, "talent_exporter_scrape_errors_total")[key()]

        embedded.stop(pgdata)
        try:
            for n in (1, 2):
                status, text = http_get(metrics)
                down = parse(text)
                assert status == 200
                assert named(down, "talent_exporter_scrape_errors_total") == {key(): errors0 + n}
                assert named(down, "talent_exporter_db_up") == {key(): 0.0}
                assert not named(down, "talent_llm_cost_usd_total")  # stale, not frozen
        finally:
            embedded.start(pgdata)

        after = parse(http_get(metrics)[1])
        assert named(after, "talent_exporter_db_up") == {key(): 1.0}
        assert named(after, "talent_exporter_scrape_errors_total") == {key(): errors0 + 2}
        assert named(after, "talent_llm_cost_usd_total") == named(before, "talent_llm_cost_usd_total")
    finally:
        server.stop()


def test_blocking_serve_stops_on_sigterm(paths: dict[str, Path]) -> None:
    """What `talent cost exporter` runs: serve() blocks, answers even with no database, and exits
    cleanly on SIGTERM."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(
            [
                str(paths["root"] / "shared_lib" / "src"),
                str(paths["root"] / "tooling" / "src"),
                os.environ.get("PYTHONPATH", ""),
            ]
        ),
    }
    code = (
        "from talent_platform.cost.exporter import serve;"
        f"serve(port={port}, url='postgresql://nobody@127.0.0.1:1/none', addr='127.0.0.1', budgets=lambda conn: dict())"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                status, text = http_get(f"http://127.0.0.1:{port}/metrics")
                break
            except OSError:
                assert proc.poll() is None, proc.communicate()
                assert time.monotonic() < deadline, "the exporter never answered"
                time.sleep(0.1)
        assert status == 200
        samples = parse(text)
        assert named(samples, "talent_exporter_db_up") == {key(): 0.0}
        assert named(samples, "talent_exporter_scrape_errors_total") == {key(): 1.0}
        # Probes use /healthz: it answers without the database and does not count as a scrape.
        assert http_get(f"http://127.0.0.1:{port}/healthz") == (200, "ok\n")
        assert named(parse(http_get(f"http://127.0.0.1:{port}/metrics")[1]), "talent_exporter_scrape_errors_total") == {
            key(): 2.0
        }
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_default_budgets_come_from_settings(ledger_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from talent_shared.keys import LOCATIONS
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_DAILY_BUDGET_USD", "7.5")
    get_settings.cache_clear()
    try:
        samples = scrape(LedgerCollector(ledger_url))
    finally:
        monkeypatch.undo()
        get_settings.cache_clear()
    budgets = named(samples, "talent_llm_budget_usd")
    assert budgets == {key(code_location=loc): 7.5 for loc in (*LOCATIONS, "unknown")}
