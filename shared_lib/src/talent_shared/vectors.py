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
from talent_shared.profiles import load_payloads, load_profiles
from talent_shared.providers.base import EmbeddingProvider, Profile, Usage

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
) -> tuple[dict[str, str], list[Usage]]:
    """Embed and store records (:func:`record_text`; the profile's text alone without ``to_input``) through :class:`~talent_shared.llm.client.MeteredEmbedder`: one
    ledger row per batch (its partitions on the row), texts cached one by one for paid providers."""
    from talent_shared.llm.client import MeteredEmbedder
    from talent_shared.llm.meter import Meter

    own_meter = meter is None
    meter = meter or Meter(conn=conn)
    metered = embedder if isinstance(embedder, MeteredEmbedder) else MeteredEmbedder(embedder, meter)
    try:
        return _embed(conn, entity, ids, metered, to_input)
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
    """:func:`record_text` of each stored record (the cost estimate samples these too)."""
    profiles = load_profiles(conn, entity, ids)
    missing = sorted(set(ids) - set(profiles))
    if missing:
        raise LookupError(f"{len(missing)} {entity} partitions have no profile (first: {missing[0]})")
    payloads = load_payloads(conn, entity, ids) if to_input is not None else {}
    return {i: record_text(profiles[i], payloads.get(i), to_input) for i in ids}


def _embed(
    conn: psycopg.Connection, entity: str, ids: Sequence[str], embedder, to_input: ExtractionInput | None
) -> tuple[dict[str, str], list[Usage]]:
    all_texts = texts_for(conn, entity, ids, to_input)
    # The profile's own version goes into the vector's: matching scores profile fields the text
    # leaves out (years of experience) and finds what to re-match by the vector's version alone.
    profile_versions: dict[str, str] = dict(
        conn.execute(
            "SELECT record_id, data_version FROM talent.profiles WHERE entity = %s AND record_id = ANY(%s)",
            (entity, list(ids)),
        ).fetchall()
    )
    versions: dict[str, str] = {}
    usages: list[Usage] = []
    table = TABLES[entity]
    for start in range(0, len(ids), BATCH):
        chunk = list(ids[start : start + BATCH])
        texts = [all_texts[i] for i in chunk]
        matrix, usage = embedder.embed(texts, partitions=chunk)
        usages.append(usage)
        rows = []
        for record_id, text, vec in zip(chunk, texts, matrix, strict=True):
            key = f"{embedder.model}:{embedder.dim}:{lexical.LEXICAL_VERSION}:{profile_versions[record_id]}:{text}"
            version = hashlib.sha256(key.encode()).hexdigest()[:32]
            versions[record_id] = version
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
    return versions, usages
