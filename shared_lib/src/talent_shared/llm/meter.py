"""The LLM usage ledger writer: one ``talent.llm_usage`` row per call, idempotent per call.

A :class:`MeterContext` says *where* a call happens (run, step, asset, partitions, code location,
code version, attempt); asset bodies build it with :meth:`MeterContext.from_asset` from their
``AssetExecutionContext``. A :class:`Meter` holds one context for one step execution and writes the
rows, on its own autocommit connection so a step that fails (and rolls its data back) keeps the
record of the calls it paid for.

**What "the same call" is.** ``call_id = sha256(run_id, step_key, asset_key, attempt, seq,
input_hash)`` where ``seq`` counts calls within the step execution and ``attempt`` is Dagster's
step retry number. Rows are inserted with ``ON CONFLICT (call_id) DO NOTHING``:

* a step *resumed* in the same run and attempt (run-worker restart under run monitoring) replays the
  same ids: its calls are answered from the response cache, which the first execution filled in
  the same transaction as the ledger row, so the replay inserts nothing and nothing counts twice
  (free local calls, uncached, likewise). A *paid* call with the cache turned off cannot be answered
  on a replay, so its id also carries a per-execution nonce: paid again, counted again;
* a step *retry* (new attempt) or a *re-executed run* (new run id) gets new ids. A call it sends to
  the provider again was billed again and is counted again; a call the cache answers is a
  ``cache_hit`` row with cost 0 and ``saved_usd`` the original price.

One window remains: a process killed after the provider answered but before the ledger/cache
transaction committed (milliseconds) loses that one billed call. A write-ahead row would close it
but make the exporter's status counters non-monotonic; we accept the window.

**Partition of a batch call.** A call made for one partition records its key. A call covering many
partitions (an embedding batch) records them as a comma list; above 200 characters it is truncated
to ``first,...,last (+K more, N total)`` (see :func:`partition_label`; :func:`partition_count` reads
the count back for per-partition averages).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from talent_shared.llm.pricing import Overrides, Price, load_overrides, price
from talent_shared.providers.base import Usage

if TYPE_CHECKING:
    import dagster as dg
    import psycopg

log = logging.getLogger(__name__)

STATUS_OK = "ok"
STATUS_ERROR = "error"
STATUS_BILLED_ERROR = "billed_error"
PARTITION_LABEL_MAX = 200
RUN_COST_TAG = "talent/llm_cost_usd"
RUN_CALLS_TAG = "talent/llm_calls"


def partition_label(keys: Sequence[str] | None) -> str | None:
    if not keys:
        return None
    keys = list(keys)
    if len(keys) == 1:
        return keys[0]
    full = ",".join(keys)
    if len(full) <= PARTITION_LABEL_MAX:
        return full
    head: list[str] = []
    for key in keys[:-1]:
        if len(",".join([*head, key])) > PARTITION_LABEL_MAX - 60:
            break
        head.append(key)
    more = len(keys) - len(head) - 1
    return f"{','.join(head)},...,{keys[-1]} (+{more} more, {len(keys)} total)"


def partition_count(label: str | None) -> int:
    """How many partitions a ledger ``partition_key`` covers (inverse of :func:`partition_label`)."""
    if not label:
        return 0
    if label.endswith(" total)"):
        return int(label.rsplit(", ", 1)[1].split(" ", 1)[0])
    return label.count(",") + 1


def input_hash(request: Any) -> str:
    return hashlib.sha256(json.dumps(request, sort_keys=True, default=str).encode()).hexdigest()


@dataclass(frozen=True)
class MeterContext:
    """Where calls happen. ``run_id`` None means outside Dagster (CLI, tests): an ad-hoc id is made."""

    run_id: str | None = None
    step_key: str | None = None
    asset_key: str | None = None
    partitions: tuple[str, ...] = ()
    code_location: str | None = None
    code_version: str | None = None
    attempt: int = 0

    @classmethod
    def from_asset(cls, context: dg.AssetExecutionContext) -> MeterContext:
        key = context.asset_key
        run = context.run
        location = None
        origin = getattr(run, "remote_job_origin", None)
        if origin is not None:
            location = origin.location_name
        location = location or run.tags.get("dagster/code_location")
        if not location:
            from talent_shared.keys import owner_of

            try:
                location = owner_of(key)
            except KeyError:
                location = context.repository_def.name
        try:
            partitions: tuple[str, ...] = (
                tuple(context.partition_keys) if context.has_partition_key_range or context.has_partition_key else ()
            )
        except Exception:
            partitions = ()
        step_key = context.op_execution_context.get_step_execution_context().step.key
        return cls(
            run_id=context.run_id,
            step_key=step_key,
            asset_key=key.to_user_string(),
            partitions=partitions,
            code_location=location,
            code_version=context.assets_def.code_versions_by_key.get(key),
            attempt=int(context.retry_number or 0),
        )

    def with_run_id(self) -> MeterContext:
        return self if self.run_id else replace(self, run_id=f"adhoc-{uuid.uuid4()}")


@dataclass
class Totals:
    calls: int = 0
    input_tokens: int = 0
    cached_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)
    saved_usd: Decimal = Decimal(0)
    cache_hits: int = 0
    errors: int = 0
    billed_errors: int = 0
    unpriced: int = 0
    models: set[str] = field(default_factory=set)
    inserted: int = 0


@dataclass(frozen=True)
class LedgerRow:
    call_id: str
    usage: Usage
    price: Price
    status: str
    cache_hit: bool
    saved_usd: Decimal
    latency_ms: float
    partition: str | None
    inserted: bool


class BudgetExceeded(RuntimeError):
    pass


class Meter:
    """Writes ledger rows for one step execution (or one ad-hoc session) and keeps its totals.

    ``url`` opens a private autocommit connection (what asset bodies use); ``conn`` reuses the
    caller's connection and transaction (ad-hoc use, tests). ``budget_usd``/``spent_before_usd`` make
    the meter stop the step with :class:`BudgetExceeded` as soon as what it spent pushes the day's
    spend over the budget (a hard cap in addition to the pre-flight check in ``cost.budget``).
    """

    def __init__(
        self,
        context: MeterContext | None = None,
        *,
        url: str | None = None,
        conn: psycopg.Connection | None = None,
        budget_usd: Decimal | None = None,
        spent_before_usd: Decimal = Decimal(0),
    ) -> None:
        self.context = (context or MeterContext()).with_run_id()
        self._own = conn is None
        if conn is None:
            import psycopg

            from talent_shared.db.connection import SEARCH_PATH, database_url

            conn = psycopg.connect(url or database_url(), autocommit=True, options=SEARCH_PATH)
        self.conn = conn
        self.seq = 0
        self.totals = Totals()
        self.budget_usd = budget_usd
        self.spent_before_usd = spent_before_usd
        self._overrides: Overrides | None = None
        self.nonce = uuid.uuid4().hex

    @classmethod
    def for_asset(cls, context: dg.AssetExecutionContext, **kwargs: Any) -> Meter:
        return cls(MeterContext.from_asset(context), **kwargs)

    # -- lifecycle ---------------------------------------------------------------------------

    def close(self) -> None:
        if self._own and not self.conn.closed:
            self.conn.close()

    def __enter__(self) -> Meter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self):
        """Ledger row and cache entry commit together (see the module doc)."""
        with self.conn.transaction():
            yield self.conn

    # -- recording ---------------------------------------------------------------------------

    @property
    def overrides(self) -> Overrides:
        if self._overrides is None:
            self._overrides = load_overrides(self.conn)
        return self._overrides

    def next_call_id(self, request_hash: str, *, unique: bool = False) -> str:
        """The call's ledger key. ``unique`` adds this execution's nonce: for a paid call the cache
        cannot answer on a replay (cache off), a resumed step really pays again and must count again."""
        ctx = self.context
        self.seq += 1
        parts = [
            ctx.run_id or "",
            ctx.step_key or "",
            ctx.asset_key or "",
            str(ctx.attempt),
            str(self.seq),
            request_hash,
        ]
        if unique:
            parts.append(self.nonce)
        return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()

    def price(self, usage: Usage, at: datetime | None = None) -> Price:
        return price(usage, overrides=self.overrides, at=at)

    def record(
        self,
        call_id: str,
        usage: Usage,
        *,
        status: str = STATUS_OK,
        latency_ms: float = 0.0,
        partitions: Sequence[str] | None = None,
        cache_hit: bool = False,
        saved_usd: Decimal = Decimal(0),
        unknown_cost: bool = False,
        at: datetime | None = None,
    ) -> LedgerRow:
        """Insert one row (idempotent on ``call_id``); ``unknown_cost`` marks a call that may have been
        billed for an amount nobody told us (a timeout): cost NULL, ``priced=false``."""
        at = at or datetime.now(UTC)
        if cache_hit:
            p = Price(Decimal(0), True, None, "cache")
        elif unknown_cost:
            p = Price(None, False, None, "unpriced")
        elif status == STATUS_ERROR:
            p = Price(Decimal(0), True, None, "not-billed")  # the provider refused it: nothing billed
        else:
            p = self.price(usage, at)
        ctx = self.context
        label = partition_label(partitions if partitions is not None else ctx.partitions)
        cur = self.conn.execute(
            """
            INSERT INTO talent.llm_usage (call_id, run_id, step_key, asset_key, partition_key, code_location,
                code_version, provider, model, operation, input_tokens, cached_tokens, output_tokens, cost_usd,
                priced, price_timestamp, latency_ms, status, cache_hit, saved_usd, created_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (call_id) DO NOTHING
            """,
            (
                call_id,
                ctx.run_id,
                ctx.step_key,
                ctx.asset_key,
                label,
                ctx.code_location,
                ctx.code_version,
                usage.provider,
                usage.model,
                usage.operation,
                usage.input_tokens,
                usage.cached_tokens,
                usage.output_tokens,
                p.cost_usd,
                p.priced,
                p.timestamp,
                latency_ms,
                status,
                cache_hit,
                saved_usd,
                at,
            ),
        )
        inserted = cur.rowcount == 1
        t = self.totals
        t.calls += 1
        t.inserted += int(inserted)
        t.input_tokens += usage.input_tokens
        t.cached_tokens += usage.cached_tokens
        t.output_tokens += usage.output_tokens
        t.cost_usd += p.cost_usd or 0
        t.saved_usd += saved_usd
        t.cache_hits += int(cache_hit)
        t.errors += int(status == STATUS_ERROR)
        t.billed_errors += int(status == STATUS_BILLED_ERROR)
        t.unpriced += int(not p.priced)
        t.models.add(usage.model)
        if not p.priced:
            log.warning(
                "LLM call %s on %s/%s could not be priced; recorded as unpriced",
                call_id[:12],
                usage.provider,
                usage.model,
            )
        return LedgerRow(call_id, usage, p, status, cache_hit, saved_usd, latency_ms, label, inserted)

    # -- budget ------------------------------------------------------------------------------

    def check_budget(self) -> None:
        if self.budget_usd is None:
            return
        spent = self.spent_before_usd + self.totals.cost_usd
        if spent > self.budget_usd:
            raise BudgetExceeded(
                f"LLM budget of {self.context.code_location or 'this location'} exhausted: spent ${spent:.4f} today"
                f" (of which ${self.totals.cost_usd:.4f} in this step) > daily budget ${self.budget_usd:.4f};"
                " the step stops here. Completed calls are cached, so a re-run after 00:00 UTC or after raising"
                " the budget (talent.llm_budgets) pays only for the rest."
            )

    # -- reporting ---------------------------------------------------------------------------

    def metadata(self) -> dict[str, Any]:
        """What a materialization carries (see ``pipeline.usage_metadata``)."""
        t = self.totals
        return {
            "llm_calls": t.calls,
            "llm_input_tokens": t.input_tokens,
            "llm_cached_tokens": t.cached_tokens,
            "llm_output_tokens": t.output_tokens,
            "llm_cost_usd": float(t.cost_usd),
            "llm_cache_hits": t.cache_hits,
            "llm_saved_usd": float(t.saved_usd),
            "llm_errors": t.errors + t.billed_errors,
            "llm_unpriced_calls": t.unpriced,
            "llm_model": ",".join(sorted(t.models)),
        }

    def run_totals(self) -> tuple[Decimal, int]:
        """The whole run's cost and calls so far, from the ledger (every step of the run)."""
        cost, calls = self.conn.execute(  # type: ignore[misc]  # an aggregate always returns one row
            "SELECT coalesce(sum(cost_usd), 0), count(*) FROM talent.llm_usage WHERE run_id = %s",
            (self.context.run_id,),
        ).fetchone()
        return Decimal(cost), int(calls)

    def tag_run(self, instance: dg.DagsterInstance) -> dict[str, str]:
        """Put the run's ledger total on the run as tags (cost is not a secret; tags are searchable)."""
        cost, calls = self.run_totals()
        tags = {RUN_COST_TAG: f"{cost:.6f}", RUN_CALLS_TAG: str(calls)}
        if self.context.run_id is None:
            return tags
        try:
            instance.add_run_tags(self.context.run_id, tags)
        except Exception:  # never fail a materialization over a tag
            log.exception("could not tag run %s with its LLM cost", self.context.run_id)
        return tags


def monotonic_ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
