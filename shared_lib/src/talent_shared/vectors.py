"""Embedding records into the pgvector tables, in batches the provider accepts.

The text embedded keeps the record's own words: the normalized profile's title, seniority and
skills first (the part a 256-token model must not truncate), then the skills the record lists and
its text as the entity reads it (``to_input``, the same reader normalization uses). The lexical
term vector (``talent_shared.lexical``) of the same text is stored beside the embedding.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import psycopg

from talent_shared import lexical
from talent_shared.profiles import Processed, load_payloads, load_profiles
from talent_shared.providers.base import EmbeddingProvider, Profile

if TYPE_CHECKING:
    from talent_shared.llm.meter import Meter
    from talent_shared.profiles import ExtractionInput

TABLES = {"candidate": "candidate_vectors", "job": "job_vectors"}
BATCH = 512  # well under OpenAI's 2,048 inputs per request


def embed(
    conn: psycopg.Connection,
    entity: str,
    ids: Sequence[str],
    embedder: EmbeddingProvider,
    *,
    meter: Meter | None = None,
    to_input: ExtractionInput | None = None,
    code_version: str | None = None,
    attempts: dict[str, int] | None = None,
    max_attempts: int | None = None,
) -> Processed:
    """Embed and store records (:func:`record_text`; the profile's text alone without ``to_input``) through
    :class:`~talent_shared.llm.client.MeteredEmbedder`: one ledger row per batch (its records on the
    row), texts cached one by one for paid providers. A batch whose call fails is retried one record
    at a time, so one bad record fails alone; each record's result goes to the lineage."""
    from talent_shared.llm.client import MeteredEmbedder
    from talent_shared.llm.meter import Meter

    own_meter = meter is None
    meter = meter or Meter(conn=conn)
    metered = embedder if isinstance(embedder, MeteredEmbedder) else MeteredEmbedder(embedder, meter)
    try:
        return _embed(conn, entity, ids, metered, to_input, meter, code_version, attempts, max_attempts)
    finally:
        if own_meter:
            meter.close()


def record_text(profile: Profile, payload: dict | None, to_input: ExtractionInput | None) -> str:
    """What is embedded for one record: the profile's text, then the record's listed skills and words."""
    head = profile.embedding_text()
    if payload is None or to_input is None:
        return head
    text, hints = to_input(payload)
    listed = ", ".join(str(s) for s in hints.get("skills") or [])
    return f"{head}\n{listed + chr(10) if listed else ''}{text}"


def texts_for(
    conn: psycopg.Connection, entity: str, ids: Sequence[str], to_input: ExtractionInput | None
) -> dict[str, str]:
    """:func:`record_text` of each stored record with a profile (the cost estimate samples these too)."""
    profiles = load_profiles(conn, entity, ids)
    payloads = load_payloads(conn, entity, ids) if to_input is not None else {}
    return {i: record_text(profiles[i], payloads.get(i), to_input) for i in ids if i in profiles}


def _embed(
    conn: psycopg.Connection,
    entity: str,
    ids: Sequence[str],
    embedder,
    to_input: ExtractionInput | None,
    meter: Meter,
    code_version: str | None,
    attempts: dict[str, int] | None,
    max_attempts: int | None,
) -> Processed:
    from talent_shared import lineage
    from talent_shared.llm.meter import BudgetExceeded
    from talent_shared.settings import get_settings

    all_texts = texts_for(conn, entity, ids, to_input)
    # The profile's own version goes into the vector's: matching scores profile fields the text
    # leaves out (years of experience) and finds what to re-match by the vector's version alone.
    profile_versions: dict[str, str] = dict(
        conn.execute(
            "SELECT record_id, data_version FROM talent.profiles WHERE entity = %s AND record_id = ANY(%s)",
            (entity, list(ids)),
        ).fetchall()
    )
    done = Processed()
    outcomes = {i: lineage.Outcome(i, profile_versions.get(i)) for i in ids}
    done.outcomes = list(outcomes.values())
    for i in ids:
        if i not in all_texts:
            outcomes[i].error = "no profile"
    table = TABLES[entity]
    # a vector is a function of its version's parts (model, dimension, lexical version, profile
    # version, text): one already stored at the version this would produce is reused, not bought again
    # (a code-version change that leaves the text alone, or a deployment adopted by migration 0009)
    expected = {i: _version(embedder, profile_versions[i], all_texts[i]) for i in ids if i in all_texts}
    stored_versions: dict[str, str] = dict(
        conn.execute(
            f"SELECT record_id, data_version FROM talent.{table} WHERE record_id = ANY(%s) AND model = %s",
            (list(expected), embedder.model),
        ).fetchall()
    )
    for i, version in expected.items():
        if stored_versions.get(i) == version:
            outcomes[i].output_version = version
    ready = [i for i in ids if i in all_texts and outcomes[i].output_version is None]
    stopped: BaseException | None = None
    for start in range(0, len(ready), BATCH):
        chunk = ready[start : start + BATCH]
        try:
            parts = _embed_chunk(embedder, meter, chunk, [all_texts[i] for i in chunk], outcomes, done)
        except BudgetExceeded as exc:
            stopped = exc
            for i in ready[start:]:
                done.outcomes.remove(outcomes[i])  # not attempted: they stay pending
            break
        rows = []
        for record_id, vec in parts:
            text = all_texts[record_id]
            version = expected[record_id]
            outcomes[record_id].output_version = version
            rows.append((record_id, np.asarray(vec, dtype=np.float32), lexical.vector(text), version, embedder.model))
        with conn.cursor() as cur:
            cur.executemany(
                f"""
                INSERT INTO talent.{table} (record_id, embedding, lexical, data_version, model)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (record_id) DO UPDATE SET embedding = EXCLUDED.embedding, lexical = EXCLUDED.lexical,
                    data_version = EXCLUDED.data_version, model = EXCLUDED.model, updated_at = now()
                """,
                rows,
            )
    done.counts = lineage.record_outcomes(
        conn,
        entity,
        "vectors",
        done.outcomes,
        code_version=code_version or "",
        run_id=meter.context.run_id,
        attempts=attempts or {},
        max_attempts=max_attempts or get_settings().max_attempts,
    )
    if stopped is not None:
        conn.commit()
        raise stopped
    return done


def _version(embedder, profile_version: str, text: str) -> str:
    key = f"{embedder.model}:{embedder.dim}:{lexical.LEXICAL_VERSION}:{profile_version}:{text}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _embed_chunk(embedder, meter: Meter, chunk: list[str], texts: list[str], outcomes: dict, done: Processed) -> list:
    """(record id, vector) for each record of a chunk that embedded: the chunk in one call, or, when
    that call fails, each record alone so the failure stays with the record that caused it. Tokens
    and cost of a shared call are divided evenly among its records."""
    from talent_shared.llm.meter import BudgetExceeded

    before = meter.totals.cost_usd, meter.totals.input_tokens
    try:
        matrix, usage = embedder.embed(texts, partitions=chunk)
    except BudgetExceeded:
        raise
    except Exception as exc:
        if len(chunk) == 1:
            outcomes[chunk[0]].error = f"{type(exc).__name__}: {exc}"
            return []
        out = []
        for record_id, text in zip(chunk, texts, strict=True):
            out += _embed_chunk(embedder, meter, [record_id], [text], outcomes, done)
        return out
    done.usages.append(usage)
    cost, tokens = meter.totals.cost_usd - before[0], meter.totals.input_tokens - before[1]
    for record_id in chunk:
        outcomes[record_id].cost_usd = cost / len(chunk)
        outcomes[record_id].input_tokens = tokens // len(chunk)
    return list(zip(chunk, matrix, strict=True))
