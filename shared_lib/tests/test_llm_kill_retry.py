"""Killing a run mid-way and retrying it leaves the ledger (and the exporter's counters) equal to the
calls actually made: nothing lost, nothing counted twice.

The run executes in a child process that is SIGKILLed (no handler runs) just before the provider
would answer call N+1. The retry is a new run over the same batch, as a re-execution from
failure would be. The provider is the official ``openai`` client on recorded payloads; the replay
log is the provider's side of the story (what it answered, hence billed).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import dagster as dg
import genai_prices

from talent_shared.testing import store_records

FIXTURES = Path(__file__).parent / "fixtures"
N_RECORDS, KILL_AFTER = 6, 2


def _run(home: Path, log: Path, kill_after: int, ids: list[str], env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(FIXTURES / "kill_run.py"), str(home), str(log), str(kill_after), "b000000", "b000000"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_kill_mid_run_then_retry_counts_every_billed_call_once(talent_env: Path, db, pg_url: str) -> None:
    from talent_platform.cost.exporter import LedgerCollector

    ids = store_records(
        db,
        "candidate",
        [
            {"id": f"c-{i}", "name": f"N{i}", "resume_text": f"ICU nurse number {i}, {i + 2} years of triage."}
            for i in range(N_RECORDS)
        ],
    )
    home = talent_env / "dagster"
    home.mkdir()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("candidate_batches", ["b000000"])  # the six records' batch
    log = talent_env / "openai-requests.jsonl"
    env = {**os.environ, "TALENT_LLM_PROVIDER": "openai", "OPENAI_API_KEY": "sk-test", "DAGSTER_HOME": str(home)}

    killed = _run(home, log, KILL_AFTER, ids, env)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    answered = log.read_text().splitlines()
    assert len(answered) == KILL_AFTER
    rows = db.execute(
        "SELECT run_id, status, cache_hit, cost_usd, partition_key FROM talent.llm_usage ORDER BY created_at"
    ).fetchall()
    assert [(s, hit, p) for _, s, hit, _, p in rows] == [("ok", False, "c-0"), ("ok", False, "c-1")]
    killed_run = rows[0][0]
    with dg.DagsterInstance.from_config(str(home)) as instance:
        run = instance.get_run_by_id(killed_run)
        assert run is not None and run.status == dg.DagsterRunStatus.STARTED  # really killed, not failed
        instance.report_run_failed(run)  # what run monitoring does with a dead run worker

    retried = _run(home, log, 0, ids, env)
    assert retried.returncode == 0 and retried.stdout.strip().endswith("True"), retried.stderr[-2000:]

    answered = [json.loads(line) for line in log.read_text().splitlines()]
    body = json.loads((FIXTURES / "openai" / "chat_completion_profile.json").read_text())
    u = body["usage"]
    per_call = genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=u["prompt_tokens"],
            cache_read_tokens=u["prompt_tokens_details"]["cached_tokens"],
            output_tokens=u["completion_tokens"],
        ),
        model_ref=body["model"],
        provider_id="openai",
    ).total_price
    # the provider answered each record exactly once: the retry got the first two from the cache
    assert len(answered) == N_RECORDS
    billed = db.execute(
        "SELECT count(*), sum(cost_usd), count(DISTINCT partition_key) FROM talent.llm_usage WHERE NOT cache_hit"
    ).fetchone()
    assert billed == (N_RECORDS, per_call * N_RECORDS, N_RECORDS)
    hits = db.execute("SELECT count(*), sum(cost_usd), sum(saved_usd) FROM talent.llm_usage WHERE cache_hit").fetchone()
    assert hits == (KILL_AFTER, Decimal(0), per_call * KILL_AFTER)
    assert db.execute("SELECT count(DISTINCT run_id) FROM talent.llm_usage").fetchone()[0] == 2
    assert db.execute("SELECT count(*) FROM talent.profiles").fetchone()[0] == N_RECORDS

    # the exporter's counters are the ledger's sums: cost = calls billed, requests = rows
    families = {f.name: f for f in LedgerCollector(pg_url).collect()}
    cost = sum(s.value for s in families["talent_llm_cost_usd"].samples if s.name.endswith("_total"))
    assert abs(cost - float(per_call * N_RECORDS)) < 1e-12
    requests = sum(s.value for s in families["talent_llm_requests"].samples if s.name.endswith("_total"))
    assert requests == N_RECORDS + KILL_AFTER

    # the retried run's materialization carries its own usage; the run carries its total
    with dg.DagsterInstance.from_config(str(home)) as instance:
        event = instance.get_latest_materialization_event(dg.AssetKey("normalized_candidates"))
        assert event is not None and event.asset_materialization is not None
        meta = event.asset_materialization.metadata
        assert meta["llm_calls"].value == N_RECORDS and meta["llm_cache_hits"].value == KILL_AFTER
        assert abs(meta["llm_cost_usd"].value - float(per_call * (N_RECORDS - KILL_AFTER))) < 1e-12
        assert abs(meta["llm_saved_usd"].value - float(per_call * KILL_AFTER)) < 1e-12
        retry_run = instance.get_run_by_id(event.run_id)
        assert Decimal(retry_run.tags["talent/llm_cost_usd"]) == round(per_call * (N_RECORDS - KILL_AFTER), 6)
