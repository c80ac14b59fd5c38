"""Prices for one call's usage: explicit overrides, else genai-prices, else *unpriced* (never a silent 0).

Order, for a (provider, model):

1. ``local``: the deterministic local providers cost nothing; priced at exactly 0.
2. A row in ``talent.llm_prices`` (USD per million tokens) for the model, or for the model with its
   snapshot date stripped (``gpt-4o-2024-08-06`` -> ``gpt-4o``): an explicit price wins, so a
   negotiated rate or a model genai-prices does not know yet is priced as written.
3. ``genai_prices.calc_price`` with the bundled snapshot (works offline), at the call's time.
4. Otherwise ``cost=None, priced=False``: the ledger row says so and the unpriced-calls alert fires.

``price_timestamp`` is the genai-prices auto-update time when prices were refreshed at run time,
else the request time the price was looked up for (prices in the snapshot are time-dated).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from talent_shared.providers.base import Usage

ZERO = Decimal(0)
MILLION = Decimal(1_000_000)
_SNAPSHOT_DATE = re.compile(r"-\d{4}-\d{2}-\d{2}$")

# provider name in our Usage -> genai-prices provider id
PROVIDER_IDS = {"openai": "openai"}
FREE_PROVIDERS = frozenset({"local"})


@dataclass(frozen=True)
class OverridePrice:
    input_per_mtok: Decimal
    cached_input_per_mtok: Decimal | None
    output_per_mtok: Decimal

    def cost(self, usage: Usage) -> Decimal:
        cached = min(usage.cached_tokens, usage.input_tokens)
        cached_rate = self.cached_input_per_mtok if self.cached_input_per_mtok is not None else self.input_per_mtok
        return (
            Decimal(usage.input_tokens - cached) * self.input_per_mtok
            + Decimal(cached) * cached_rate
            + Decimal(usage.output_tokens) * self.output_per_mtok
        ) / MILLION


Overrides = dict[tuple[str, str], OverridePrice]


@dataclass(frozen=True)
class Price:
    cost_usd: Decimal | None
    priced: bool
    timestamp: datetime | None
    source: str  # "free" | "override" | "genai-prices" | "unpriced"


def load_overrides(conn) -> Overrides:
    """The ``talent.llm_prices`` rows (empty when the table does not exist yet)."""
    (exists,) = conn.execute("SELECT to_regclass('talent.llm_prices') IS NOT NULL").fetchone()
    if not exists:  # an older schema: no overrides
        return {}
    rows = conn.execute(
        "SELECT provider, model, input_per_mtok, cached_input_per_mtok, output_per_mtok FROM talent.llm_prices"
    ).fetchall()
    return {(p, m): OverridePrice(Decimal(i), None if c is None else Decimal(c), Decimal(o)) for p, m, i, c, o in rows}


def _override(overrides: Overrides, provider: str, model: str) -> OverridePrice | None:
    return overrides.get((provider, model)) or overrides.get((provider, _SNAPSHOT_DATE.sub("", model)))


def price(usage: Usage, *, overrides: Overrides | None = None, at: datetime | None = None) -> Price:
    at = at or datetime.now(UTC)
    if usage.provider in FREE_PROVIDERS:
        return Price(ZERO, True, None, "free")
    found = _override(overrides or {}, usage.provider, usage.model)
    if found is not None:
        return Price(found.cost(usage), True, at, "override")
    provider_id = PROVIDER_IDS.get(usage.provider)
    if provider_id is None:
        return Price(None, False, None, "unpriced")
    import genai_prices

    try:
        calc = genai_prices.calc_price(
            genai_prices.Usage(
                input_tokens=usage.input_tokens,
                cache_read_tokens=usage.cached_tokens or None,
                output_tokens=usage.output_tokens,
            ),
            model_ref=usage.model,
            provider_id=provider_id,
            genai_request_timestamp=at,
        )
    except LookupError:
        return Price(None, False, None, "unpriced")
    return Price(Decimal(calc.total_price), True, calc.auto_update_timestamp or at, "genai-prices")


def estimate_price(
    provider: str, model: str, input_tokens: int, output_tokens: int, overrides: Overrides | None = None
) -> Price:
    """The price of a hypothetical call (estimates): same rules as a real one."""
    operation = "embeddings" if model.startswith("text-embedding") else "chat"
    return price(Usage(provider, model, operation, input_tokens, output_tokens), overrides=overrides)  # type: ignore[arg-type]
