"""The metered client: every LLM and embedding call goes through here, whichever provider serves it.

:class:`MeteredLLM` and :class:`MeteredEmbedder` wrap a provider (``providers.local`` or
``providers.openai_provider``, which itself calls the official ``openai`` client) and, per call:

1. hash the request (prompt version, model, input) and look it up in the response cache
   (``llm.cache``); a hit is returned at no cost and recorded with ``cache_hit`` and ``saved_usd``;
2. check the budget (the meter's hard cap), then call the provider and time it;
3. record one ledger row (``llm.meter``) with the provider-reported usage, priced
   (``llm.pricing``), and store the response in the cache, in one transaction.

Failures are recorded too: ``billed_error`` when the provider answered and billed but the answer
is unusable (:class:`~talent_shared.providers.base.BilledCallError` carries the usage), ``error``
when it did not answer (HTTP 429/5xx after the openai client's own retries: not billed, cost 0),
and ``error`` with ``priced=false`` for a timeout, which may or may not have been billed.

Embedding batches are cached per text: only texts never embedded before are sent, and the
cached ones are recorded as a separate ``cache_hit`` row for the same batch.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from talent_shared.llm.cache import ResponseCache, cache_enabled, cache_key
from talent_shared.llm.meter import (
    STATUS_BILLED_ERROR,
    STATUS_ERROR,
    BudgetExceeded,
    Meter,
    input_hash,
    monotonic_ms,
)
from talent_shared.llm.pricing import FREE_PROVIDERS
from talent_shared.providers.base import BilledCallError, EmbeddingProvider, LLMProvider, Profile, Usage

if TYPE_CHECKING:
    from talent_shared.prompts import Prompt

T = TypeVar("T")

_FAILED_CALL = "talent_llm_call_failed"


def mark_failed_call(exc: BaseException) -> None:
    """Remember on ``exc`` that it is a provider call's failure, already recorded in the ledger and
    already retried by the provider's own client (:func:`is_failed_call`)."""
    with contextlib.suppress(AttributeError, TypeError):  # a type without a __dict__: left unmarked
        setattr(exc, _FAILED_CALL, True)


def is_failed_call(exc: BaseException) -> bool:
    """An LLM or embedding call that failed for good: the provider's error after its client's
    retries, an unusable billed answer, or the budget's hard cap."""
    return isinstance(exc, BilledCallError | BudgetExceeded) or getattr(exc, _FAILED_CALL, False) is True


def _maybe_billed_unknown(exc: BaseException) -> bool:
    """A timeout: the provider may have processed (and billed) the request; we cannot know its cost."""
    return any(c.__name__ == "APITimeoutError" for c in type(exc).__mro__)


def _usage_dict(u: Usage) -> dict[str, Any]:
    return {
        "provider": u.provider,
        "model": u.model,
        "operation": u.operation,
        "input_tokens": u.input_tokens,
        "output_tokens": u.output_tokens,
        "cached_tokens": u.cached_tokens,
    }


def _usage_from(d: dict[str, Any]) -> Usage:
    return Usage(
        d["provider"],
        d["model"],
        d["operation"],
        int(d["input_tokens"]),
        int(d.get("output_tokens", 0)),
        int(d.get("cached_tokens", 0)),
    )


class _Metered:
    def __init__(self, meter: Meter, provider_name: str, cache: bool | None):
        self.meter = meter
        self.cache_on = cache_enabled(provider_name) if cache is None else cache
        self.cache = ResponseCache(meter.conn)
        # paid calls the cache cannot answer on a replay must not share ids across executions
        self.unique_ids = not self.cache_on and provider_name not in FREE_PROVIDERS

    def _call(
        self,
        *,
        prompt_version: str,
        model: str,
        provider: str,
        operation: str,
        request: dict[str, Any],
        partitions: Sequence[str] | None,
        fn: Callable[[], tuple[T, Usage]],
        encode: Callable[[T], Any],
        decode: Callable[[Any], T],
    ) -> tuple[T, Usage]:
        meter = self.meter
        h = input_hash({"prompt_version": prompt_version, "model": model, **request})
        call_id = meter.next_call_id(h, unique=self.unique_ids)
        key = cache_key(prompt_version, model, h)
        if self.cache_on:
            hit = self.cache.get(key)
            if hit is not None:
                response, cost = hit
                original = _usage_from(response["usage"])
                meter.record(
                    call_id,
                    Usage(original.provider, original.model, original.operation, 0),
                    partitions=partitions,
                    cache_hit=True,
                    saved_usd=cost,
                )
                return decode(response["value"]), original
        meter.check_budget()
        started = time.perf_counter()
        try:
            value, usage = fn()
        except BilledCallError as exc:
            meter.record(
                call_id, exc.usage, status=STATUS_BILLED_ERROR, latency_ms=monotonic_ms(started), partitions=partitions
            )
            raise
        except Exception as exc:
            meter.record(
                call_id,
                Usage(provider, model, operation, 0),  # type: ignore[arg-type]
                status=STATUS_ERROR,
                latency_ms=monotonic_ms(started),
                partitions=partitions,
                unknown_cost=_maybe_billed_unknown(exc),
            )
            mark_failed_call(exc)
            raise
        latency = monotonic_ms(started)
        with meter.transaction():
            row = meter.record(call_id, usage, latency_ms=latency, partitions=partitions)
            if self.cache_on:
                self.cache.put(
                    key,
                    prompt_version,
                    model,
                    h,
                    {"value": encode(value), "usage": _usage_dict(usage)},
                    row.price.cost_usd or Decimal(0),
                )
        meter.check_budget()
        return value, usage


