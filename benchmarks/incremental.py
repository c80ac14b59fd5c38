"""The stored records of the ``incremental`` suite, built as the pipeline would and bulk-loaded.

Records come from ``talent_platform.seed.generate``; profiles from the local rule extractor with
each location's own prompt and reader; the embedded text is the pipeline's (``record_text``: the
profile, the listed skills, the record's words) through ``LocalEmbedder`` (384-d) with its lexical
vector, and both data versions are computed as ``normalize`` and ``embed`` compute them. Loading
skips the pipeline's per-record path: profiles and vectors go in with ``COPY`` (binary for the
vectors), which is all ``run_matching`` reads. The HNSW indexes of migration 0003 are dropped in
these databases: matching never uses them and maintaining them would make loading 25k vectors
take minutes.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass

import numpy as np
import psycopg

from benchmarks.common import log
from benchmarks.data import DIM


@dataclass
class Records:
    entity: str
    ids: list[str]
    profiles: list[str]  # the profile JSON as normalize stores it
    profile_versions: list[str]
    vectors: np.ndarray
    lexical: np.ndarray
    versions: list[str]  # the vectors' data versions
    model: str

    def __len__(self) -> int:
        return len(self.ids)

    def rows(self, start: int, stop: int) -> Records:
        return Records(
            self.entity,
            self.ids[start:stop],
            self.profiles[start:stop],
            self.profile_versions[start:stop],
            self.vectors[start:stop],
            self.lexical[start:stop],
            self.versions[start:stop],
            self.model,
        )


def build(entity: str, n: int, seed: int) -> Records:
    from talent_candidates.definitions import pipeline as candidates_pipeline
    from talent_jobs.definitions import pipeline as jobs_pipeline
    from talent_platform.seed import generate
    from talent_shared import lexical
    from talent_shared.providers.local import LocalEmbedder, LocalLLM
    from talent_shared.vectors import record_text

    started = time.perf_counter()
    cands, jobs = generate(n if entity == "candidate" else 0, n if entity == "job" else 0, seed)
    records = cands or jobs
    spec = candidates_pipeline if entity == "candidate" else jobs_pipeline
    llm, embedder = LocalLLM(), LocalEmbedder(DIM)
    profiles = [llm.extract_profile(spec.prompt, *spec.reader(r))[0] for r in records]
    texts = [record_text(p, r, spec.reader) for p, r in zip(profiles, records, strict=True)]
    vectors, _ = embedder.embed(texts)
    key = f"{embedder.model}:{embedder.dim}:{lexical.LEXICAL_VERSION}:"
    out = Records(
        entity,
        [r["id"] for r in records],
        [json.dumps(p.model_dump(mode="json")) for p in profiles],
        [_sha(p.model_dump_json()) for p in profiles],
        np.asarray(vectors, dtype=np.float32),
        np.vstack([lexical.vector(t) for t in texts]),
        [_sha(key + t) for t in texts],
        embedder.model,
    )
    log(f"built {n:,} {entity}s in {time.perf_counter() - started:.1f}s ({len(set(texts)):,} distinct texts)")
    return out


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def store(conn: psycopg.Connection, records: Records) -> None:
    """Profiles and vectors of ``records`` as the pipeline leaves them (not committed)."""
    table = {"candidate": "candidate_vectors", "job": "job_vectors"}[records.entity]
    with conn.cursor() as cur:
        with cur.copy(
            "COPY talent.profiles (entity, record_id, profile, data_version, code_version) FROM STDIN"
        ) as copy:
            for rid, profile, version in zip(records.ids, records.profiles, records.profile_versions, strict=True):
                copy.write_row((records.entity, rid, profile, version, "bench"))
        with cur.copy(
            f"COPY talent.{table} (record_id, embedding, lexical, data_version, model) FROM STDIN WITH (FORMAT BINARY)"
        ) as copy:
            copy.set_types(["text", "vector", "vector", "text", "text"])
            for i, rid in enumerate(records.ids):
                copy.write_row((rid, records.vectors[i], records.lexical[i], records.versions[i], records.model))


def fresh_database(url: str, name: str) -> str:
    """An empty, migrated database ``name`` on the benchmarks' server, without the HNSW indexes."""
    from benchmarks.pg import _db_url
    from talent_shared.db.connection import connect
    from talent_shared.db.migrations import migrate

    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    db_url = _db_url(url, name)
    with connect(db_url) as conn:
        migrate(conn, dim=DIM)
        conn.execute("DROP INDEX talent.job_vectors_embedding_hnsw, talent.candidate_vectors_embedding_hnsw")
    return db_url


def vacuum(db_url: str) -> None:
    """What autovacuum does to a database in steady state: statistics and visibility maps."""
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
