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
    def build(cls, ids: Sequence[str], versions: Sequence[str], vectors: np.ndarray, profiles: Sequence[Profile]) -> Side:
        skills = np.zeros((len(ids), len(_SKILL_INDEX)), dtype=np.float32)
        for row, profile in enumerate(profiles):
            for skill in profile.skills:
                if skill in _SKILL_INDEX:
                    skills[row, _SKILL_INDEX[skill]] = 1.0
        years = np.asarray([p.years_experience for p in profiles], dtype=np.float32)
        return cls(list(ids), list(versions), np.asarray(vectors, dtype=np.float32), skills, years)

    def take(self, rows: Sequence[int]) -> Side:
        idx = np.asarray(rows, dtype=np.int64)
        return Side([self.ids[i] for i in idx], [self.versions[i] for i in idx], self.vectors[idx], self.skills[idx], self.years[idx])

    def __len__(self) -> int:
        return len(self.ids)


@dataclass
class Components:
    score: np.ndarray
    similarity: np.ndarray
    overlap: np.ndarray
    fit: np.ndarray


def score_block(candidates: Side, jobs: Side) -> Components:
    """Scores of every candidate in the block against every job in the block, shape (nc, nj)."""
    similarity = candidates.vectors @ jobs.vectors.T
    job_skill_counts = jobs.skills.sum(axis=1)
    overlap = (candidates.skills @ jobs.skills.T) / np.maximum(job_skill_counts, 1.0)[None, :]
    need = jobs.years[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        fit = np.where(need > 0, np.minimum(candidates.years[:, None] / np.where(need > 0, need, 1.0), 1.0), 1.0)
    score = W_SIM * np.maximum(similarity, 0.0) + W_SKILLS * overlap + W_EXPERIENCE * fit
    # float32 matrix products round differently with the block shape; six decimals make equal
    # profiles tie exactly, so ranks do not depend on how the work was batched
    score = np.round(score.astype(np.float64), 6)
    return Components(score, similarity, overlap.astype(np.float32), fit.astype(np.float32))


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
