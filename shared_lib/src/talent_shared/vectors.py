"""Embedding profiles into the pgvector tables, in batches the provider accepts."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import psycopg

from talent_shared.profiles import load_profiles
from talent_shared.providers.base import EmbeddingProvider, Usage

if TYPE_CHECKING:
    from talent_shared.llm.meter import Meter

TABLES = {"candidate": "candidate_vectors", "job": "job_vectors"}
BATCH = 512  # well under OpenAI's 2,048 inputs per request


def embed(
    conn: psycopg.Connection,
    entity: str,
    ids: Sequence[str],
    embedder: EmbeddingProvider,
    *,
    meter: Meter | None = None,
) -> tuple[dict[str, str], list[Usage]]:
    """Embed and store profiles through :class:`~talent_shared.llm.client.MeteredEmbedder`: one
    ledger row per batch (its partitions on the row), texts cached one by one for paid providers."""
    from talent_shared.llm.client import MeteredEmbedder
    from talent_shared.llm.meter import Meter

    own_meter = meter is None
    meter = meter or Meter(conn=conn)
    metered = embedder if isinstance(embedder, MeteredEmbedder) else MeteredEmbedder(embedder, meter)
    try:
        return _embed(conn, entity, ids, metered)
    finally:
        if own_meter:
            meter.close()


def _embed(conn: psycopg.Connection, entity: str, ids: Sequence[str], embedder) -> tuple[dict[str, str], list[Usage]]:
    profiles = load_profiles(conn, entity, ids)
    missing = sorted(set(ids) - set(profiles))
    if missing:
        raise LookupError(f"{len(missing)} {entity} partitions have no profile (first: {missing[0]})")
    versions: dict[str, str] = {}
    usages: list[Usage] = []
    table = TABLES[entity]
    for start in range(0, len(ids), BATCH):
        chunk = list(ids[start : start + BATCH])
        texts = [profiles[i].embedding_text() for i in chunk]
        matrix, usage = embedder.embed(texts, partitions=chunk)
        usages.append(usage)
        rows = []
        for record_id, text, vec in zip(chunk, texts, matrix, strict=True):
            version = hashlib.sha256(f"{embedder.model}:{embedder.dim}:{text}".encode()).hexdigest()[:32]
            versions[record_id] = version
            rows.append((record_id, np.asarray(vec, dtype=np.float32), version, embedder.model))
        with conn.cursor() as cur:
            cur.executemany(
                f"""
                INSERT INTO talent.{table} (record_id, embedding, data_version, model) VALUES (%s, %s, %s, %s)
                ON CONFLICT (record_id) DO UPDATE SET embedding = EXCLUDED.embedding,
                    data_version = EXCLUDED.data_version, model = EXCLUDED.model, updated_at = now()
                """,
                rows,
            )
    return versions, usages
