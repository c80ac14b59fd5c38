"""The hybrid match score, vectorised over blocks of candidates and jobs.

``score = relevance * gate`` with ``relevance = W_SIM * max(cosine, 0) + W_SKILLS * skill_overlap
+ W_LEXICAL * max(lexical, 0)`` and ``gate = 1 - W_SENIORITY * (1 - seniority_fit) - W_EXPERIENCE *
(1 - experience_fit)``, where

- ``cosine`` is the dense similarity of the two records' embeddings (their own words, see
  ``talent_shared.vectors``), carrying meaning: "torch" near "PyTorch", "iOS" near "SwiftUI";
- ``lexical`` is the cosine of their hashed term vectors (``talent_shared.lexical``), each word
  weighted by its rarity in general English: the words that set two near-identical postings apart
  (Swift vs Kotlin at the same company) and that an embedding blurs, and the trade's own words
  (journeyman, balayage, DVM) that a general model knows little of. It carries most of the
  relevance because it knows no trade in particular: the taxonomy and the model were built
  around software. It needs no corpus statistics, so a pair's score never changes when other
  records arrive, and the incremental cross-join stays equal to a recompute;
- ``skill_overlap`` is the share of the job's taxonomy skills the candidate has;
- ``experience_fit`` is the candidate's years over the job's minimum, capped at 1 (1 when the job
  asks for none): under-qualification;
- ``seniority_fit`` is 1 minus ``UNDER`` per level the candidate is below the job and ``OVER`` per
  level above it (intern < junior < mid < senior < lead < principal), so fit works both ways: a
  9-year senior prefers the senior job to the junior one.

A candidate whose profile says nothing about experience (0 years and the default "junior": no
years field, no "N years" in the text, no level word in the title) is not a junior, just unknown:
both experience terms are 1 for them (``years`` = ``UNKNOWN_YEARS``, level ``UNKNOWN_LEVEL``)
rather than pushing them towards entry-level jobs.

Vectors are put on a grid of 2^-11 (``on_grid``) before they are multiplied: every product is
then a multiple of 2^-22 and every partial sum of a dot product (at most ~1 in magnitude for unit
vectors) is exact in float32, so a similarity has the same bits whatever the block shape, BLAS
kernel or summation order, and the incremental cross-join equals a recompute to the last bit even
with dense embeddings (whose float32 sums otherwise differ in the 7th decimal between a 1 x n and
a 512 x n product). The grid moves a cosine by ~1e-4 at most.

Change the weights here and bump ``SCORE_VERSION`` in ``versions.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from talent_shared.providers.base import Profile
from talent_shared.taxonomy import SKILLS

# chosen on every labelled set but heldout-blind (benchmarks/quality.py, tests/data/quality/README.md).
# The relevance weights sum to 1 and the gate is at most 1, so a score is at most 1.
W_SIM, W_SKILLS, W_LEXICAL = 0.26, 0.07, 0.67
W_SENIORITY, W_EXPERIENCE = 0.45, 0.05  # the share of the relevance a full level / years mismatch takes
UNDER, OVER = 0.25, 0.25  # seniority_fit lost per level below / above the job's
LEVELS = {"intern": 0, "junior": 1, "mid": 2, "senior": 3, "lead": 4, "principal": 5}
UNKNOWN_LEVEL = -1.0  # a candidate without any evidence of experience: seniority_fit 1
UNKNOWN_YEARS = 70.0  # the contract's maximum: experience_fit 1
GRID = np.float32(2.0**-11)
_SKILL_INDEX = {name: i for i, name in enumerate(SKILLS)}


def on_grid(vectors: np.ndarray) -> np.ndarray:
    """``vectors`` rounded to multiples of ``GRID`` (float32): their dot products are exact."""
    out = np.asarray(vectors, dtype=np.float32) / GRID
    np.rint(out, out=out)
    out *= GRID
    return out


@dataclass
class Side:
    """One side of the cross-join, aligned by row: ids, unit vectors, skills, years, lexical vectors
    and seniority levels. ``lexical`` may have 0 columns (no lexical evidence: that term is 0)."""

    ids: list[str]
    versions: list[str]
    vectors: np.ndarray  # (n, d) float32, L2-normalised
    skills: np.ndarray  # (n, |taxonomy|) float32 multi-hot
    years: np.ndarray  # (n,) float32
    lexical: np.ndarray | None = None  # (n, L) float32, unit length or zero rows
    levels: np.ndarray | None = None  # (n,) float32, LEVELS of the profiles' seniority

    def __post_init__(self) -> None:
        n = len(self.ids)
        if self.lexical is None:
            self.lexical = np.zeros((n, 0), np.float32)
        if self.levels is None:
            self.levels = np.full(n, LEVELS["mid"], np.float32)

    @classmethod
    def build(
        cls,
        ids: Sequence[str],
        versions: Sequence[str],
        vectors: np.ndarray,
        profiles: Sequence[Profile],
        lexical: np.ndarray | None = None,
        *,
        candidates: bool = False,
    ) -> Side:
        return cls.from_fields(
            ids,
            versions,
            vectors,
            [p.skills for p in profiles],
            [p.years_experience for p in profiles],
            [p.seniority for p in profiles],
            lexical,
            candidates=candidates,
        )

    @classmethod
    def from_fields(
        cls,
        ids: Sequence[str],
        versions: Sequence[str],
        vectors: np.ndarray,
        skills: Sequence[Sequence[str]],
        years: Sequence[float],
        seniority: Sequence[str],
        lexical: np.ndarray | None = None,
        *,
        candidates: bool = False,
    ) -> Side:
        """``build`` from the three scored fields of each profile as stored: matching reads them
        straight from the JSON for thousands of records, where a validated ``Profile`` each would
        cost more than the scoring itself."""
        hot = np.zeros((len(ids), len(_SKILL_INDEX)), dtype=np.float32)
        for row, names in enumerate(skills):
            for skill in names:
                if skill in _SKILL_INDEX:
                    hot[row, _SKILL_INDEX[skill]] = 1.0
        unknown = [candidates and y == 0 and s == "junior" for y, s in zip(years, seniority, strict=True)]
        years_arr = np.asarray(
            [UNKNOWN_YEARS if u else y for y, u in zip(years, unknown, strict=True)], dtype=np.float32
        )
        levels = np.asarray(
            [UNKNOWN_LEVEL if u else LEVELS[s] for s, u in zip(seniority, unknown, strict=True)], dtype=np.float32
        )
        lex = None if lexical is None else on_grid(lexical)
        return cls(list(ids), list(versions), on_grid(vectors), hot, years_arr, lex, levels)

    def take(self, rows: Sequence[int]) -> Side:
        idx = np.asarray(rows, dtype=np.int64)
        assert self.lexical is not None and self.levels is not None
        return Side(
            [self.ids[i] for i in idx],
            [self.versions[i] for i in idx],
            self.vectors[idx],
            self.skills[idx],
            self.years[idx],
            self.lexical[idx],
            self.levels[idx],
        )

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Components:
    score: np.ndarray
    similarity: np.ndarray
    overlap: np.ndarray
    fit: np.ndarray
    lexical: np.ndarray
    seniority: np.ndarray


@dataclass
class Parts:
    """The float32 terms of a block's scores, before the six-decimal rounding of ``score_block``."""

    score: np.ndarray  # float32; score_block's score is round(float64(this), 6)
    similarity: np.ndarray
    overlap: np.ndarray
    fit: np.ndarray
    lexical: np.ndarray
    seniority: np.ndarray


