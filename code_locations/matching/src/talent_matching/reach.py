"""Which entities of one side a few changed entities of the other side can reach, asked of the
database before their features are read.

One new candidate is scored against every job, and reading a job's features (its vectors and
three profile fields, ~3.6 KB) is most of what the run costs: every job, for every arrival. Most
jobs cannot matter: a job matters only if the pair can enter the new candidate's top K or the
job's own list (not below the job's floor, ``features.Floors``). The database can tell which
without sending the vectors: pgvector computes both cosines in place, and the profile gives the
seniority and years of the gate. Per pair it bounds the score:

    lo = relevance' * gate - margin <= score <= (relevance' + W_SKILLS) * gate + margin = hi

where ``relevance'`` is the relevance without the skill overlap (at most 1, so at most
``W_SKILLS``) and ``margin`` covers what the database's cosines differ from the score's: the score
multiplies vectors put on a grid (``score.on_grid``, each component moved by at most half a grid
step), so by Cauchy-Schwarz a cosine of unit vectors moves by at most ``sqrt(d) * step``, plus
float32 sums and the six-decimal rounding. A pair can enter the new entity's list only if its
``hi`` is not below the K-th best ``lo`` (K pairs score at least that), and the other entity's
list only if its ``hi`` is not below that list's floor (or the list is shorter than K). The
features of those alone are read; the score, ranks and ties are then computed exactly as over the
whole side, so the lists are the same to the last bit (``test_crossjoin``'s recompute checks run
through this path).

The database still scans the side (a cosine pair per row, no transfer): with more than
``MOST_CHANGED`` changed entities the pairs cost more than reading the side once, and the side is
read whole as before.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import psycopg

from talent_matching import score
from talent_matching.features import OTHER, TABLES
from talent_shared.lexical import DIM as LEXICAL_DIM

MOST_CHANGED = 8
# the level names in the order of their values, which run 0, 1, 2...: a name's position - 1 is its level
LEVEL_NAMES = sorted(score.LEVELS, key=score.LEVELS.__getitem__)
if [score.LEVELS[name] for name in LEVEL_NAMES] != list(range(len(LEVEL_NAMES))):
    raise ValueError("score.LEVELS must run 0, 1, 2...: reach reads a level from its name's position")


def cosine_error(dim: int) -> float:
    """How far a cosine of two unit vectors on ``score.GRID`` can be from theirs off it: each vector moves
    by at most ``sqrt(dim) * score.GRID / 2``, the other's norm is at most ``1 + that``, both ways."""
    moved = math.sqrt(dim) * float(score.GRID) / 2
    return 2 * moved * (1 + moved) + dim * 2.0**-24  # + float32 accumulation in either sum


def margin(dim: int) -> float:
    """The most a score can be from the bounds' arithmetic, with room for rounding."""
    return score.W_SIM * cosine_error(dim) + score.W_LEXICAL * cosine_error(LEXICAL_DIM) + 1e-5


def _level(*, candidates: bool) -> tuple[str, str]:
    """SQL for a profile's level and years as ``Side.from_fields`` computes them (a candidate with
    0 years and the default "junior" is unknown: ``score.UNKNOWN_LEVEL``, ``score.UNKNOWN_YEARS``),
    from ``f``, the profile's two fields read once per row (each ``->>`` would unpack the JSON)."""
    years = "coalesce(f.years_experience, 0)"
    level = "array_position(%(levels)s::text[], f.seniority) - 1"  # NULL for no known level
    if not candidates:
        return level, years
    unknown = f"({years} = 0 AND f.seniority = 'junior')"
    return (
        f"CASE WHEN {unknown} THEN {score.UNKNOWN_LEVEL} ELSE {level} END",
        f"CASE WHEN {unknown} THEN {score.UNKNOWN_YEARS} ELSE {years} END",
    )


