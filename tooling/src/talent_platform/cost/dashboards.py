"""Grafana dashboards as code (grafana-foundation-sdk), over the cost exporter's metrics.

``python -m talent_platform.cost.dashboards helm/platform/dashboards`` writes one JSON file per
dashboard; the generated files are committed and the Helm chart ships each as a ConfigMap labelled
``grafana_dashboard: "1"``. Never edit the JSON by hand: tests/metrics checks that it equals what
this module generates (``--check`` does the same from the command line).

Every panel queries Prometheus through the ``$datasource`` variable and filters on the
``$code_location`` variable. Spend over time is shown as a rate in USD per hour; totals over the
picked time range use ``increase(...[$__range])``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from grafana_foundation_sdk.builders import bargauge, gauge, stat, timeseries
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as models

DATASOURCE = models.DataSourceRef(type_val="prometheus", uid="${datasource}")
LOC = 'code_location=~"$code_location"'
TAGS = ["talent", "llm", "cost"]
ERROR_STATUSES = 'status=~"error|billed_error"'

USD = "currencyUSD"


def _target(expr: str, legend: str = "__auto", *, ref: str = "A", instant: bool = False) -> Dataquery:
    query = Dataquery().expr(expr).legend_format(legend).ref_id(ref)
    return query.instant() if instant else query.range()


def _thresholds(*steps: tuple[float | None, str]) -> dash.ThresholdsConfig:
    return (
        dash.ThresholdsConfig()
        .mode(models.ThresholdsMode.ABSOLUTE)
        .steps([models.Threshold(value=value, color=color) for value, color in steps])
    )


class _Ids:
    """Stable panel ids, in the order panels are added."""

    def __init__(self) -> None:
        self.next = 0

    def __call__(self) -> int:
        self.next += 1
        return self.next


def _stat(ids: _Ids, title: str, expr: str, *, unit: str, description: str, span: int = 4) -> stat.Panel:
    return (
        stat.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(4)
        .span(span)
        .graph_mode(common.BigValueGraphMode.NONE)
        .color_mode(common.BigValueColorMode.VALUE)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .with_target(_target(expr, instant=True))
    )


def _series(
    ids: _Ids,
    title: str,
    targets: list[Dataquery],
    *,
    unit: str,
    description: str,
    span: int = 12,
    stacked: bool = False,
) -> timeseries.Panel:
    panel = (
        timeseries.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(span)
        .fill_opacity(10)
        .legend(
            common_builders.VizLegendOptions()
            .display_mode(common.LegendDisplayMode.TABLE)
            .placement(common.LegendPlacement.BOTTOM)
            .show_legend(True)
            .calcs(["mean", "lastNotNull"])
        )
    )
    if stacked:
        panel = panel.stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
    for target in targets:
        panel = panel.with_target(target)
    return panel


def _bars(
    ids: _Ids, title: str, targets: list[Dataquery], *, unit: str, description: str, span: int = 12
) -> bargauge.Panel:
    panel = (
        bargauge.Panel()
        .id(ids())
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .height(8)
        .span(span)
        .display_mode(common.BarGaugeDisplayMode.BASIC)
        .orientation(common.VizOrientation.HORIZONTAL)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    )
    for target in targets:
        panel = panel.with_target(target)
    return panel


def _variables(board: dash.Dashboard) -> dash.Dashboard:
    return board.with_variable(
        dash.DatasourceVariable("datasource").label("Data source").type("prometheus")
    ).with_variable(
        dash.QueryVariable("code_location")
        .label("Code location")
        .datasource(DATASOURCE)
        .query("label_values(talent_llm_cost_usd_total, code_location)")
        .refresh(models.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(models.VariableSort.ALPHABETICAL_ASC)
        .multi(True)
        .include_all(True)
        .all_value(".*")
        .current(models.VariableOption(selected=True, text="All", value="$__all"))
    )


def llm_cost() -> models.Dashboard:
    """Spend: totals, over time by location / asset / model, per record, budgets, deploys."""
    ids = _Ids()
    spend_range = f"sum(increase(talent_llm_cost_usd_total{{{LOC}}}[$__range]))"
    board = (
        dash.Dashboard("Talent: LLM cost")
        .uid("talent-llm-cost")
        .description("LLM and embedding spend from the usage ledger (talent.llm_usage) via the cost exporter.")
        .tags(TAGS)
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("utc")
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .readonly()
    )
    board = _variables(board)
    board = (
        board.with_row(dash.Row("Overview").id(ids()))
        .with_panel(_stat(ids, "Spend", spend_range, unit=USD, description="LLM spend over the selected time range."))
        .with_panel(
            _stat(
                ids,
                "Spend today (UTC)",
                f"sum(talent_llm_spend_today_usd{{{LOC}}})",
                unit=USD,
                description="Spend since 00:00 UTC, the period the daily budgets cover.",
            )
        )
        .with_panel(
            _stat(
                ids,
                "Cost per processed record",
                f"{spend_range} / sum(increase(talent_records_processed_total[$__range]))",
                unit=USD,
                description="Spend divided by raw records (candidates and jobs) stored over the range.",
            )
        )
        .with_panel(
            _stat(
                ids,
                "Cache savings",
                f"sum(increase(talent_llm_cache_savings_usd_total{{{LOC}}}[$__range]))",
                unit=USD,
                description="Spend avoided because responses came from the LLM cache.",
            )
        )
        .with_panel(
            _stat(
                ids,
                "Tokens",
                f'sum(increase(talent_llm_tokens_total{{{LOC},token_type=~"input|output"}}[$__range]))',
                unit="short",
                description="Input plus output tokens over the range (cached tokens are part of input).",
            )
        )
        .with_panel(
            _stat(
                ids,
                "Unpriced calls",
                f"sum(increase(talent_llm_unpriced_requests_total{{{LOC}}}[$__range]))",
                unit="short",
                description="Calls genai-prices could not price: their cost is missing from every total here.",
            ).thresholds(_thresholds((None, "green"), (1, "red")))
        )
        .with_row(dash.Row("Spend over time").id(ids()))
        .with_panel(
            _series(
                ids,
                "Spend by code location",
                [
                    _target(
                        f"sum by (code_location) (rate(talent_llm_cost_usd_total{{{LOC}}}[$__rate_interval])) * 3600",
                        "{{code_location}}",
                    )
                ],
                unit="currencyUSD",
                description="USD per hour.",
                span=8,
                stacked=True,
            )
        )
        .with_panel(
            _series(
                ids,
                "Spend by asset",
                [
                    _target(
                        f"sum by (asset) (rate(talent_llm_cost_usd_total{{{LOC}}}[$__rate_interval])) * 3600",
                        "{{asset}}",
                    )
                ],
                unit="currencyUSD",
                description="USD per hour.",
                span=8,
                stacked=True,
            )
        )
        .with_panel(
            _series(
                ids,
                "Spend by model",
                [
                    _target(
                        f"sum by (provider, model) (rate(talent_llm_cost_usd_total{{{LOC}}}[$__rate_interval])) * 3600",
                        "{{provider}}/{{model}}",
                    )
                ],
                unit="currencyUSD",
                description="USD per hour.",
                span=8,
                stacked=True,
            )
        )
        .with_panel(
            _bars(
                ids,
                "Top assets by spend",
                [
                    _target(
                        f"topk(10, sum by (asset) (increase(talent_llm_cost_usd_total{{{LOC}}}[$__range])))",
                        "{{asset}}",
                        instant=True,
                    )
                ],
                unit=USD,
                description="The ten most expensive assets over the selected range.",
            )
        )
        .with_panel(
            _bars(
                ids,
                "Top models by spend",
                [
                    _target(
                        f"topk(10, sum by (provider, model) (increase(talent_llm_cost_usd_total{{{LOC}}}[$__range])))",
                        "{{provider}}/{{model}}",
                        instant=True,
                    )
                ],
                unit=USD,
                description="The ten most expensive models over the selected range.",
            )
        )
        .with_row(dash.Row("Efficiency").id(ids()))
        .with_panel(
            _series(
                ids,
                "Cost per processed record",
                [
                    _target(
                        f"sum(rate(talent_llm_cost_usd_total{{{LOC}}}[$__rate_interval])) "
                        "/ sum(rate(talent_records_processed_total[$__rate_interval]))",
                        "all locations per record",
                        ref="A",
                    ),
                    _target(
                        'sum(rate(talent_llm_cost_usd_total{code_location="candidates"}[$__rate_interval])) '
                        '/ sum(rate(talent_records_processed_total{entity="candidate"}[$__rate_interval]))',
                        "candidates per candidate",
                        ref="B",
                    ),
                    _target(
                        'sum(rate(talent_llm_cost_usd_total{code_location="jobs"}[$__rate_interval])) '
                        '/ sum(rate(talent_records_processed_total{entity="job"}[$__rate_interval]))',
                        "jobs per job",
                        ref="C",
                    ),
                ],
                unit=USD,
                description="USD spent per raw record stored; empty while no records arrive.",
                span=8,
            )
        )
        .with_panel(
            _series(
                ids,
                "Tokens by type",
                [
                    _target(
                        f"sum by (token_type) (rate(talent_llm_tokens_total{{{LOC}}}[$__rate_interval])) * 3600",
                        "{{token_type}}",
                    )
                ],
                unit="short",
                description="Tokens per hour. Cached tokens are the part of input served from the provider's prompt cache.",
                span=8,
            )
        )
        .with_panel(
            _series(
                ids,
                "Cache savings",
                [
                    _target(
                        "sum by (code_location) "
                        f"(rate(talent_llm_cache_savings_usd_total{{{LOC}}}[$__rate_interval])) * 3600",
                        "{{code_location}} saved",
                        ref="A",
                    ),
                    _target(
                        f"sum(rate(talent_llm_cache_hits_total{{{LOC}}}[$__rate_interval])) "
                        f"/ sum(rate(talent_llm_requests_total{{{LOC}}}[$__rate_interval]))",
                        "hit ratio",
                        ref="B",
                    ),
                ],
                unit="currencyUSD",
                description="USD per hour not spent thanks to the LLM response cache, and the cache hit ratio.",
                span=8,
            ).override_by_name("hit ratio", [models.DynamicConfigValue(id_val="unit", value="percentunit")])
        )
        .with_row(dash.Row("Budgets").id(ids()))
        .with_panel(
            gauge.Panel()
            .id(ids())
            .title("Budget burn today")
            .description("Spend since 00:00 UTC as a share of each location's daily budget.")
            .datasource(DATASOURCE)
            .unit("percentunit")
            .min(0)
            .max(1)
            .height(8)
            .span(8)
            .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
            .thresholds(_thresholds((None, "green"), (0.8, "orange"), (1, "red")))
            .with_target(
                _target(
                    f"max by (code_location) (talent_llm_spend_today_usd{{{LOC}}}) "
                    f"/ max by (code_location) (talent_llm_budget_usd{{{LOC}}} > 0)",
                    "{{code_location}}",
                    instant=True,
                )
            )
        )
        .with_panel(
            _series(
                ids,
                "Spend today vs budget",
                [
                    _target(
                        f"max by (code_location) (talent_llm_spend_today_usd{{{LOC}}})",
                        "{{code_location}} spent",
                        ref="A",
                    ),
                    _target(
                        f"max by (code_location) (talent_llm_budget_usd{{{LOC}}})",
                        "{{code_location}} budget",
                        ref="B",
                    ),
                ],
                unit=USD,
                description="Spend since 00:00 UTC against the daily budget (alert at 80%).",
                span=16,
            )
        )
        .with_row(dash.Row("Deploys").id(ids()))
        .with_panel(
            _bars(
                ids,
                "Last deploy: estimated vs actual cost",
                [
                    _target(
                        f"max by (code_location) (talent_llm_deploy_estimate_usd{{{LOC}}})",
                        "{{code_location}} estimate",
                        ref="A",
                        instant=True,
                    ),
                    _target(
                        f"max by (code_location) (talent_llm_deploy_actual_usd{{{LOC}}})",
                        "{{code_location}} actual",
                        ref="B",
                        instant=True,
                    ),
                ],
                unit=USD,
                description="The pre-deploy estimate (talent.cost_estimates) next to what the re-materialisation cost.",
            )
        )
        .with_panel(
            _stat(
                ids,
                "Last deploy: actual / estimate",
                f"max by (code_location) (talent_llm_deploy_actual_usd{{{LOC}}}) "
                f"/ max by (code_location) (talent_llm_deploy_estimate_usd{{{LOC}}} > 0)",
                unit="percentunit",
                description="Above 100% the deploy cost more than estimated.",
                span=12,
            ).thresholds(_thresholds((None, "green"), (1.2, "orange"), (2, "red")))
        )
    )
    return board.build()


def llm_operations() -> models.Dashboard:
    """Calls: throughput and errors, latency, unpriced calls, and the exporter's own health."""
    ids = _Ids()
    board = (
        dash.Dashboard("Talent: LLM operations")
        .uid("talent-llm-operations")
        .description("LLM call volume, errors and latency from the usage ledger, and the cost exporter's health.")
        .tags(TAGS)
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("utc")
        .tooltip(models.DashboardCursorSync.CROSSHAIR)
        .readonly()
    )
    board = _variables(board)
    board = (
        board.with_row(dash.Row("Calls").id(ids()))
        .with_panel(
            _series(
                ids,
                "Calls by status",
                [
                    _target(
                        f"sum by (status) (rate(talent_llm_requests_total{{{LOC}}}[$__rate_interval]))",
                        "{{status}}",
                    )
                ],
                unit="reqps",
                description="ok, error (not billed) and billed_error (the provider charged for a failed call).",
                stacked=True,
            )
        )
        .with_panel(
            _series(
                ids,
                "Error ratio by model",
                [
                    _target(
                        f"sum by (provider, model) (rate(talent_llm_requests_total{{{LOC},{ERROR_STATUSES}}}[$__rate_interval])) "
                        f"/ sum by (provider, model) (rate(talent_llm_requests_total{{{LOC}}}[$__rate_interval]))",
                        "{{provider}}/{{model}}",
                    )
                ],
                unit="percentunit",
                description="Failed calls as a share of all calls (alert above 10% over 10 minutes).",
            )
        )
        .with_panel(
            _series(
                ids,
                "Latency by model",
                [
                    _target(
                        "histogram_quantile(0.5, sum by (le, provider, model) "
                        f"(rate(talent_llm_request_duration_seconds_bucket{{{LOC}}}[$__rate_interval])))",
                        "p50 {{provider}}/{{model}}",
                        ref="A",
                    ),
                    _target(
                        "histogram_quantile(0.95, sum by (le, provider, model) "
                        f"(rate(talent_llm_request_duration_seconds_bucket{{{LOC}}}[$__rate_interval])))",
                        "p95 {{provider}}/{{model}}",
                        ref="B",
                    ),
                ],
                unit="s",
                description="Call latency recorded in the ledger (cache hits included).",
            )
        )
        .with_panel(
            _series(
                ids,
                "Mean latency by operation",
                [
                    _target(
                        "sum by (operation) "
                        f"(rate(talent_llm_request_duration_seconds_sum{{{LOC}}}[$__rate_interval])) "
                        "/ sum by (operation) "
                        f"(rate(talent_llm_request_duration_seconds_count{{{LOC}}}[$__rate_interval]))",
                        "{{operation}}",
                    )
                ],
                unit="s",
                description="Mean call latency, chat vs embeddings.",
            )
        )
        .with_panel(
            _series(
                ids,
                "Unpriced calls by model",
                [
                    _target(
                        "sum by (provider, model) "
                        f"(increase(talent_llm_unpriced_requests_total{{{LOC}}}[$__interval]))",
                        "{{provider}}/{{model}}",
                    )
                ],
                unit="short",
                description="Calls whose cost is unknown to genai-prices (recorded with cost NULL).",
            )
        )
        .with_panel(
            _series(
                ids,
                "Records processed",
                [
                    _target(
                        "sum by (entity) (rate(talent_records_processed_total[$__rate_interval])) * 3600", "{{entity}}"
                    )
                ],
                unit="short",
                description="Raw records stored per hour, by entity (the denominator of cost per record).",
            )
        )
        .with_row(dash.Row("Cost exporter").id(ids()))
        .with_panel(
            _stat(
                ids,
                "Database reachable",
                "min(talent_exporter_db_up)",
                unit="bool_yes_no",
                description="Whether the exporter's last scrape reached the ledger database.",
                span=6,
            ).thresholds(_thresholds((None, "red"), (1, "green")))
        )
        .with_panel(
            _stat(
                ids,
                "Scrape errors",
                "sum(increase(talent_exporter_scrape_errors_total[$__range]))",
                unit="short",
                description="Scrapes in which a ledger query failed, over the selected range.",
                span=6,
            ).thresholds(_thresholds((None, "green"), (1, "red")))
        )
        .with_panel(
            _stat(
                ids,
                "Last successful scrape",
                "time() - max(talent_exporter_last_success_timestamp_seconds)",
                unit="s",
                description="Seconds since every ledger query last succeeded.",
                span=6,
            )
        )
        .with_panel(
            _stat(
                ids,
                "Scrape duration",
                "max(talent_exporter_scrape_duration_seconds)",
                unit="s",
                description="Time the last scrape spent in the ledger queries (the scrape timeout must exceed it).",
                span=6,
            )
        )
    )
    return board.build()


DASHBOARDS: dict[str, Callable[[], models.Dashboard]] = {
    "talent-llm-cost.json": llm_cost,
    "talent-llm-operations.json": llm_operations,
}


def render(name: str) -> str:
    """The JSON text of one dashboard, byte-for-byte what is committed."""
    return json.dumps(DASHBOARDS[name](), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name in DASHBOARDS:
        path = directory / name
        path.write_text(render(name), encoding="utf-8")
        written.append(path)
    return written


def stale(directory: Path) -> list[str]:
    """Dashboards whose file under ``directory`` is missing or differs from the generated JSON."""
    out = []
    for name in DASHBOARDS:
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != render(name):
            out.append(name)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m talent_platform.cost.dashboards", description=__doc__.splitlines()[0]
    )
    parser.add_argument("directory", type=Path, help="where to write the dashboard JSON (helm/platform/dashboards)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a committed file is stale")
    args = parser.parse_args(argv)
    if args.check:
        bad = stale(args.directory)
        for name in bad:
            print(
                f"stale: {args.directory / name} (regenerate with python -m talent_platform.cost.dashboards)",
                file=sys.stderr,
            )
        return 1 if bad else 0
    for path in write(args.directory):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
