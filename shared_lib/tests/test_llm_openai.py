"""The metered client against the official ``openai`` client at the HTTP layer.

Every test builds ``openai.OpenAI(http_client=httpx.Client(transport=ReplayTransport(...)))`` over
recorded payloads (``fixtures/openai/*.json``): structured output with cached prompt tokens,
embeddings, a refusal, a 429 and a 500. Costs are compared with genai-prices' own figure for the
same usage, and every call is checked in ``talent.llm_usage``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import genai_prices
import openai
import pytest

from talent_shared.llm.client import MeteredEmbedder, MeteredLLM
from talent_shared.llm.meter import Meter, MeterContext
from talent_shared.llm.replay import ReplayTransport, client, load
from talent_shared.providers.base import BilledCallError
from talent_shared.providers.openai_provider import OpenAIEmbedder, OpenAILLM
from talent_shared.testing import EXPLAIN_TEST_PROMPT, TEST_PROMPT

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
HINTS = {"title": "ICU nurse", "skills": ["triage"], "years": 5, "location": "Lisbon"}


def genai_cost(body: dict) -> Decimal:
    usage = body["usage"]
    cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or None
    return genai_prices.calc_price(
        genai_prices.Usage(
            input_tokens=usage["prompt_tokens"],
            cache_read_tokens=cached,
            output_tokens=usage.get("completion_tokens", 0),
        ),
        model_ref=body["model"],
        provider_id="openai",
    ).total_price


def rows(db) -> list[dict]:
    cur = db.execute(
        "SELECT call_id, run_id, provider, model, operation, input_tokens, cached_tokens, output_tokens, cost_usd,"
        " priced, price_timestamp, latency_ms, status, cache_hit, saved_usd, partition_key, asset_key"
        " FROM talent.llm_usage ORDER BY created_at, call_id"
    )
    names = [d.name for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


@pytest.fixture
def meter(talent_env, pg_url):
    with Meter(
        MeterContext(
            run_id="run-1",
            step_key="normalized_candidates",
            asset_key="normalized_candidates",
            code_location="candidates",
            code_version="v1",
        ),
        url=pg_url,
    ) as m:
        yield m


def llm(transport: ReplayTransport, meter: Meter, model: str = "gpt-4o-mini", **kw) -> MeteredLLM:
    return MeteredLLM(OpenAILLM(client(transport, **kw), model), meter)


def test_structured_output_is_priced_with_cached_tokens(meter, db) -> None:
    body = load(FIXTURES, "chat_completion_profile")
    transport = ReplayTransport(chat=[(200, body)])
    profile, usage = llm(transport, meter).extract_profile(TEST_PROMPT, "ICU nurse, 5 years.", HINTS, partition="c-1")

    assert profile.title == "ICU Registered Nurse" and profile.seniority == "mid"
    assert usage.cached_tokens == 1536 and usage.input_tokens == 1843
    [row] = rows(db)
    assert row["provider"] == "openai" and row["model"] == "gpt-4o-mini-2024-07-18" and row["operation"] == "chat"
    assert (row["input_tokens"], row["cached_tokens"], row["output_tokens"]) == (1843, 1536, 61)
    assert row["cost_usd"] == genai_cost(body) > 0
    # cached tokens are cheaper: the same call without them costs more
    assert (
        genai_cost(
            load(FIXTURES, "chat_completion_profile_uncached")
            | {"usage": {**body["usage"], "prompt_tokens_details": {}}}
        )
        > row["cost_usd"]
    )
    assert row["priced"] and row["price_timestamp"] is not None and row["status"] == "ok"
    assert row["partition_key"] == "c-1" and row["asset_key"] == "normalized_candidates" and not row["cache_hit"]
    # the request really was a structured-output request
    [(endpoint, status, sent)] = transport.requests
    assert status == 200
    assert endpoint == "chat" and sent["response_format"]["type"] == "json_schema" and sent["model"] == "gpt-4o-mini"
    assert meter.metadata()["llm_cost_usd"] == float(genai_cost(body))


def test_the_records_own_fields_join_the_answer(meter, db) -> None:
    """The model reads only the text; what the record's fields state (listed skills, years, remote,
    location) is part of the profile, as it is for the local extractor."""
    body = load(FIXTURES, "chat_completion_profile")  # the answer: 5 years, Lisbon, not remote
    fields = {"title": "Nurse", "skills": ["Wound care", "not a skill"], "years": 8, "remote": True}
    profile, _ = llm(ReplayTransport(chat=[(200, body)]), meter).extract_profile(TEST_PROMPT, "ICU nurse.", fields)
    assert profile.skills == ["critical care", "patient care", "triage", "wound care"]  # the taxonomy's names
    assert profile.years_experience == 8 and profile.remote and profile.location == "Lisbon"
    assert profile.title == "ICU Registered Nurse"  # the model's reading of the title stays
    located, _ = llm(ReplayTransport(chat=[(200, body)]), meter).extract_profile(
        TEST_PROMPT, "ICU nurse.", {"location": "Porto"}
    )
    assert located.location == "Porto" and located.years_experience == 5 and not located.remote


def test_429_and_500_are_retried_by_the_client_then_one_row(meter, db) -> None:
    body = load(FIXTURES, "chat_completion_profile_uncached")
    transport = ReplayTransport(
        chat=[(429, load(FIXTURES, "error_429")), (500, load(FIXTURES, "error_500")), (200, body)]
    )
    llm(transport, meter, max_retries=2).extract_profile(TEST_PROMPT, "ICU nurse.", HINTS)

    assert [s for _, s, _ in transport.requests] == [429, 500, 200]
    [row] = rows(db)
    assert row["status"] == "ok" and row["cost_usd"] == genai_cost(body)
    assert row["latency_ms"] > 0


def test_exhausted_retries_record_an_unbilled_error(meter, db) -> None:
    err = load(FIXTURES, "error_500")
    transport = ReplayTransport(chat=[(429, load(FIXTURES, "error_429")), (500, err), (500, err)])
    with pytest.raises(openai.InternalServerError):
        llm(transport, meter, max_retries=2).extract_profile(TEST_PROMPT, "ICU nurse.", HINTS, partition="c-9")

    assert len(transport.requests) == 3
    [row] = rows(db)
    assert row["status"] == "error" and row["cost_usd"] == 0 and row["priced"] and row["input_tokens"] == 0
    assert row["model"] == "gpt-4o-mini" and row["partition_key"] == "c-9"


def test_refusal_is_a_billed_error_at_its_price(meter, db) -> None:
    body = load(FIXTURES, "chat_completion_refusal")
    with pytest.raises(BilledCallError, match="refused"):
        llm(ReplayTransport(chat=[(200, body)]), meter).extract_profile(TEST_PROMPT, "???", {})
    [row] = rows(db)
    assert row["status"] == "billed_error" and row["cost_usd"] == genai_cost(body) > 0
    assert (row["input_tokens"], row["output_tokens"]) == (398, 12)


def test_invalid_structured_output_is_a_billed_error(meter, db) -> None:
    body = load(FIXTURES, "chat_completion_profile_uncached")
    body["choices"][0]["message"]["content"] = '{"title": "x", "skills": []'  # truncated JSON
    with pytest.raises(BilledCallError, match="unusable structured output"):
        llm(ReplayTransport(chat=[(200, body)]), meter).extract_profile(TEST_PROMPT, "x", {})
    [row] = rows(db)
    assert row["status"] == "billed_error" and row["cost_usd"] == genai_cost(body)


def test_same_input_never_pays_twice(meter, db) -> None:
    body = load(FIXTURES, "chat_completion_profile")
    transport = ReplayTransport(chat=[(200, body)])
    client_ = llm(transport, meter)
    first, _ = client_.extract_profile(TEST_PROMPT, "ICU nurse, 5 years.", HINTS, partition="c-1")
    again, _ = client_.extract_profile(TEST_PROMPT, "ICU nurse, 5 years.", HINTS, partition="c-1")

    assert first == again and len(transport.requests) == 1
    paid, hit = rows(db)
    assert hit["cache_hit"] and hit["cost_usd"] == 0 and hit["saved_usd"] == paid["cost_usd"] == genai_cost(body)
    assert hit["input_tokens"] == 0 and hit["status"] == "ok"
    # a different prompt version or model is a different cache entry
    other = MeteredLLM(OpenAILLM(client(ReplayTransport(chat=[(200, body)])), "gpt-4o"), meter)
    other.extract_profile(TEST_PROMPT, "ICU nurse, 5 years.", HINTS)
    assert not rows(db)[-1]["cache_hit"]


def test_embeddings_are_priced_and_cached_per_text(meter, db) -> None:
    body = load(FIXTURES, "embeddings")
    transport = ReplayTransport(default_embeddings=body)
    embedder = MeteredEmbedder(OpenAIEmbedder(client(transport), "text-embedding-3-small", 8), meter)
    first, usage = embedder.embed(
        ["nurse. mid. skills: triage.", "chef. senior. skills: baking."], partitions=["c-1", "c-2"]
    )
    assert first.shape == (2, 8) and usage.input_tokens == 27
    second, _ = embedder.embed(["chef. senior. skills: baking.", "welder. junior."], partitions=["c-2", "c-3"])

    assert len(transport.requests) == 2 and transport.requests[1][2]["input"] == ["welder. junior."]
    assert (second[0] == first[1]).all()
    paid1, hit, paid2 = rows(db)
    assert paid1["cost_usd"] == genai_cost(body) == Decimal("0.00000054")
    assert paid1["partition_key"] == "c-1,c-2" and paid1["operation"] == "embeddings"
    assert hit["cache_hit"] and hit["partition_key"] == "c-2" and Decimal(0) < hit["saved_usd"] < paid1["cost_usd"]
    assert paid2["partition_key"] == "c-3" and paid2["cost_usd"] == genai_cost(body)


def test_unknown_model_is_unpriced_unless_overridden(meter, db, pg_url) -> None:
    body = load(FIXTURES, "chat_completion_profile_uncached") | {"model": "gpt-next-preview"}
    llm(ReplayTransport(chat=[(200, body)]), meter, model="gpt-next-preview").extract_profile(TEST_PROMPT, "a", {})
    row = rows(db)[-1]
    assert row["cost_usd"] is None and row["priced"] is False and row["status"] == "ok"
    assert meter.metadata()["llm_unpriced_calls"] == 1

    db.execute("TRUNCATE talent.llm_prices")
    db.execute(
        "INSERT INTO talent.llm_prices (provider, model, input_per_mtok, cached_input_per_mtok, output_per_mtok)"
        " VALUES ('openai', 'gpt-next-preview', 2, 0.5, 8)"
    )
    db.commit()
    with Meter(MeterContext(run_id="run-2"), url=pg_url) as m2:
        llm(ReplayTransport(chat=[(200, body)]), m2, model="gpt-next-preview").extract_profile(TEST_PROMPT, "b", {})
    row = rows(db)[-1]
    assert row["priced"] and row["cost_usd"] == (Decimal(412) * 2 + Decimal(61) * 8) / 1_000_000
    db.execute("TRUNCATE talent.llm_prices")
    db.commit()


def test_a_replayed_step_counts_nothing_twice_and_a_new_attempt_pays_only_for_misses(talent_env, pg_url, db) -> None:
    """Resume (same run, step, attempt): same call ids, answered from the cache, nothing inserted.
    Retry (next attempt): the cache answers at zero cost."""
    body = load(FIXTURES, "chat_completion_profile")
    ctx = MeterContext(run_id="run-r", step_key="s", asset_key="normalized_candidates", code_location="candidates")
    texts = ["a nurse", "a chef", "a welder"]
    transport = ReplayTransport(default_chat=body)
    for attempt_ctx in (ctx, ctx):
        with Meter(attempt_ctx, url=pg_url) as m:
            c = llm(transport, m)
            for i, t in enumerate(texts):
                c.extract_profile(TEST_PROMPT, t, {}, partition=f"c-{i}")
    assert len(transport.requests) == 3
    assert len(rows(db)) == 3 and all(not r["cache_hit"] for r in rows(db))

    from dataclasses import replace

    with Meter(replace(ctx, attempt=1), url=pg_url) as m:
        c = llm(transport, m)
        for i, t in enumerate(texts):
            c.extract_profile(TEST_PROMPT, t, {}, partition=f"c-{i}")
    assert len(transport.requests) == 3
    all_rows = rows(db)
    assert len(all_rows) == 6 and sum(r["cache_hit"] for r in all_rows) == 3
    assert sum(r["cost_usd"] for r in all_rows) == 3 * genai_cost(body)


def test_paid_calls_without_cache_count_again_on_replay(talent_env, pg_url, db, monkeypatch) -> None:
    monkeypatch.setenv("TALENT_LLM_CACHE", "off")
    body = load(FIXTURES, "chat_completion_profile")
    ctx = MeterContext(run_id="run-nc", step_key="s", asset_key="normalized_jobs", code_location="jobs")
    transport = ReplayTransport(default_chat=body)
    for _ in range(2):
        with Meter(ctx, url=pg_url) as m:
            llm(transport, m).extract_profile(TEST_PROMPT, "same text", {})
    assert len(transport.requests) == 2 and len(rows(db)) == 2  # billed twice, counted twice


def test_explanation_is_metered_and_cached(meter, db) -> None:
    from talent_shared.providers.base import Profile

    body = load(FIXTURES, "chat_completion_explanation")
    transport = ReplayTransport(chat=[(200, body)])
    c = llm(transport, meter)
    cand = Profile(title="ICU nurse", skills=["triage"], seniority="mid", years_experience=5)
    job = Profile(title="ICU RN", skills=["triage"], seniority="mid", years_experience=3)
    text, _ = c.explain_match(EXPLAIN_TEST_PROMPT, cand, job, ["triage"])
    again, _ = c.explain_match(EXPLAIN_TEST_PROMPT, cand, job, ["triage"])
    assert text == again and text.startswith("She brings") and len(transport.requests) == 1
    paid, hit = rows(db)
    assert paid["cost_usd"] == genai_cost(body) and (paid["input_tokens"], paid["output_tokens"]) == (162, 23)
    assert paid["partition_key"] is None and hit["cache_hit"] and hit["saved_usd"] == paid["cost_usd"]
