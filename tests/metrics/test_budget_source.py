"""One budget source: raising a location's budget in ``talent.llm_budgets`` changes what is enforced,
the exporter's ``talent_llm_budget_usd`` gauge and, through it, the budget alerts, all at once.

The alert side is checked with promtool on the rule's own expression (read from the rule file)
fed with the values the exporter just served.
"""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from talent_platform.cost.exporter import LedgerCollector, make_registry
from talent_shared.db import connection

LOCATION = "candidates"


def _gauges(url: str) -> dict[str, float]:
    """This location's budget and spend-today gauges, as one scrape of the exporter serves them."""
    text = generate_latest(make_registry(LedgerCollector(url))).decode()
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in ("talent_llm_budget_usd", "talent_llm_spend_today_usd")
        and sample.labels.get("code_location") == LOCATION
    }


def _spend_today(url: str, usd: str) -> None:
    with connection.connect(url) as conn:
        conn.execute(
            "INSERT INTO talent.llm_usage (call_id, run_id, asset_key, partition_key, code_location, code_version,"
            " provider, model, operation, cost_usd, status) VALUES ('budget-1', 'r-budget', 'normalized_candidates',"
            " 'c-1', %s, 'v1', 'openai', 'gpt-4o-mini', 'chat', %s, 'ok')",
            (LOCATION, Decimal(usd)),
        )


def _exceeded_fires(promtool: str, rules: Path, tmp_path: Path, spend: float, budget: float) -> bool:
    """Does TalentLLMBudgetExceeded's expression select the location, given these two gauges?"""
    groups = yaml.safe_load(rules.read_text())["groups"]
    expr = next(r["expr"] for g in groups for r in g["rules"] if r.get("alert") == "TalentLLMBudgetExceeded")
    results = {}
    for fires in (True, False):
        test = {
            "evaluation_interval": "1m",
            "tests": [
                {
                    "interval": "1m",
                    "input_series": [
                        {
                            "series": f'talent_llm_spend_today_usd{{code_location="{LOCATION}"}}',
                            "values": f"{spend}x10",
                        },
                        {"series": f'talent_llm_budget_usd{{code_location="{LOCATION}"}}', "values": f"{budget}x10"},
                    ],
                    "promql_expr_test": [
                        {
                            "expr": expr,
                            "eval_time": "5m",
                            "exp_samples": [{"labels": f'{{code_location="{LOCATION}"}}', "value": spend}]
                            if fires
                            else [],
                        }
                    ],
                }
            ],
        }
        path = tmp_path / f"budget-{fires}.yaml"
        path.write_text(json.dumps(test))
        done = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=60)
        results[fires] = done.returncode == 0
    assert results[True] != results[False], results  # exactly one of the two expectations holds
    return results[True]


def test_raising_a_budget_in_the_table_moves_enforcement_gauge_and_alert(
    pg: tuple[str, Path], promtool: str, paths: dict[str, Path], tmp_path: Path
) -> None:
    from talent_shared.cost.budget import check, set_daily_budget

    url, _ = pg
    _spend_today(url, "0.50")
    for budget in ("0.25", "40"):
        with connection.connect(url) as conn:
            set_daily_budget(conn, LOCATION, Decimal(budget))
            enforced = check(conn, LOCATION, Decimal(0))
        served = _gauges(url)
        gauge, spend = served["talent_llm_budget_usd"], served["talent_llm_spend_today_usd"]
        assert gauge == float(enforced.budget) == float(budget)
        assert spend == float(enforced.spent) == 0.5
        assert enforced.ok is (budget == "40")
        assert _exceeded_fires(promtool, paths["rules"], tmp_path, spend, gauge) is (budget == "0.25")