class MeteredLLM(_Metered):
    """An :class:`LLMProvider` whose calls are metered, cached and budgeted."""

    def __init__(self, inner: LLMProvider, meter: Meter, *, cache: bool | None = None):
        super().__init__(meter, inner.name, cache)
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.prompt_version = inner.prompt_version

    def extract_profile(
        self, prompt: Prompt, text: str, hints: dict, *, partition: str | None = None
    ) -> tuple[Profile, Usage]:
        return self._call(
            prompt_version=f"{self.prompt_version}:{prompt.version}",
            model=self.model,
            provider=self.name,
            operation="chat",
            request={"op": "extract_profile", "text": text, "hints": hints},
            partitions=[partition] if partition else None,
            fn=lambda: self.inner.extract_profile(prompt, text, hints),
            encode=lambda p: p.model_dump(mode="json"),
            decode=Profile.model_validate,
        )

    def explain_match(
        self,
        prompt: Prompt,
        candidate: Profile,
        job: Profile,
        overlap: Sequence[str],
        *,
        partition: str | None = None,
    ) -> tuple[str, Usage]:
        return self._call(
            prompt_version=f"{self.prompt_version}:{prompt.version}",
            model=self.model,
            provider=self.name,
            operation="chat",
            request={
                "op": "explain_match",
                "candidate": candidate.model_dump(mode="json"),
                "job": job.model_dump(mode="json"),
                "overlap": list(overlap),
            },
            partitions=[partition] if partition else [],
            fn=lambda: self.inner.explain_match(prompt, candidate, job, overlap),
            encode=lambda t: t,
            decode=str,
        )


class MeteredEmbedder(_Metered):
    """An :class:`EmbeddingProvider` whose batches are metered and whose texts are cached one by one."""

    def __init__(self, inner: EmbeddingProvider, meter: Meter, *, cache: bool | None = None):
        super().__init__(meter, inner.name, cache)
        self.inner = inner
        self.name = inner.name
        self.model = inner.model
        self.dim = inner.dim

    @property
    def prompt_version(self) -> str:
        return f"embed:{self.dim}"

    def embed(self, texts: Sequence[str], *, partitions: Sequence[str] | None = None):
        import numpy as np

        texts = list(texts)
        if not self.cache_on or not texts:
            return self._call(
                prompt_version=self.prompt_version,
                model=self.model,
                provider=self.name,
                operation="embeddings",
                request={"texts": texts},
                partitions=partitions,
                fn=lambda: self.inner.embed(texts),
                encode=lambda m: None,
                decode=lambda _: None,  # never stored (cache off)
            )
        meter = self.meter
        hashes = [input_hash({"prompt_version": self.prompt_version, "model": self.model, "text": t}) for t in texts]
        keys = [cache_key(self.prompt_version, self.model, h) for h in hashes]
        cached = self.cache.get_many(keys)
        missing = [i for i, k in enumerate(keys) if k not in cached]
        matrix = np.zeros((len(texts), self.dim), dtype=np.float32)
        parts = list(partitions) if partitions is not None else None
        if len(cached):
            hit_idx = [i for i, k in enumerate(keys) if k in cached]
            for i in hit_idx:
                matrix[i] = np.asarray(cached[keys[i]][0]["value"], dtype=np.float32)
            saved = sum((cached[keys[i]][1] for i in hit_idx), Decimal(0))
            call_id = meter.next_call_id(input_hash(["cached", [hashes[i] for i in hit_idx]]))
            meter.record(
                call_id,
                Usage(self.name, self.model, "embeddings", 0),
                cache_hit=True,
                saved_usd=saved,
                partitions=[parts[i] for i in hit_idx] if parts else None,
            )
        usage = Usage(self.name, self.model, "embeddings", 0)
        if missing:
            sent = [texts[i] for i in missing]
            meter.check_budget()
            call_id = meter.next_call_id(input_hash(["sent", [hashes[i] for i in missing]]), unique=self.unique_ids)
            started = time.perf_counter()
            sent_parts = [parts[i] for i in missing] if parts else None
            try:
                fresh, usage = self.inner.embed(sent)
            except BilledCallError as exc:
                meter.record(
                    call_id,
                    exc.usage,
                    status=STATUS_BILLED_ERROR,
                    latency_ms=monotonic_ms(started),
                    partitions=sent_parts,
                )
                raise
            except Exception as exc:
                meter.record(
                    call_id,
                    usage,
                    status=STATUS_ERROR,
                    latency_ms=monotonic_ms(started),
                    partitions=sent_parts,
                    unknown_cost=_maybe_billed_unknown(exc),
                )
                mark_failed_call(exc)
                raise
            latency = monotonic_ms(started)
            with meter.transaction():
                row = meter.record(call_id, usage, latency_ms=latency, partitions=sent_parts)
                total = row.price.cost_usd or Decimal(0)
                # each text's share of the batch price, by its offline token count (what it saves later)
                from talent_shared.llm.encodings import count_tokens

                counts = [max(count_tokens(t, self.model), 1) for t in sent]
                whole = sum(counts)
                self.cache.put_many(
                    [
                        (
                            keys[i],
                            self.prompt_version,
                            self.model,
                            hashes[i],
                            {"value": [float(x) for x in fresh[j]], "usage": _usage_dict(usage)},
                            total * counts[j] / whole,
                        )
                        for j, i in enumerate(missing)
                    ]
                )
            for j, i in enumerate(missing):
                matrix[i] = fresh[j]
            meter.check_budget()
        return matrix, usage