def _lexical(c_lex: np.ndarray, j_lex: np.ndarray) -> np.ndarray:
    if c_lex.shape[1] == 0 or j_lex.shape[1] == 0:
        return np.zeros((c_lex.shape[0], j_lex.shape[0]), np.float32)
    return c_lex @ j_lex.T


def _fit_table(under: float, over: float) -> np.ndarray:
    """seniority_fit for every (candidate level, job level), indexed by level + 1 (unknown = 0)."""
    levels = [UNKNOWN_LEVEL, *sorted(LEVELS.values())]
    table = np.ones((len(levels), len(levels)), np.float32)
    for a, c in enumerate(levels):
        for b, j in enumerate(levels):
            if c >= 0 and j >= 0:
                table[a, b] = max(0.0, 1.0 - under * max(0.0, j - c) - over * max(0.0, c - j))
    return table


def _index(levels: np.ndarray) -> np.ndarray:
    return levels.astype(np.intp) + 1


def _seniority(c_levels: np.ndarray, j_levels: np.ndarray) -> np.ndarray:
    """The (nc, nj) seniority_fit matrix: one gather from the level table (a handful of levels, so
    no full-size arithmetic temporaries)."""
    return _fit_table(UNDER, OVER)[_index(c_levels)[:, None], _index(j_levels)[None, :]]


