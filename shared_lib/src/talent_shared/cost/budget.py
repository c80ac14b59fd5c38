"""Daily LLM budgets per code location, and the guards that keep work under them.

**Budget** of a location: its ``talent.llm_budgets`` row (raise it there at run time, no deploy
needed; ``talent cost budget <location> <usd>``), else the deployment's default ``TALENT_DAILY_BUDGET_USD``.
That is the one source: enforcement here, the exporter's ``talent_llm_budget_usd`` gauge and so
the alert rules built on it all read :func:`daily_budgets`. The day is the UTC day, as in the
exporter's spend-today gauge.

**Where work is gated, and why there.** An ``AutomationCondition`` cannot query the database, so:

1. *The ingestion sensor* (``ingest/sensor.py``) is where new work enters: it reports ``raw_*``
   materializations, which is what makes automation request the LLM assets. Before reporting
   pending records it projects their cost (pending x observed mean cost per record of the
   location's LLM assets, :func:`cost_per_record`) and reports only as many as the remaining budget
   covers; the rest stay behind the cursor and the tick's skip reason says why. They go out on a
   later tick when the UTC day turns or the budget is raised: nothing is lost or re-read.
2. *Inside each LLM asset* (:func:`preflight` plus the meter's hard cap): work that does not come
   through the sensor (a code-version bump re-running every partition, a manual backfill, the
   matches explanations) is checked before the first call (projected = partitions x mean cost
   per partition) and stopped as soon as the day's spend passes the budget. That step fails with a
   message saying so; calls already made are cached, so re-executing it after the day turns (or
   after raising the budget) pays only for the rest. Automation does not re-request a failed
   partition by itself, which is deliberate: a budget stop needs a human or the next day's
   estimate (``talent cost estimate``) to decide, not a retry loop.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from talent_shared.llm.meter import partition_count

if TYPE_CHECKING:
    from collections.abc import Mapping

    import dagster as dg
    import psycopg

    from talent_shared.llm.meter import Meter
    from talent_shared.prompts import Prompt

OBSERVATION_DAYS = 14
# A mean is taken over at most this many of the newest paid calls in the window: every step and
# every ingestion tick asks for one, so it must not cost what the ledger holds (a bulk load or a
# prompt bump writes a row per record).
SAMPLE_CALLS = 10_000


def next_reset(now: datetime | None = None) -> datetime:
    now = now or datetime.now(UTC)
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)


def daily_budgets(conn: psycopg.Connection, locations: tuple[str, ...] = ()) -> dict[str, Decimal]:
    """Daily budget per code location: every location with a ``talent.llm_budgets`` row, and each of
    ``locations`` (the deployment's default when it has no row)."""
    from talent_shared.settings import get_settings

    rows = {loc: Decimal(usd) for loc, usd in conn.execute("SELECT code_location, daily_usd FROM talent.llm_budgets")}
    default = Decimal(str(get_settings().daily_budget_usd))
    return {loc: rows.get(loc, default) for loc in sorted(set(rows) | set(locations))}


def daily_budget(conn: psycopg.Connection, location: str) -> Decimal:
    return daily_budgets(conn, (location,))[location]


def set_daily_budget(conn: psycopg.Connection, location: str, usd: Decimal) -> None:
    conn.execute(
        "INSERT INTO talent.llm_budgets (code_location, daily_usd) VALUES (%s, %s)"
        " ON CONFLICT (code_location) DO UPDATE SET daily_usd = EXCLUDED.daily_usd",
        (location, usd),
    )


def spent_today(conn: psycopg.Connection, location: str) -> Decimal:
    """The location's ledger cost of the UTC day: the total a trigger keeps per location and day
    (migration 0013), one row however many calls the day had."""
    (spent,) = conn.execute(  # type: ignore[misc]  # an aggregate always returns one row
        "SELECT coalesce(sum(cost_usd), 0) FROM talent.llm_spend_daily"
        " WHERE code_location = %s AND day = (now() AT TIME ZONE 'UTC')::date",
        (location,),
    ).fetchone()
    return Decimal(spent)


def _observations(
    location: str, asset_key: str, code_version: str | None, model: str | None, days: int
) -> tuple[list[str], list]:
    """The ledger rows an observed mean is taken over: paid calls of one asset in the window."""
    where = ["code_location = %s", "asset_key = %s", "NOT cache_hit", "created_at >= now() - make_interval(days => %s)"]
    params: list = [location, asset_key, days]
    if code_version is not None:
        where.append("code_version = %s")
        params.append(code_version)
    if model is not None:  # the configured model, or its dated snapshots (gpt-4o-mini-2024-07-18)
        where.append("(model = %s OR model LIKE %s)")
        params += [model, model + "-%"]
    return where, params


def observed_cost_per_partition(
    conn: psycopg.Connection,
    location: str,
    asset_key: str,
    *,
    code_version: str | None = None,
    model: str | None = None,
    days: int = OBSERVATION_DAYS,
) -> tuple[Decimal, int] | None:
    """Mean cost of materializing one partition of ``asset_key`` (cache hits excluded: new work has
    none), and how many partition-materializations it averages; ``None`` without observations.

    A partition materialized twice (two runs) counts twice, so a retried call's second bill is in the
    mean. Filters by ``code_version`` or by ``model`` when given. Takes the newest
    :data:`SAMPLE_CALLS` calls of the window (the ledger's asset index, read backwards).
    """
    where, params = _observations(location, asset_key, code_version, model, days)
    rows = conn.execute(
        "SELECT run_id, partition_key, coalesce(sum(cost_usd), 0) FROM"
        f" (SELECT run_id, partition_key, cost_usd FROM talent.llm_usage WHERE {' AND '.join(where)}"
        "  ORDER BY created_at DESC LIMIT %s) AS newest"
        " GROUP BY run_id, partition_key",
        [*params, SAMPLE_CALLS],
    ).fetchall()
    if not rows:
        return None
    # per run: the partitions its rows cover (a batch label counts all of them; the rows of an
    # unpartitioned asset's run count as one)
    labels_by_run: dict[str, set[str | None]] = {}
    total = Decimal(0)
    for run_id, label, cost in rows:
        total += Decimal(cost)
        labels_by_run.setdefault(run_id, set()).add(label)
    partitions = sum(
        sum(partition_count(label) if label is not None else 1 for label in labels) for labels in labels_by_run.values()
    )
    if partitions == 0:
        return None
    return total / partitions, partitions


def observed_cost_per_call(
    conn: psycopg.Connection,
    location: str,
    asset_key: str,
    *,
    code_version: str | None = None,
    model: str | None = None,
    days: int = OBSERVATION_DAYS,
) -> tuple[Decimal, int] | None:
    """Mean cost of one paid call of ``asset_key`` (for ``matches``: one explanation), over the
    newest :data:`SAMPLE_CALLS` of the window."""
    where, params = _observations(location, asset_key, code_version, model, days)
    total, calls = conn.execute(  # type: ignore[misc]  # an aggregate always returns one row
        "SELECT coalesce(sum(cost_usd), 0), count(*) FROM"
        f" (SELECT cost_usd FROM talent.llm_usage WHERE {' AND '.join(where)}"
        "  ORDER BY created_at DESC LIMIT %s) AS newest",
        [*params, SAMPLE_CALLS],
    ).fetchone()
    return (Decimal(total) / calls, int(calls)) if calls else None


def cost_per_record(
    conn: psycopg.Connection,
    location: str,
    sample_inputs: list[str] | None = None,
    llm_assets: list[tuple[str, str]] | None = None,
    prompts: Mapping[str, Prompt] | None = None,
) -> tuple[Decimal, str]:
    """Projected LLM cost of one new record in ``location``: the sum over its partitioned LLM assets
    (``llm_assets``: key and code version as deployed, which the location's pipeline knows) of the
    observed mean per partition at that code version (else any version); for an asset never
    observed, offline token counts of ``sample_inputs`` priced for the configured model."""
    from talent_shared.cost.offline import offline_cost_per_partition

    total = Decimal(0)
    how = []
    for asset_key, code_version in llm_assets or []:
        observed = observed_cost_per_partition(conn, location, asset_key, code_version=code_version)
        observed = observed or observed_cost_per_partition(conn, location, asset_key)
        if observed is not None:
            total += observed[0]
            how.append(f"{asset_key}: observed over {observed[1]}")
        else:
            total += offline_cost_per_partition(asset_key, sample_inputs or [], prompt=(prompts or {}).get(asset_key))
            how.append(f"{asset_key}: offline tokens")
    return total, "; ".join(how)


@dataclass(frozen=True)
class BudgetCheck:
    location: str
    budget: Decimal
    spent: Decimal
    projected: Decimal

    @property
    def remaining(self) -> Decimal:
        return self.budget - self.spent

    @property
    def ok(self) -> bool:
        return self.spent + self.projected <= self.budget

    def message(self, what: str) -> str:
        return (
            f"LLM budget: {what} projected ${self.projected:.4f} + spent today ${self.spent:.4f}"
            f" > daily budget ${self.budget:.4f} for {self.location}; held until {next_reset():%Y-%m-%d %H:%M} UTC"
            f" or until the budget is raised (talent cost budget {self.location} <usd>: talent.llm_budgets)"
        )


def check(conn: psycopg.Connection, location: str, projected: Decimal, committed: Decimal = Decimal(0)) -> BudgetCheck:
    """``committed``: cost already promised today but maybe not in the ledger yet; counts when larger."""
    return BudgetCheck(location, daily_budget(conn, location), max(spent_today(conn, location), committed), projected)


def affordable(
    conn: psycopg.Connection, location: str, per_record: Decimal, pending: int, committed: Decimal = Decimal(0)
) -> tuple[int, BudgetCheck]:
    """How many of ``pending`` records fit in what is left of today's budget."""
    status = check(conn, location, per_record * pending, committed)
    if status.ok or per_record <= 0:
        return pending, status
    room = max(status.remaining, Decimal(0))
    return min(pending, int(room // per_record)), status


def preflight(context: dg.AssetExecutionContext, meter: Meter, partitions: int) -> BudgetCheck:
    """Before an LLM asset's first call: fail fast if this step's projected cost does not fit, and arm
    the meter's hard cap with today's budget and spend."""
    import dagster as dg

    ctx = meter.context
    location = ctx.code_location or "unknown"
    conn = meter.conn
    observed = None
    if ctx.asset_key:
        observed = observed_cost_per_partition(conn, location, ctx.asset_key, code_version=ctx.code_version)
        observed = observed or observed_cost_per_partition(conn, location, ctx.asset_key)
    per = observed[0] if observed else Decimal(0)
    status = check(conn, location, per * max(partitions, 1))
    meter.budget_usd = status.budget
    meter.spent_before_usd = status.spent
    if not status.ok:
        raise dg.Failure(
            description=status.message(f"{ctx.asset_key} over {partitions} record(s)"),
            metadata={
                "budget_usd": float(status.budget),
                "spent_today_usd": float(status.spent),
                "projected_usd": float(status.projected),
            },
            allow_retries=False,
        )
    context.log.info(
        f"LLM budget {location}: spent ${status.spent:.4f} of ${status.budget:.4f} today;"
        f" this step projected ${status.projected:.4f}"
    )
    return status
