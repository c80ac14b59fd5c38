"""The hybrid match score, vectorised over blocks of candidates and jobs.

``score = 0.6 * max(cosine, 0) + 0.3 * skill_overlap + 0.1 * experience_fit`` where
``skill_overlap`` is the share of the job's skills the candidate has and ``experience_fit`` is the
candidate's years over the job's minimum, capped at 1 (1 when the job asks for none). Vector
similarity carries meaning the taxonomy misses; the two explicit terms keep a recruiter's hard
requirements from being drowned by wording. Change the weights here and bump ``SCORE_VERSION`` in
``versions.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from talent_shared.providers.base import Profile
from talent_shared.taxonomy import SKILLS

W_SIM, W_SKILLS, W_EXPERIENCE = 0.6, 0.3, 0.1
_SKILL_INDEX = {name: i for i, name in enumerate(SKILLS)}


@dataclass
class Side:
    """One side of the cross-join, aligned by row: ids, unit vectors, skills and years."""

    ids: list[str]
    versions: list[str]
    vectors: np.ndarray  # (n, d) float32, L2-normalised
    skills: np.ndarray  # (n, |taxonomy|) float32 multi-hot
    years: np.ndarray  # (n,) float32

    @classmethod
    def build(
        cls, ids: Sequence[str], versions: Sequence[str], vectors: np.ndarray, profiles: Sequence[Profile]
    ) -> Side:
        skills = np.zeros((len(ids), len(_SKILL_INDEX)), dtype=np.float32)
        for row, profile in enumerate(profiles):
            for skill in profile.skills:
                if skill in _SKILL_INDEX:
                    skills[row, _SKILL_INDEX[skill]] = 1.0
        years = np.asarray([p.years_experience for p in profiles], dtype=np.float32)
        return cls(list(ids), list(versions), np.asarray(vectors, dtype=np.float32), skills, years)

    def take(self, rows: Sequence[int]) -> Side:
        idx = np.asarray(rows, dtype=np.int64)
        return Side(
            [self.ids[i] for i in idx],
            [self.versions[i] for i in idx],
            self.vectors[idx],
            self.skills[idx],
            self.years[idx],
        )

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Components:
    score: np.ndarray
    similarity: np.ndarray
    overlap: np.ndarray
    fit: np.ndarray


@dataclass
class Parts:
    """The float32 terms of a block's scores, before the six-decimal rounding of ``score_block``."""

    score: np.ndarray  # float32; score_block's score is round(float64(this), 6)
    similarity: np.ndarray
    overlap: np.ndarray
    fit: np.ndarray


def score_parts(candidates: Side, jobs: Side) -> Parts:
    """The float32 arithmetic of the score, every operation in the order of the formula.

    In place where it can be: on 512 x 100k blocks each full-size temporary is a 200 MB pass over
    memory, and those passes, not the matrix product, were most of the time (benchmarks/README.md).
    Bit for bit the values of the plain expression.
    """
    similarity = candidates.vectors @ jobs.vectors.T
    job_skill_counts = jobs.skills.sum(axis=1)
    overlap = candidates.skills @ jobs.skills.T
    overlap /= np.maximum(job_skill_counts, 1.0)[None, :]
    need = jobs.years
    asks = need > 0
    fit = candidates.years[:, None] / np.where(asks, need, np.float32(1.0))[None, :]
    np.minimum(fit, np.float32(1.0), out=fit)
    if not asks.all():
        fit[:, ~asks] = 1.0
    score = np.maximum(similarity, np.float32(0.0))
    score *= np.float32(W_SIM)
    term = np.multiply(overlap, np.float32(W_SKILLS))
    score += term
    np.multiply(fit, np.float32(W_EXPERIENCE), out=term)
    score += term
    return Parts(score, similarity, overlap, fit)


TILE = 1 << 21  # elements per tile of the elementwise pass (8 MB of float32: stays in cache)