def score_parts(candidates: Side, jobs: Side) -> Parts:
    """The float32 arithmetic of the score, every operation in the order of the formula.

    Bit for bit the values ``block_scores`` computes tile by tile.
    """
    assert candidates.lexical is not None and jobs.lexical is not None
    assert candidates.levels is not None and jobs.levels is not None
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
    lexical = _lexical(candidates.lexical, jobs.lexical)
    seniority = _seniority(candidates.levels, jobs.levels)
    return Parts(combine(similarity, overlap, fit, lexical, seniority), similarity, overlap, fit, lexical, seniority)


def combine(
    similarity: np.ndarray, overlap: np.ndarray, fit: np.ndarray, lexical: np.ndarray, seniority: np.ndarray
) -> np.ndarray:
    """The score from its terms, float32, every operation in the order of the formula (the
    benchmarks re-score with one term replaced through this, so they measure the matcher's own
    arithmetic)."""
    score = np.maximum(similarity, np.float32(0.0))
    score *= np.float32(W_SIM)
    term = np.multiply(overlap, np.float32(W_SKILLS))
    score += term
    np.maximum(lexical, np.float32(0.0), out=term)
    term *= np.float32(W_LEXICAL)
    score += term
    score *= _gate(seniority, fit)
    return score


def _gate(seniority: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """``1 - W_SENIORITY * (1 - seniority_fit) - W_EXPERIENCE * (1 - experience_fit)``, float32, in a
    new array.

    A factor on the relevance rather than a term beside it: level and years reorder postings that
    are about equally relevant (the senior and the junior job of one trade) but cannot lift an
    unrelated job over a relevant one, which an added term did (a 12-year custodian ranked to a
    senior stylist's job, both "senior", above the custodian job)."""
    gate = np.subtract(np.float32(1.0), seniority)
    gate *= np.float32(-W_SENIORITY)
    gate += np.float32(1.0)
    miss = np.subtract(np.float32(1.0), fit)
    miss *= np.float32(W_EXPERIENCE)
    gate -= miss
    return gate


TILE = 1 << 21  # elements per tile of the elementwise pass (8 MB of float32: stays in cache)


def block_scores(
    candidates: Side,
    jobs: Side,
    *,
    out_similarity: np.ndarray | None = None,
    out_score: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(score, similarity)``, float32, shape (nc, nj): ``score_parts``' values without its
    full-size term matrices (see :func:`pair_terms` for the few pairs that need them).

    One matrix product for the similarities (the same call as ``score_block``, so the same bits),
    then the rest of the formula tile by tile in cache, into ``out_score`` when given: allocating
    and first-touching 200 MB temporaries per term cost more than the product itself.
    """
    assert candidates.lexical is not None and jobs.lexical is not None
    assert candidates.levels is not None and jobs.levels is not None
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
                _lexical(candidates.lexical, jobs.lexical[j]),
                candidates,
                _Cols(jobs.skills[j], counts[j], need[j], asks[j], jobs.levels[j]),
            )
    else:
        step = max(1, TILE // max(nj, 1))
        cols = _Cols(jobs.skills, counts, need, asks, jobs.levels)
        for i0 in range(0, nc, step):
            i = slice(i0, i0 + step)
            rows = candidates.take(range(i0, min(i0 + step, nc)))
            _fill(score[i], similarity[i], _lexical(rows.lexical, jobs.lexical), rows, cols)  # type: ignore[arg-type]
    return score, similarity


@dataclass
class _Cols:
    skills: np.ndarray
    counts: np.ndarray
    need: np.ndarray
    asks: np.ndarray
    levels: np.ndarray


def _fill(out, similarity, lexical, rows: Side, cols: _Cols) -> None:
    """The formula into ``out``, in ``score_parts``' order (``lexical`` is overwritten)."""
    assert rows.levels is not None
    np.maximum(similarity, np.float32(0.0), out=out)
    out *= np.float32(W_SIM)
    term = rows.skills @ cols.skills.T
    term /= cols.counts[None, :]
    term *= np.float32(W_SKILLS)
    out += term
    np.maximum(lexical, np.float32(0.0), out=lexical)
    lexical *= np.float32(W_LEXICAL)
    out += lexical
    np.divide(rows.years[:, None], cols.need[None, :], out=term)
    np.minimum(term, np.float32(1.0), out=term)
    if not cols.asks.all():
        term[:, ~cols.asks] = 1.0
    out *= _gate(_seniority(rows.levels, cols.levels), term)


def pair_terms(
    candidates: Side, jobs: Side, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Skill overlap, experience fit, lexical similarity and seniority fit (float32) of the pairs
    ``(candidates[rows], jobs[cols])``: the same values as ``score_parts``' matrices there."""
    assert candidates.lexical is not None and jobs.lexical is not None
    assert candidates.levels is not None and jobs.levels is not None
    j_skills = jobs.skills[cols]
    overlap = (candidates.skills[rows] * j_skills).sum(axis=1, dtype=np.float32)
    overlap /= np.maximum(j_skills.sum(axis=1), 1.0)
    need = jobs.years[cols]
    asks = need > 0
    fit = candidates.years[rows] / np.where(asks, need, np.float32(1.0))
    np.minimum(fit, np.float32(1.0), out=fit)
    fit[~asks] = 1.0
    if candidates.lexical.shape[1] and jobs.lexical.shape[1]:
        lexical = (candidates.lexical[rows] * jobs.lexical[cols]).sum(axis=1, dtype=np.float32)
    else:
        lexical = np.zeros(len(rows), np.float32)
    seniority = _fit_table(UNDER, OVER)[_index(candidates.levels[rows]), _index(jobs.levels[cols])]
    return overlap, fit, lexical, seniority


def rounded(score: np.ndarray) -> np.ndarray:
    # float32 matrix products round differently with the block shape; six decimals make equal
    # profiles tie exactly, so ranks do not depend on how the work was batched
    return np.round(score.astype(np.float64), 6)


def score_block(candidates: Side, jobs: Side) -> Components:
    """Scores of every candidate in the block against every job in the block, shape (nc, nj)."""
    parts = score_parts(candidates, jobs)
    return Components(rounded(parts.score), parts.similarity, parts.overlap, parts.fit, parts.lexical, parts.seniority)


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
    kth = rounded(kth32)
    lower = np.minimum(kth32, (kth - 1e-6).astype(np.float32))[:, None]
    found_rows, found_cols = [], []
    for j0, j1 in tiles:
        r, c = np.nonzero(score32[:, j0:j1] >= lower)
        found_rows.append(r)
        found_cols.append(c + j0)
    rows, cols = np.concatenate(found_rows), np.concatenate(found_cols)
    values = rounded(score32[rows, cols])
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
