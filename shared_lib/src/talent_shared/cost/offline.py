"""What one partition of an LLM asset costs, counted offline: no ledger, no instance.

Budget enforcement (:func:`talent_shared.cost.budget.cost_per_record`, run by the ingestion sensor
inside a code server) prices an asset it has never observed from these token counts, and so does
the estimator of the ``talent`` command (``talent_platform.cost.estimate``), which adds the ledger,
the deployed definitions and the instance's state on top.

Input tokens are counted with the offline tiktoken encodings, as the chat messages the providers
send with the prompt the caller passes (the owning pipeline's, or the one on the deployed asset
definition's metadata: ``talent_shared.prompts.prompt_metadata``); output tokens are the caller's observed mean, else a fixed guess per operation
(``EXTRACT_OUTPUT_TOKENS`` / ``EXPLAIN_OUTPUT_TOKENS``). Prices come from genai-prices for the
configured provider and model; local providers are priced at 0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from talent_shared.prompts import Prompt

# LLM assets: key -> (entity, operation)
LLM_ASSETS: dict[str, tuple[str | None, str]] = {
    "normalized_candidates": ("candidate", "extract"),
    "candidate_vectors": ("candidate", "embed"),
    "normalized_jobs": ("job", "extract"),
    "job_vectors": ("job", "embed"),
    "matches": (None, "explain"),
}
EXTRACT_OUTPUT_TOKENS = 80  # a Profile as JSON
EXPLAIN_OUTPUT_TOKENS = 40  # one sentence (max_tokens=80)
# an entity asset's record reader ('module:function') on its definition's metadata: the estimate
# samples what the asset would send with the reader the deployed definition names
READER_METADATA = "talent/reader"
EMBED_TEXT_TOKENS = 30  # "title. seniority. skills: ..." when no profile is stored yet


def provider_model(operation: str) -> tuple[str, str]:
    """(provider, model) the settings configure for ``operation`` (``extract``, ``embed``, ``explain``)."""
    from talent_shared.settings import get_settings

    s = get_settings()
    if operation == "embed":
        from talent_shared.providers.factory import embedding_model_name

        provider = "local" if s.embedding_provider == "hashing" else s.embedding_provider
        return provider, embedding_model_name(s)
    return s.llm_provider, (s.llm_model if s.llm_provider == "openai" else "rules-v1")


def input_tokens(asset_key: str, text: str, model: str, prompt: Prompt | None = None) -> int:
    """Prompt tokens one call of ``asset_key`` sends for ``text`` (record text, embedding text, or the
    user message of an explanation), messages included as the providers build them."""
    from talent_shared.llm.encodings import count_tokens
    from talent_shared.providers.local import messages_tokens

    _, operation = LLM_ASSETS.get(asset_key, (None, "extract"))
    if operation == "embed":
        return count_tokens(text, model)
    if prompt is None:
        raise LookupError(
            f"{asset_key} sends a prompt: count its tokens with the prompt of the definition that owns it"
        )
    return messages_tokens([{"content": prompt.text}, {"content": text}], model)


def offline_cost_per_partition(
    asset_key: str, sample_inputs: list[str], output_tokens: int | None = None, prompt: Prompt | None = None
) -> Decimal:
    """Offline-counted tokens of typical inputs, priced for the configured provider and model; the
    output length is ``output_tokens`` (observed) or a fixed guess per operation."""
    from talent_shared.llm.pricing import estimate_price

    _, operation = LLM_ASSETS.get(asset_key, (None, "extract"))
    provider, model = provider_model(operation)
    if provider == "local":
        return Decimal(0)
    if sample_inputs:
        tokens_in = round(sum(input_tokens(asset_key, t, model, prompt) for t in sample_inputs) / len(sample_inputs))
    else:
        tokens_in = {"embed": EMBED_TEXT_TOKENS, "explain": 200}.get(operation) or input_tokens(
            asset_key, "", model, prompt
        )
    tokens_out = {"embed": 0, "explain": EXPLAIN_OUTPUT_TOKENS}.get(operation, EXTRACT_OUTPUT_TOKENS)
    if output_tokens is not None and operation != "embed":
        tokens_out = output_tokens
    p = estimate_price(provider, model, tokens_in, tokens_out)
    if not p.priced or p.cost_usd is None:
        raise LookupError(f"no price for {provider}/{model}: add it to talent.llm_prices")
    return p.cost_usd
