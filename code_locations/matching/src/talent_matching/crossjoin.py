"""Incremental cross-join: each new or changed entity against every one on the other side.

The matches table holds, for every candidate, its top K jobs and, for every job, its top K
candidates (a pair may be in both lists; ``candidate_rank``/``job_rank`` say which). A run compares
the vector versions in ``match_inputs`` (what the last run consumed) with the vector tables,
scores only the changed rows and columns (batched matrix products, see ``score.py``), merges the
new scores into the untouched entities' lists, and rewrites only rows whose lists moved. Dagster
cannot see per-pair versions across this wide edge, so these row-level versions are the record.
Each recorded version carries the score and cross-join versions and K (``@hybrid-2/crossjoin-2/k10``):
when the code version of ``matches`` changes with one of them, every row counts as changed and the
run recomputes everything, instead of finding no changed vector and writing nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import psycopg

from talent_matching.score import Components, Side, block_scores, contenders, first_k, pair_terms, score_block
from talent_matching.versions import CROSSJOIN_VERSION, SCORE_VERSION
from talent_shared.embedding import EmbeddingContract
from talent_shared.lexical import DIM as LEXICAL_DIM
from talent_shared.profiles import load_profiles
from talent_shared.providers.base import Profile

BLOCK = 512
# score, similarity, skill overlap, experience fit, lexical, seniority fit
Entry = tuple[float, float, float, float, float, float]


@dataclass
class MatchReport:
    changed_candidates: list[str] = field(default_factory=list)
    changed_jobs: list[str] = field(default_factory=list)
    removed: int = 0
    rows_written: int = 0
    rows_deleted: int = 0
    explained: int = 0


def load_side(
    conn: psycopg.Connection, entity: str, contract: EmbeddingContract | None = None
) -> tuple[Side, dict[str, Profile]]:
    """One side's vectors and profiles; with a ``contract``, refuses vectors of another model."""
    table = {"candidate": "candidate_vectors", "job": "job_vectors"}[entity]
    if contract is not None:
        contract.check_stored(conn, table)
    rows = conn.execute(
        f"SELECT record_id, data_version, embedding, lexical FROM talent.{table} ORDER BY record_id"
    ).fetchall()
    profiles = load_profiles(conn, entity)
    rows = [r for r in rows if r[0] in profiles]
    arrays = [_array(r[2]) for r in rows]
    vectors = np.vstack(arrays) if arrays else np.zeros((0, 1), np.float32)
    lexical = np.zeros((len(rows), LEXICAL_DIM), np.float32)
    for i, r in enumerate(rows):
        if r[3] is not None:  # rows embedded before the lexical signal existed have none
            lexical[i] = _array(r[3])
    ids, versions = [r[0] for r in rows], [r[1] for r in rows]
    side = Side.build(ids, versions, vectors, [profiles[r[0]] for r in rows], lexical, candidates=entity == "candidate")
    return side, profiles


def _array(value) -> np.ndarray:
    """pgvector hands back ``Vector`` objects (or arrays, depending on its version)."""
    return np.asarray(value.to_numpy() if hasattr(value, "to_numpy") else value, dtype=np.float32)


def _best(rows: Side, cols: Side, k: int, *, transpose: bool = False) -> dict[str, dict[str, Entry]]:
    """For each entity in ``rows``: its top k among ``cols`` with score components, best first.

    ``rows`` are candidates unless ``transpose`` (then they are jobs and ``cols`` candidates).
    """
    return _lists(rows, cols, k, transpose=transpose, ties=False)


