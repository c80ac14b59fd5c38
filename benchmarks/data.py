"""The benchmark data: 100k jobs and 1,000+ candidates, embeddings of text, cached under ``.bench/``.

Records come from ``talent_platform.seed.generate``, profiles from the local rule extractor, vectors
from ``LocalEmbedder`` (384-d): embeddings of text, never random vectors (random vectors say nothing
about HNSW recall on text). Candidates are embedded exactly as the pipeline does
(``Profile.embedding_text``). Jobs are embedded from a richer text, the profile's title,
seniority and skills plus the posting's own words (description, company, city): the pipeline's
short text gives only ~8.9k distinct vectors among 100k synthetic jobs (nine professions, a few
titles and skills each), ~780 identical copies of the commonest, which is neither what a real job
board looks like nor a fair test of an index. With the posting's words 99.9 % are distinct.

``vectors`` are the embedder's unit vectors, as the pipeline stores them in ``talent.*_vectors``
(what the ``nearest`` suite loads into pgvector); :meth:`Dataset.side` puts them on matching's
grid (``score.on_grid``), as the cross-join does when it reads them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.common import BENCH, log

DIM = 384
JOBS_SEED, CANDIDATES_SEED = 11, 12
# bump when the generation below changes: the cache is keyed by it (v2: + lexical; v3: ``vectors``
# are the embedder's unit vectors, no longer on matching's grid, whose rounding moved pgvector's
# cosine distances up to ~1e-3 away from ``1 - dot``; v4: lexical vectors of lex-2, word rarity and
# stems, and profiles of the rules-2 extractor)
DATA_VERSION = "v4"


@dataclass
class Dataset:
    ids: list[str]
    vectors: np.ndarray  # (n, 384) float32, unit length: the embedder's output, as stored in Postgres
    skills: np.ndarray  # (n, |taxonomy|) float32 multi-hot, as talent_matching.score.Side builds it
    years: np.ndarray  # (n,) float32
    build_seconds: float  # generation + extraction + embedding, when it was built
    lexical: np.ndarray  # (n, talent_shared.lexical.DIM) float32: the lexical vectors of the same texts

    def __len__(self) -> int:
        return len(self.ids)

    def head(self, n: int) -> Dataset:
        return Dataset(
            self.ids[:n], self.vectors[:n], self.skills[:n], self.years[:n], self.build_seconds, self.lexical[:n]
        )

    def side(self):
        from talent_matching.score import Side, on_grid

        return Side(list(self.ids), list(self.ids), on_grid(self.vectors), self.skills, self.years, self.lexical)


def _job_text(profile, record: dict) -> str:
    skills = ", ".join(profile.skills)
    return (
        f"{profile.title}. {profile.seniority}{' remote' if profile.remote else ''}. {record['description']}"
        f" {record['company']} {record['location']}. skills: {skills}."
    )


def _build(entity: str, n: int, seed: int) -> Dataset:
    from talent_candidates.definitions import pipeline as candidates_pipeline
    from talent_jobs.definitions import pipeline as jobs_pipeline
    from talent_matching.score import Side
    from talent_platform.seed import generate
    from talent_shared.providers.local import LocalEmbedder, LocalLLM

    started = time.perf_counter()
    cands, jobs = generate(n if entity == "candidate" else 0, n if entity == "job" else 0, seed)
    records = cands or jobs
    llm, embedder = LocalLLM(), LocalEmbedder(DIM)
    spec = candidates_pipeline if entity == "candidate" else jobs_pipeline
    profiles = [llm.extract_profile(spec.prompt, *spec.reader(r))[0] for r in records]
    t_extract = time.perf_counter() - started
    if entity == "candidate":
        texts = [p.embedding_text() for p in profiles]
    else:
        texts = [_job_text(p, r) for p, r in zip(profiles, records, strict=True)]
    vectors, _ = embedder.embed(texts)
    from talent_shared import lexical

    lex = np.vstack([lexical.vector(t) for t in texts])
    ids = [r["id"] for r in records]
    side = Side.build(ids, ids, vectors, profiles, lex)
    seconds = time.perf_counter() - started
    log(f"built {n:,} {entity}s in {seconds:.1f}s (extraction {t_extract:.1f}s, {len(set(texts)):,} distinct texts)")
    return Dataset(ids, np.asarray(vectors, dtype=np.float32), side.skills, side.years, seconds, side.lexical)


def load(entity: str, n: int) -> Dataset:
    """``n`` jobs or candidates, from the cache when it has them."""
    seed = JOBS_SEED if entity == "job" else CANDIDATES_SEED
    path: Path = BENCH / "data" / f"{entity}s-{n}-s{seed}-{DATA_VERSION}.npz"
    if path.exists():
        with np.load(path) as z:
            return Dataset(
                z["ids"].tolist(),
                z["vectors"],
                z["skills"].astype(np.float32),
                z["years"],
                float(z["build_seconds"]),
                z["lexical"],
            )
    data = _build(entity, n, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp.npz")
    np.savez(
        tmp,
        ids=np.asarray(data.ids),
        vectors=data.vectors,
        skills=data.skills.astype(np.uint8),
        years=data.years,
        build_seconds=data.build_seconds,
        lexical=data.lexical,
    )
    tmp.replace(path)
    return data
