"""``lexical``: the quality sets re-scored with the lexical signal hashed wider, or not hashed at all.

The stored lexical vector (``talent_shared.lexical``) is each record's weighted terms signed-hashed
into ``DIM`` buckets, so every pair's lexical cosine carries collision noise of standard deviation
about ``1 / sqrt(DIM)``. This suite measures what that noise costs before anyone pays for an exact
signal (sparse storage and a sparse product in the cross-join): each set goes through the pipeline
once (``benchmarks.quality``'s functions, a fresh database), its stored features are read back as
matching reads them, and every pair is scored again with the same formula
(``talent_matching.score``) and only the lexical term replaced:

- ``hashed <n>``: the same term weights hashed into ``n`` buckets (``lexical.vector(text, n)``);
- ``exact``: the cosine of the unhashed term weights (``lexical.term_weights``), put on matching's
  grid as the stored vectors are.

Before any variant is trusted, the re-scoring with the stored vectors must give the very rankings
the pipeline wrote to ``talent.matches`` (the run fails otherwise). Metrics as in ``quality``.
"""

from __future__ import annotations

import math

import numpy as np

from benchmarks.common import Suite, log
from benchmarks.quality import DIRECTIONS, SETS, Labelled, Rankings, _pipeline, _rank, evaluate, fresh_database

WIDER = (2_048, 16_384)  # bucket counts tried beside the stored DIM
EXACT = "exact"


def exact_cosines(rows: list[str], cols: list[str]) -> np.ndarray:
    """(len(rows), len(cols)) float32: the cosine of the texts' unhashed term weights, each weight
    on matching's grid after normalising (as ``score.on_grid`` puts the stored vectors)."""
    from talent_matching.score import GRID
    from talent_shared import lexical

    def unit(text: str) -> dict[str, float]:
        weights = lexical.term_weights(text)
        norm = math.sqrt(sum(w * w for w in weights.values()))
        grid = float(GRID)
        return {t: round(w / norm / grid) * grid for t, w in weights.items()} if norm else {}

    left, right = [unit(t) for t in rows], [unit(t) for t in cols]
    out = np.zeros((len(rows), len(cols)), np.float32)
    for i, a in enumerate(left):
        for j, b in enumerate(right):
            out[i, j] = sum(w * b[t] for t, w in a.items() if t in b)
    return out


def hashed_cosines(rows: list[str], cols: list[str], dim: int) -> np.ndarray:
    from talent_matching.score import on_grid
    from talent_shared import lexical

    left = on_grid(np.vstack([lexical.vector(t, dim) for t in rows]))
    right = on_grid(np.vstack([lexical.vector(t, dim) for t in cols]))
    return left @ right.T


def scores(parts, lexical_matrix: np.ndarray) -> np.ndarray:
    """The matcher's score (``score.combine``) with ``lexical_matrix`` as the lexical term, rounded
    as the lists are (``score.rounded``)."""
    from talent_matching.score import combine, rounded

    lexical = lexical_matrix.astype(np.float32)
    return rounded(combine(parts.similarity, parts.overlap, parts.fit, lexical, parts.seniority))


def _rankings(score: np.ndarray, cids: list[str], jids: list[str]) -> Rankings:
    out = Rankings()
    out.c2j["pipeline"] = _rank(score, cids, jids)
    out.j2c["pipeline"] = _rank(score.T, jids, cids)
    return out


def rescore_set(url: str, data: Labelled, dims: tuple[int, ...] = WIDER) -> dict[str, dict]:
    """Per variant (``stored``, ``hashed <n>``, ``exact``), ``evaluate``'s metrics for ``data``."""
    from talent_candidates.definitions import pipeline as candidates
    from talent_jobs.definitions import pipeline as jobs
    from talent_matching.features import load_features
    from talent_matching.score import score_parts
    from talent_shared.db.connection import connect
    from talent_shared.lexical import DIM
    from talent_shared.vectors import texts_for

    db_url = fresh_database(url, f"bench_lexical_{data.name}")
    with connect(db_url) as conn:
        stored, _, _ = _pipeline(conn, data, db_url)
        c, j = load_features(conn, "candidate").side, load_features(conn, "job").side
        c_text = texts_for(conn, "candidate", c.ids, candidates.reader)
        j_text = texts_for(conn, "job", j.ids, jobs.reader)
    rows, cols = [c_text[i] for i in c.ids], [j_text[i] for i in j.ids]
    parts = score_parts(c, j)
    assert c.lexical is not None and j.lexical is not None
    again = _rankings(scores(parts, c.lexical @ j.lexical.T), c.ids, j.ids)
    if again.c2j["pipeline"] != stored.c2j["pipeline"] or again.j2c["pipeline"] != stored.j2c["pipeline"]:
        raise AssertionError(f"{data.name}: re-scoring the stored features does not give the pipeline's rankings")
    variants = {f"hashed {DIM} (stored)": hashed_cosines(rows, cols, DIM)}
    if not np.array_equal(variants[f"hashed {DIM} (stored)"], c.lexical @ j.lexical.T):
        raise AssertionError(f"{data.name}: the texts read back do not give the stored lexical vectors")
    variants |= {f"hashed {n:,}": hashed_cosines(rows, cols, n) for n in dims}
    variants[EXACT] = exact_cosines(rows, cols)
    return {
        name: evaluate(data, _rankings(scores(parts, lex), c.ids, j.ids), ("pipeline",))
        for name, lex in variants.items()
    }


def run_lexical(suite: Suite) -> None:
    from benchmarks.pg import server

    table: list[tuple] = []
    with server() as url:
        for name, folder in SETS.items():
            data = Labelled.load(name, folder)
            results = rescore_set(url, data)
            log(f"{name}: re-scoring the stored features gives the pipeline's rankings")
            for variant, metrics in results.items():
                for direction in DIRECTIONS:
                    top1, top3, mrr = metrics[("pipeline", direction)]
                    table.append((name, direction, variant, top1, top3, mrr))
                    suite.add(f"{name} {direction} {variant} top-1", top1, "%")
                    suite.add(f"{name} {direction} {variant} top-3", top3, "%")
                    suite.add(f"{name} {direction} {variant} MRR", mrr, "")
    suite.info["table"] = table
    print("\n  | lexical signal | set | direction | top-1 | top-3 | MRR |\n  |---|---|---|---|---|---|")
    for name, direction, variant, top1, top3, mrr in table:
        print(f"  | {variant} | {name} | {direction} | {top1:.1f}% | {top3:.1f}% | {mrr:.3f} |")