def _lists(rows: Side, cols: Side, k: int, *, transpose: bool, ties: bool) -> dict[str, dict[str, Entry]]:
    """Top k of ``cols`` per entity of ``rows`` (with ``ties``: also every entry tied with the k-th).

    Works on the float32 terms and rounds only the few entries near each row's k-th score (see
    ``score.contenders``): the same entries, in the same order, as ``top_k`` over the rounded
    ``score_block`` matrix.
    """
    out: dict[str, dict[str, Entry]] = {rid: {} for rid in rows.ids}
    if not len(cols):
        return out
    # one pair of buffers for every block (fresh 200 MB arrays per block cost page faults), each
    # block's matrices C-contiguous in them so the product is the very BLAS call score_block makes
    size = min(BLOCK, len(rows)) * len(cols)
    flat = np.empty(size, np.float32), np.empty(size, np.float32)
    for start in range(0, len(rows), BLOCK):
        block = rows.take(range(start, min(start + BLOCK, len(rows))))
        shape = (len(cols), len(block)) if transpose else (len(block), len(cols))
        out_sim, out_score = (buf[: shape[0] * shape[1]].reshape(shape) for buf in flat)
        if transpose:
            score, similarity = block_scores(cols, block, out_similarity=out_sim, out_score=out_score)
            score, similarity = score.T, similarity.T
        else:
            score, similarity = block_scores(block, cols, out_similarity=out_sim, out_score=out_score)
        r, c, rounded = contenders(score, k)
        if not ties:
            keep = first_k(r, k)
            r, c, rounded = r[keep], c[keep], rounded[keep]
        terms = pair_terms(cols, block, c, r) if transpose else pair_terms(block, cols, r, c)
        entries = zip(
            r.tolist(),
            c.tolist(),
            rounded.tolist(),
            similarity[r, c].tolist(),
            *(t.tolist() for t in terms),
            strict=True,
        )
        for row, col, *entry in entries:
            out[block.ids[row]][cols.ids[col]] = tuple(entry)  # type: ignore[assignment]
    return out


def _t(comp: Components) -> Components:
    return Components(comp.score.T, comp.similarity.T, comp.overlap.T, comp.fit.T, comp.lexical.T, comp.seniority.T)


def _entry(comp: Components, r: int, c: int) -> Entry:
    return (
        float(comp.score[r, c]),
        float(comp.similarity[r, c]),
        float(comp.overlap[r, c]),
        float(comp.fit[r, c]),
        float(comp.lexical[r, c]),
        float(comp.seniority[r, c]),
    )


def _columns(
    rows: Side, cols: Side, *, transpose: bool = False, limit: int | None = None
) -> dict[str, dict[str, Entry]]:
    """Every entity in ``rows`` against the (few) changed ``cols``: {row id: {col id: entry}}.

    ``rows`` are candidates unless ``transpose`` (then they are jobs and ``cols`` candidates).
    With ``limit``, only the entries that can enter a top ``limit`` merged from them: each row's
    best ``limit`` plus whatever ties with the last (``_merge`` breaks ties by id). Without it, a
    burst of 1,000 new candidates against 100k jobs would build 10^8 entries.
    """
    if limit is not None:
        return _lists(rows, cols, limit, transpose=transpose, ties=True)
    out: dict[str, dict[str, Entry]] = {rid: {} for rid in rows.ids}
    if not len(cols):
        return out
    for start in range(0, len(rows), BLOCK):
        block = rows.take(range(start, min(start + BLOCK, len(rows))))
        comp = _t(score_block(cols, block)) if transpose else score_block(block, cols)
        for r, rid in enumerate(block.ids):
            out[rid] = {cid: _entry(comp, r, c) for c, cid in enumerate(cols.ids)}
    return out


def parts_text(entry: Entry) -> str:
    """The score's parts as the explanations show them."""
    score, sim, overlap, fit, lexical, seniority = entry
    return (
        f"[score {score:.3f}: meaning {sim:.2f}, shared words {lexical:.2f}, skills {overlap:.2f},"
        f" years {fit:.2f}, seniority {seniority:.2f}]"
    )


def _merge(old: dict[str, Entry], drop: set[str], new: dict[str, Entry], k: int) -> dict[str, Entry]:
    merged = {key: val for key, val in old.items() if key not in drop}
    merged.update(new)
    return dict(sorted(merged.items(), key=lambda kv: (-kv[1][0], kv[0]))[:k])


