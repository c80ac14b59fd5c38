"""OpenAI providers: structured-output extraction and ``text-embedding-3-*`` embeddings.

The client is the official ``openai`` one; tests give it an ``httpx`` transport with recorded
payloads rather than replacing the class. Skills the model returns are mapped onto the taxonomy
so its profiles speak the same vocabulary as the local extractor's.

Usage is read from the HTTP response body (``usage``, incl. ``prompt_tokens_details.cached_tokens``)
*before* the structured output is parsed, so an answer that was billed but cannot be used (a
refusal, a truncated or invalid JSON) raises :class:`BilledCallError` carrying its usage, and the
metered client (``talent_shared.llm.client``) records it as ``billed_error``. Errors raised by the
client itself (429/5xx after its retries, timeouts) carry no usage and are recorded as ``error``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import openai

from talent_shared.prompts import Prompt
from talent_shared.providers.base import (
    OPENAI_PROVIDER_VERSION,
    BilledCallError,
    Profile,
    Usage,
    explanation_messages,
    extraction_messages,
    with_record_fields,
)


def _usage(model: str, operation: str, usage: object | None) -> Usage:
    if usage is None:
        return Usage("openai", model, operation, 0)  # type: ignore[arg-type]
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details else 0
    return Usage(
        "openai",
        model,
        operation,  # type: ignore[arg-type]
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cached_tokens=cached,
    )


def _usage_from_body(fallback_model: str, operation: str, body: object) -> Usage:
    """Usage from a raw response body (a dict), whatever else in it is malformed."""
    body = body if isinstance(body, dict) else {}
    usage = body.get("usage") or {}
    details = usage.get("prompt_tokens_details") or {}
    return Usage(
        "openai",
        str(body.get("model") or fallback_model),
        operation,  # type: ignore[arg-type]
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        cached_tokens=int(details.get("cached_tokens") or 0),
    )


def _body(raw) -> object:
    try:
        return raw.http_response.json()
    except Exception:  # not JSON: nothing billed that we can see
        return {}


class OpenAILLM:
    name = "openai"
    prompt_version = OPENAI_PROVIDER_VERSION

    def __init__(self, client: openai.OpenAI, model: str):
        self.client = client
        self.model = model

    def extract_profile(self, prompt: Prompt, text: str, hints: dict) -> tuple[Profile, Usage]:
        raw = self.client.chat.completions.with_raw_response.parse(
            model=self.model,
            messages=extraction_messages(prompt, text),  # type: ignore[arg-type]
            response_format=Profile,
            temperature=0,
        )
        # a response arrived: it is billed whatever follows
        billed = _usage_from_body(self.model, "chat", _body(raw))
        try:
            response = raw.parse()
            parsed = response.choices[0].message.parsed
        except Exception as exc:  # truncated (LengthFinishReasonError), filtered, or invalid JSON
            raise BilledCallError(f"unusable structured output: {type(exc).__name__}: {exc}", billed) from exc
        if parsed is None:
            raise BilledCallError(
                f"the model refused or returned no profile: {response.choices[0].message.refusal!r}", billed
            )
        return with_record_fields(parsed, hints), _usage(response.model, "chat", response.usage)

    def explain_match(
        self, prompt: Prompt, candidate: Profile, job: Profile, overlap: Sequence[str]
    ) -> tuple[str, Usage]:
        response = self.client.chat.completions.create(
            model=self.model,
            messages=explanation_messages(prompt, candidate, job),  # type: ignore[arg-type]
            max_tokens=80,
            temperature=0,
        )
        return (response.choices[0].message.content or "").strip(), _usage(response.model, "chat", response.usage)


class OpenAIEmbedder:
    name = "openai"

    def __init__(self, client: openai.OpenAI, model: str, dim: int):
        self.client = client
        self.model = model
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, Usage]:
        if not texts:
            return np.zeros((0, self.dim), np.float32), Usage("openai", self.model, "embeddings", 0)
        response = self.client.embeddings.create(model=self.model, input=list(texts), dimensions=self.dim)
        usage = _usage(response.model, "embeddings", response.usage)
        rows = sorted(response.data, key=lambda d: d.index)
        if len(rows) != len(texts):
            raise BilledCallError(f"{len(rows)} embeddings for {len(texts)} inputs", usage)
        matrix = np.asarray([r.embedding for r in rows], dtype=np.float32)
        if matrix.shape[1] != self.dim:
            raise BilledCallError(f"embeddings of dimension {matrix.shape[1]}, expected {self.dim}", usage)
        return matrix, usage