def _bounds(entity: str) -> str:
    """The ``bounds`` of every pair (an entity of ``entity``'s side, a changed one of the other),
    as SQL common table expressions ending in ``bounds(record_id, new_id, floor_score, lo, hi)``."""
    new = OTHER[entity]
    side_level, side_years = _level(candidates=entity == "candidate")
    new_level, new_years = _level(candidates=new == "candidate")
    # the candidate's and the job's level and years, whichever side is which
    c, j = ("s", "n") if entity == "candidate" else ("n", "s")
    seniority_fit = (
        f"CASE WHEN {c}.level < 0 OR {j}.level < 0 THEN 1.0 ELSE greatest(0.0, 1.0"
        f" - %(under)s * greatest(0.0, {j}.level - {c}.level) - %(over)s * greatest(0.0, {c}.level - {j}.level)) END"
    )
    experience_fit = f"CASE WHEN {j}.years > 0 THEN least({c}.years / {j}.years, 1.0) ELSE 1.0 END"
    return f"""
        WITH n AS (
            SELECT v.record_id, v.embedding, v.lexical, {new_level} AS level, {new_years} AS years
            FROM talent.{TABLES[new]} v
            JOIN talent.profiles p ON p.entity = %(new)s AND p.record_id = v.record_id
            CROSS JOIN LATERAL jsonb_to_record(p.profile) AS f(seniority text, years_experience float8)
            WHERE v.record_id = ANY(%(changed)s)
        ), s AS (
            SELECT v.record_id, v.embedding, v.lexical, {side_level} AS level, {side_years} AS years,
                   i.floor_score
            FROM talent.{TABLES[entity]} v
            JOIN talent.profiles p ON p.entity = %(entity)s AND p.record_id = v.record_id
            CROSS JOIN LATERAL jsonb_to_record(p.profile) AS f(seniority text, years_experience float8)
            LEFT JOIN talent.match_inputs i ON i.entity = %(entity)s AND i.record_id = v.record_id
        ), pairs AS (
            SELECT s.record_id, n.record_id AS new_id, s.floor_score,
                   %(w_sim)s * greatest(-(n.embedding <#> s.embedding), 0)
                   + %(w_lexical)s * greatest(coalesce(-(n.lexical <#> s.lexical), 0), 0) AS relevance,
                   1.0 - %(w_seniority)s * (1.0 - {seniority_fit}) - %(w_experience)s * (1.0 - {experience_fit}) AS gate
            FROM n CROSS JOIN s
        ), bounds AS (
            SELECT record_id, new_id, floor_score,
                   relevance * coalesce(gate, %(gate_lo)s) - %(margin)s AS lo,
                   (relevance + %(w_skills)s) * coalesce(gate, 1.0) + %(margin)s AS hi
            FROM pairs
        )"""


def _params(entity: str, changed: Sequence[str], k: int, dim: int) -> dict:
    return {
        "entity": entity,
        "new": OTHER[entity],
        "changed": list(changed),
        "k": k,
        "levels": LEVEL_NAMES,
        "w_sim": score.W_SIM,
        "w_lexical": score.W_LEXICAL,
        "w_skills": score.W_SKILLS,
        "w_seniority": score.W_SENIORITY,
        "w_experience": score.W_EXPERIENCE,
        "under": score.UNDER,
        "over": score.OVER,
        "gate_lo": 1.0 - score.W_SENIORITY - score.W_EXPERIENCE,  # an unreadable level: the gate's least
        "margin": margin(dim),
    }


def pair_bounds(
    conn: psycopg.Connection, entity: str, changed: Sequence[str], dim: int
) -> dict[tuple[str, str], tuple[float, float]]:
    """``(lo, hi)`` of every pair ``(entity's id, changed id)``: what ``reachable`` decides from."""
    rows = conn.execute(
        _bounds(entity) + " SELECT record_id, new_id, lo, hi FROM bounds", _params(entity, changed, 0, dim)
    )
    return {(r, n): (lo, hi) for r, n, lo, hi in rows}


def reachable(conn: psycopg.Connection, entity: str, changed: Sequence[str], k: int, dim: int) -> set[str]:
    """Ids of ``entity``'s side whose pair with one of ``changed`` (ids of the other side) can enter
    that one's top ``k`` or this one's own list; in the caller's snapshot."""
    if not changed:
        return set()
    query = (
        _bounds(entity)
        + """, kth AS (
            SELECT new_id, CASE WHEN count(*) < %(k)s THEN '-infinity'::float8 ELSE min(lo) END AS lo
            FROM (SELECT new_id, lo, row_number() OVER (PARTITION BY new_id ORDER BY lo DESC) AS rank FROM bounds) b
            WHERE rank <= %(k)s
            GROUP BY new_id
        )
        SELECT DISTINCT b.record_id
        FROM bounds b JOIN kth USING (new_id)
        WHERE b.hi >= kth.lo OR b.floor_score IS NULL OR b.hi >= b.floor_score
    """
    )
    return {rid for (rid,) in conn.execute(query, _params(entity, changed, k, dim))}