def block_scores(
    candidates: Side,
    jobs: Side,
    *,
    out_similarity: np.ndarray | None = None,
    out_score: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(score, similarity)``, float32, shape (nc, nj): ``score_parts``' values without its
    full-size overlap and fit matrices (see :func:`pair_terms` for the few pairs that need them).

    One matrix product for the similarities (the same call as ``score_block``, so the same bits),
    then the rest of the formula tile by tile in cache, into ``out_score`` when given: allocating
    and first-touching 200 MB temporaries per term cost more than the product itself.
    """
    similarity = np.matmul(candidates.vectors, jobs.vectors.T, out=out_similarity)
    score = np.empty_like(similarity) if out_score is None else out_score
    counts = np.maximum(jobs.skills.sum(axis=1), 1.0)
    asks = jobs.years > 0
    need = np.where(asks, jobs.years, np.float32(1.0))
    nc, nj = similarity.shape
    if nj >= nc:
        step = max(1, TILE // max(nc, 1))
        for j0 in range(0, nj, step):
            j = slice(j0, j0 + step)
            _fill(
                score[:, j],
                similarity[:, j],
                candidates.skills,
                candidates.years,
                jobs.skills[j],
                counts[j],
                need[j],
                asks[j],
            )
    else:
        step = max(1, TILE // max(nj, 1))
        for i0 in range(0, nc, step):
            i = slice(i0, i0 + step)
            _fill(score[i], similarity[i], candidates.skills[i], candidates.years[i], jobs.skills, counts, need, asks)
    return score, similarity


def _fill(out, similarity, c_skills, c_years, j_skills, counts, need, asks) -> None:
    """``0.6 * max(sim, 0) + 0.3 * overlap + 0.1 * fit`` into ``out``, in the formula's order."""
    np.maximum(similarity, np.float32(0.0), out=out)
    out *= np.float32(W_SIM)
    term = c_skills @ j_skills.T
    term /= counts[None, :]
    term *= np.float32(W_SKILLS)
    out += term
    np.divide(c_years[:, None], need[None, :], out=term)
    np.minimum(term, np.float32(1.0), out=term)
    if not asks.all():
        term[:, ~asks] = 1.0
    term *= np.float32(W_EXPERIENCE)
    out += term


def pair_terms(candidates: Side, jobs: Side, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Skill overlap and experience fit (float32) of the pairs ``(candidates[rows], jobs[cols])``:
    the same values as ``score_parts``' matrices at those positions."""
    j_skills = jobs.skills[cols]
    overlap = (candidates.skills[rows] * j_skills).sum(axis=1, dtype=np.float32)
    overlap /= np.maximum(j_skills.sum(axis=1), 1.0)
    need = jobs.years[cols]
    asks = need > 0
    fit = candidates.years[rows] / np.where(asks, need, np.float32(1.0))
    np.minimum(fit, np.float32(1.0), out=fit)
    fit[~asks] = 1.0
    return overlap, fit


def _rounded(score: np.ndarray) -> np.ndarray:
    # float32 matrix products round differently with the block shape; six decimals make equal
    # profiles tie exactly, so ranks do not depend on how the work was batched
    return np.round(score.astype(np.float64), 6)


def score_block(candidates: Side, jobs: Side) -> Components:
    """Scores of every candidate in the block against every job in the block, shape (nc, nj)."""
    parts = score_parts(candidates, jobs)
    return Components(_rounded(parts.score), parts.similarity, parts.overlap, parts.fit)


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k best scores of each row, best first; ties go to the lower index
    (sides are ordered by id, so a tie resolves the same way however the work was batched)."""
    k = min(k, scores.shape[1])
    if k == 0:
        return np.zeros((scores.shape[0], 0), dtype=np.int64)
    kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1]
    out = np.empty((scores.shape[0], k), dtype=np.int64)
    for row in range(scores.shape[0]):
        cand = np.flatnonzero(scores[row] >= kth[row])
        order = np.lexsort((cand, -scores[row, cand]))
        out[row] = cand[order[:k]]
    return out


def contenders(score32: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row, every column whose rounded score reaches the row's k-th best rounded score.

    ``(rows, cols, rounded scores)`` sorted by row, then score descending, then column: the first
    ``min(k, n_cols)`` of each row are exactly ``top_k(round(float64(score32), 6), k)``; the
    rest tie with the k-th. Rounding is monotone, so the k-th best rounded score is the rounding of
    the k-th best float32 one, found with float32 partitions tile by tile (the k-th of a row is
    among its tiles' k best); only the few columns near it are widened and rounded (a rounded tie
    can sit up to half a millionth below the float32 k-th).
    """
    n_rows, n_cols = score32.shape
    k = min(k, n_cols)
    if k == 0 or n_rows == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0, dtype=np.float64)
    step = max(k, TILE // n_rows)
    tiles = [(j0, min(j0 + step, n_cols)) for j0 in range(0, n_cols, step)]
    best = []
    for j0, j1 in tiles:
        kk = min(k, j1 - j0)
        best.append(np.partition(score32[:, j0:j1], j1 - j0 - kk, axis=1)[:, j1 - j0 - kk :])
    pool = np.concatenate(best, axis=1) if len(best) > 1 else best[0]
    kth32 = np.partition(pool, pool.shape[1] - k, axis=1)[:, pool.shape[1] - k]
    kth = _rounded(kth32)
    lower = np.minimum(kth32, (kth - 1e-6).astype(np.float32))[:, None]
    found_rows, found_cols = [], []
    for j0, j1 in tiles:
        r, c = np.nonzero(score32[:, j0:j1] >= lower)
        found_rows.append(r)
        found_cols.append(c + j0)
    rows, cols = np.concatenate(found_rows), np.concatenate(found_cols)
    values = _rounded(score32[rows, cols])
    keep = values >= kth[rows]
    rows, cols, values = rows[keep], cols[keep], values[keep]
    order = np.lexsort((cols, -values, rows))
    return rows[order], cols[order], values[order]


def first_k(rows: np.ndarray, k: int) -> np.ndarray:
    """Mask of the first k entries of each row in ``contenders`` output (the top k proper)."""
    if rows.size == 0:
        return np.zeros(0, dtype=bool)
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    position = np.arange(rows.size) - np.repeat(starts, np.diff(np.r_[starts, rows.size]))
    return position < k