def run_matching(
    conn: psycopg.Connection,
    *,
    k: int,
    explain: Callable[[Profile, Profile, Sequence[str]], str] | None = None,
    explain_top: int = 3,
    contract: EmbeddingContract | None = None,
) -> MatchReport:
    """``contract``: the deployment's embedding contract; ``None`` (tests, benchmarks) trusts the tables."""
    report = MatchReport()
    cand, cand_profiles = load_side(conn, "candidate", contract)
    jobs, job_profiles = load_side(conn, "job", contract)
    stamp = f"@{SCORE_VERSION}/{CROSSJOIN_VERSION}/k{k}"  # what these rows were matched with
    consumed = {
        (e, r): v for e, r, v in conn.execute("SELECT entity, record_id, data_version FROM talent.match_inputs")
    }
    changed_c = [
        i
        for i, (rid, v) in enumerate(zip(cand.ids, cand.versions, strict=True))
        if consumed.get(("candidate", rid)) != v + stamp
    ]
    changed_j = [
        i
        for i, (rid, v) in enumerate(zip(jobs.ids, jobs.versions, strict=True))
        if consumed.get(("job", rid)) != v + stamp
    ]
    removed_c = {r for (e, r) in consumed if e == "candidate"} - set(cand.ids)
    removed_j = {r for (e, r) in consumed if e == "job"} - set(jobs.ids)
    report.changed_candidates = [cand.ids[i] for i in changed_c]
    report.changed_jobs = [jobs.ids[i] for i in changed_j]
    report.removed = len(removed_c) + len(removed_j)
    if not (changed_c or changed_j or removed_c or removed_j):
        return report

    c_new, j_new = cand.take(changed_c), jobs.take(changed_j)
    changed_c_ids, changed_j_ids = set(c_new.ids), set(j_new.ids)

    old_rows = conn.execute(
        "SELECT candidate_id, job_id, score, similarity, skill_overlap, experience_fit, lexical, seniority_fit,"
        " candidate_rank, job_rank, explanation FROM talent.matches"
    ).fetchall()
    old_c: dict[str, dict[str, Entry]] = {}
    old_j: dict[str, dict[str, Entry]] = {}
    old_explanations: dict[tuple[str, str], str] = {}
    for c, j, s, sim, ov, fit, lex, sen, crank, jrank, text in old_rows:
        if text and c not in changed_c_ids and j not in changed_j_ids:
            old_explanations[(c, j)] = text
        if crank is not None:
            old_c.setdefault(c, {})[j] = (s, sim, ov, fit, lex, sen)
        if jrank is not None:
            old_j.setdefault(j, {})[c] = (s, sim, ov, fit, lex, sen)
    # each kept list in its stored rank order: an untouched list is written back with these ranks
    # (dict equality ignores order, so the row order of the SELECT must not decide them)
    c_rank = {(c, j): r for c, j, *_, r, _, _ in old_rows if r is not None}
    j_rank = {(c, j): r for c, j, *_, r, _ in old_rows if r is not None}
    old_c = {c: dict(sorted(e.items(), key=lambda kv: c_rank[(c, kv[0])])) for c, e in old_c.items()}
    old_j = {j: dict(sorted(e.items(), key=lambda kv: j_rank[(kv[0], j)])) for j, e in old_j.items()}

    lists_c = _best(c_new, jobs, k)  # changed candidates against every job
    lists_j = _best(j_new, cand, k, transpose=True)  # changed jobs against every candidate
    cand_vs_new_jobs = _columns(cand, j_new, limit=k)
    jobs_vs_new_cands = _columns(jobs, c_new, transpose=True, limit=k)

    affected_c = set(lists_c)
    for cid in cand.ids:
        if cid in changed_c_ids:
            continue
        old = old_c.get(cid, {})
        merged = _merge(old, changed_j_ids | removed_j, cand_vs_new_jobs.get(cid, {}), k)
        if merged != old:
            lists_c[cid] = merged
            affected_c.add(cid)
    affected_j = set(lists_j)
    for jid in jobs.ids:
        if jid in changed_j_ids:
            continue
        old = old_j.get(jid, {})
        merged = _merge(
            old,
            changed_c_ids | removed_c,
            {c: e for c, e in ((c, jobs_vs_new_cands[jid].get(c)) for c in changed_c_ids) if e},
            k,
        )
        if merged != old:
            lists_j[jid] = merged
            affected_j.add(jid)

    def list_c(cid: str) -> dict[str, Entry]:
        return lists_c.get(cid, old_c.get(cid, {}))

    def list_j(jid: str) -> dict[str, Entry]:
        return lists_j.get(jid, old_j.get(jid, {}))

    pairs: dict[tuple[str, str], Entry] = {}
    for cid in affected_c:
        for jid, entry in list_c(cid).items():
            pairs[(cid, jid)] = entry
    for jid in affected_j:
        for cid, entry in list_j(jid).items():
            pairs[(cid, jid)] = entry
    # pairs of untouched candidates that point at an affected job keep their row (new job_rank)
    for cid, entries in old_c.items():
        if cid not in affected_c and cid not in removed_c:
            for jid, entry in entries.items():
                if jid in affected_j:
                    pairs[(cid, jid)] = entry
    for jid, entries in old_j.items():
        if jid not in affected_j and jid not in removed_j:
            for cid, entry in entries.items():
                if cid in affected_c:
                    pairs[(cid, jid)] = entry

    cand_version = dict(zip(cand.ids, cand.versions, strict=True))
    job_version = dict(zip(jobs.ids, jobs.versions, strict=True))
    rank_c = {cid: {jid: r for r, jid in enumerate(list_c(cid), start=1)} for cid in {c for c, _ in pairs}}
    rank_j = {jid: {cid: r for r, cid in enumerate(list_j(jid), start=1)} for jid in {j for _, j in pairs}}

    explanations: dict[tuple[str, str], str] = {}
    if explain is not None:
        for cid in affected_c:
            for jid in list(list_c(cid))[:explain_top]:
                if (cid, jid) in old_explanations:
                    continue
                cp, jp = cand_profiles[cid], job_profiles[jid]
                overlap = sorted(set(cp.skills) & set(jp.skills))
                explanations[(cid, jid)] = f"{explain(cp, jp, overlap)} {parts_text(list_c(cid)[jid])}"
        report.explained = len(explanations)

    with conn.cursor() as cur:
        touched_c = sorted(affected_c | removed_c)
        touched_j = sorted(affected_j | removed_j)
        cur.execute(
            "DELETE FROM talent.matches WHERE candidate_id = ANY(%s) OR job_id = ANY(%s)", (touched_c, touched_j)
        )
        report.rows_deleted = cur.rowcount
        rows = [
            (
                cid,
                jid,
                e[0],
                rank_c.get(cid, {}).get(jid),
                rank_j.get(jid, {}).get(cid),
                e[1],
                e[2],
                e[3],
                e[4],
                e[5],
                cand_version[cid],
                job_version[jid],
                explanations.get((cid, jid), old_explanations.get((cid, jid))),
            )
            for (cid, jid), e in pairs.items()
            if cid in cand_version and jid in job_version
        ]
        cur.executemany(
            """
            INSERT INTO talent.matches (candidate_id, job_id, score, candidate_rank, job_rank, similarity,
                skill_overlap, experience_fit, lexical, seniority_fit, candidate_version, job_version, explanation)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            rows,
        )
        report.rows_written = len(rows)
        cur.execute(
            "DELETE FROM talent.match_inputs WHERE (entity = 'candidate' AND record_id = ANY(%s)) OR (entity = 'job' AND record_id = ANY(%s))",
            (sorted(removed_c), sorted(removed_j)),
        )
        cur.executemany(
            """
            INSERT INTO talent.match_inputs (entity, record_id, data_version) VALUES (%s, %s, %s)
            ON CONFLICT (entity, record_id) DO UPDATE SET data_version = EXCLUDED.data_version
            """,
            [("candidate", c_new.ids[i], c_new.versions[i] + stamp) for i in range(len(c_new))]
            + [("job", j_new.ids[i], j_new.versions[i] + stamp) for i in range(len(j_new))],
        )
    return report
