"""Incremental cross-join: each new or changed entity against every one on the other side.

The matches table holds, for every candidate, its top K jobs and, for every job, its top K
candidates (a pair may be in both lists; ``candidate_rank``/``job_rank`` say which). A run costs
what changed, not what is stored, and leaves exactly what a from-scratch run would (scores and
ranks to the last bit):

1. The database compares the vector versions in ``match_inputs`` (what the last run consumed) with
   the vector tables and returns only the changed and removed ids (``stored.changes``). It compares
   only the rows written since the last run's snapshot, in commit order (``stored.watermark``,
   migration 0011), so neither a reconciler tick nor a run costs what is stored. Dagster
   cannot see per-pair versions across this wide edge, so these row-level versions are the record.
   A vector's version covers its profile's too (``talent_shared.vectors``), so a profile change
   the embedded text leaves out (years of experience) still counts as a change.
   Each recorded version carries the score and cross-join versions and K
   (``@hybrid-2/crossjoin-3/k10``): when the code version of ``matches`` changes with one of them,
   every row counts as changed and the run recomputes everything.
2. Changed entities are scored against the other side (batched matrix products, see
   ``score.py``), which is read only when it has changes to meet: one new candidate is scored
   against the jobs, never against every candidate. The same product gives the changed entities'
   own lists and the entries that enter the other side's lists: a pair enters an untouched list
   only if it is not below that list's stored K-th entry (its floor, kept in ``match_inputs``
   beside the consumed version and read with the features, ``features.Floors``). With a few
   changed entities, only the other side's entities whose bounded score can enter one of those
   lists are read (``reach``: the database bounds every pair without sending the vectors); with
   many, the whole side.
3. An untouched list can change only if such an entry enters it, or if it holds a changed or
   removed entity. Only those lists are read from ``matches``. The first kind merges exactly:
   the stored list is the top K of the untouched entities. The second merges exactly when the
   merged list is full (everything missing from it is below the old floor); otherwise that list is
   rescored against the whole other side.
4. Only the rows of entities whose lists moved are rewritten (with the rows of untouched lists
   pointing at them, which keep their rank); explanations of untouched pairs are kept.

A run holds no transaction while it waits on the LLM (``run_matching``): it reads in one
REPEATABLE READ, READ ONLY transaction, so every read sees the same snapshot (the products that
decide which stored rows and profiles to read run inside it, as those reads depend on them); asks
the LLM for explanations with no transaction open; and writes in one transaction. What makes two
overlapping runs safe is a session-level advisory lock held from before the read to after the
write (``_one_run_at_a_time``): the second run waits, then reads a snapshot that holds the first
one's rows. The versions a run records as consumed are the ones its snapshot read, so a vector
written meanwhile still differs from them and the next run matches it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import psycopg
from psycopg.pq import TransactionStatus

from talent_matching import reach, reasons, stored
from talent_matching.features import OTHER, Features, Floors, load_features
from talent_matching.score import Side, block_scores, contenders, first_k, pair_terms, rounded
from talent_matching.stored import Entry
from talent_matching.versions import CROSSJOIN_VERSION, SCORE_VERSION
from talent_shared.embedding import EmbeddingContract
from talent_shared.profiles import load_profiles
from talent_shared.providers.base import Profile

BLOCK = 512
# the advisory lock one matching run holds at a time, in the keyspace of the pipeline steps' locks
# (``talent_shared.pipeline``: ``hashtext('talent:<entity>:<stage>:<batch>')``)
LOCK = "talent:matches"
Explain = Callable[[Profile, Profile, Sequence[str]], str]

_log = logging.getLogger(__name__)


@dataclass
class MatchReport:
    changed_candidates: list[str] = field(default_factory=list)
    changed_jobs: list[str] = field(default_factory=list)
    removed: int = 0
    rows_written: int = 0
    rows_deleted: int = 0
    explained: int = 0
    waited_s: float = 0.0  # for another run's lock


def _best(rows: Side, cols: Side, k: int, *, transpose: bool = False) -> dict[str, dict[str, Entry]]:
    """For each entity in ``rows``: its top k among ``cols`` with score components, best first.

    ``rows`` are candidates unless ``transpose`` (then they are jobs and ``cols`` candidates).
    """
    return _lists(rows, cols, k, transpose=transpose)[0]


def _lists(
    rows: Side, cols: Side, k: int, *, transpose: bool = False, floors: Floors | None = None
) -> tuple[dict[str, dict[str, Entry]], dict[str, dict[str, Entry]]]:
    """Top k of ``cols`` per entity of ``rows`` and, with ``floors`` (aligned with ``cols``), per
    entity of ``cols`` the entries of ``rows`` not below its floor: both directions of one product.

    Works on the float32 terms and rounds only the few entries near each row's k-th score (see
    ``score.contenders``): the same entries, in the same order, as ``top_k`` over the rounded
    ``score_block`` matrix.
    """
    out: dict[str, dict[str, Entry]] = {rid: {} for rid in rows.ids}
    entering: dict[str, dict[str, Entry]] = {}
    if not len(cols) or not len(rows):
        return out, entering
    if floors is not None and np.isposinf(floors.score).all():
        floors = None  # every list of the other side is recomputed (a first run, a new K)
    lower = None if floors is None else _lower(floors.score)
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
        r, c, values = contenders(score, k)
        keep = first_k(r, k)
        for row, col, entry in _entries(block, cols, r[keep], c[keep], values[keep], similarity, transpose):
            out[block.ids[row]][cols.ids[col]] = entry
        if floors is not None and lower is not None:
            r, c, values = _not_below(score, lower, floors, block.ids)
            grown = set()
            for row, col, entry in _entries(block, cols, r, c, values, similarity, transpose):
                entering.setdefault(cols.ids[col], {})[block.ids[row]] = entry
                grown.add(cols.ids[col])
            # only an entity's best k entering entries can reach its list (``_merge`` keeps the top
            # k of stored and entering together): keeping every entry not below the floor held
            # tens of millions when a bulk load changed tens of thousands of records at once
            for col_id in grown:
                if len(entering[col_id]) > 2 * k:
                    entering[col_id] = _top(entering[col_id], k)
    return out, {col_id: _top(e, k) if len(e) > k else e for col_id, e in entering.items()}


def _entries(
    block: Side, cols: Side, r: np.ndarray, c: np.ndarray, values: np.ndarray, similarity, transpose: bool
) -> Iterator[tuple[int, int, Entry]]:
    terms = pair_terms(cols, block, c, r) if transpose else pair_terms(block, cols, r, c)
    parts = zip(
        r.tolist(), c.tolist(), values.tolist(), similarity[r, c].tolist(), *(t.tolist() for t in terms), strict=True
    )
    for row, col, *entry in parts:
        yield row, col, tuple(entry)  # type: ignore[misc]


def _lower(floors: np.ndarray) -> np.ndarray:
    """float32 bounds below which no score rounds to its floor or above (a rounded score can sit
    half a millionth above its float32 value; ``-inf`` and ``+inf`` floors stay as they are)."""
    with np.errstate(invalid="ignore"):
        return (floors - 1e-6).astype(np.float32)


def _not_below(
    score: np.ndarray, lower: np.ndarray, floors: Floors, row_ids: Sequence[str]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Entries of the block whose (rounded score, row id) is not below their column's floor, in
    ``_merge``'s order: a higher score, or the same score and an id not after the floor's."""
    r, c = np.nonzero(score >= lower[None, :])
    values = rounded(score[r, c])
    floor = floors.score[c]
    keep = values > floor
    for t in np.flatnonzero(values == floor).tolist():
        keep[t] = row_ids[r[t]] <= floors.ids[c[t]]  # type: ignore[operator]
    return r[keep], c[keep], values[keep]


def parts_text(entry: Entry) -> str:
    """The score's parts as the explanations show them."""
    score, sim, overlap, fit, lexical, seniority = entry
    return (
        f"[score {score:.3f}: meaning {sim:.2f}, shared words {lexical:.2f}, skills {overlap:.2f},"
        f" years {fit:.2f}, seniority {seniority:.2f}]"
    )


def _top(entries: dict[str, Entry], k: int) -> dict[str, Entry]:
    """The best k: a higher score first, then the id in code-point order (the lists' tie rule)."""
    return dict(sorted(entries.items(), key=lambda kv: (-kv[1][0], kv[0]))[:k])


def _merge(old: dict[str, Entry], drop: set[str], new: dict[str, Entry], k: int) -> dict[str, Entry]:
    merged = {key: val for key, val in old.items() if key not in drop}
    merged.update(new)
    return _top(merged, k)


class _Sides:
    """Both sides' features as far as they were read: a side's changed entities; what a few
    changed entities of the other side can reach (``reach``); the whole side when many changed
    entities are scored against it, or a list must be rescored against it."""

    def __init__(self, conn: psycopg.Connection, changed: dict[str, list[str]], k: int) -> None:
        self.conn = conn
        self.features: dict[str, Features] = {
            entity: load_features(conn, entity, changed[entity]) for entity in ("candidate", "job")
        }
        for entity in ("candidate", "job"):
            news = changed[OTHER[entity]]
            if not news:
                continue
            if len(news) > reach.MOST_CHANGED:
                self.features[entity] = load_features(conn, entity)
                continue
            # a few changed entities of the other side: only what their pairs can reach
            dim = self.features[OTHER[entity]].side.vectors.shape[1]
            ids = reach.reachable(conn, entity, news, k, dim) | set(changed[entity])
            self.features[entity] = load_features(conn, entity, sorted(ids))

    def whole(self, entity: str) -> Features:
        if not self.features[entity].complete:
            self.features[entity] = load_features(self.conn, entity)
        return self.features[entity]

    def rows(self, entity: str, ids: Sequence[str]) -> Side:
        have = self.features[entity]
        return (have if have.has(ids) else load_features(self.conn, entity, ids)).subset(ids)

    def versions(self) -> dict[str, dict[str, str]]:
        return {e: dict(zip(f.side.ids, f.side.versions, strict=True)) for e, f in self.features.items()}


def stamp_of(k: int) -> str:
    """What a run's rows are matched with, appended to each consumed vector version."""
    return f"@{SCORE_VERSION}/{CROSSJOIN_VERSION}/k{k}"


def pending_changes(conn: psycopg.Connection, k: int) -> int:
    """How many entities a run would (re)match now: the reconciler's question, from the tables
    (only the rows written since the last run's snapshot, see ``stored.watermark``)."""
    stamp = stamp_of(k)
    delta = stored.changes(conn, stamp, stored.watermark(conn, stamp))
    return sum(len(v) for v in (*delta.changed.values(), *delta.removed.values()))


def run_matching(
    conn: psycopg.Connection,
    *,
    k: int,
    explain: Explain | None = None,
    explain_top: int = 3,
    contract: EmbeddingContract | None = None,
    log: Callable[[str], None] = _log.info,
) -> MatchReport:
    """Read (one snapshot), compute, explain, write (one transaction), under ``LOCK``.

    The run owns the connection's transactions: it commits what the caller had open first (the run
    must see it, as it did when it ran inside the caller's transaction) and returns with none open,
    its rows committed. ``contract``: the deployment's embedding contract; ``None`` (tests,
    benchmarks) trusts the tables. ``log`` says when the run waits for another one.
    """
    report = MatchReport()
    if conn.info.transaction_status != TransactionStatus.IDLE:
        conn.commit()
    with _one_run_at_a_time(conn, report, log):
        with _snapshot(conn):
            read = _read(conn, k, contract, explain_top if explain is not None else 0)
        report.changed_candidates, report.changed_jobs = read.delta.changed["candidate"], read.delta.changed["job"]
        report.removed = len(read.delta.removed["candidate"]) + len(read.delta.removed["job"])
        if not read.delta:
            return report
        rows, consumed, floors = _rows(read, k)
        explanations = _explain(explain, read) if explain is not None else {}
        report.explained = len(explanations)
        rows = [(*row[:-1], explanations.get((row[0], row[1]), row[-1])) for row in rows]
        if conn.info.transaction_status != TransactionStatus.IDLE:
            conn.commit()  # what ``explain`` wrote on this connection (a meter sharing it): its own
        with conn.transaction():
            report.rows_deleted = stored.write(
                conn,
                touched={e: sorted(read.affected[e] | set(read.delta.removed[e])) for e in read.affected},
                rows=rows,
                consumed=consumed,
                floors=floors,
                removed=read.delta.removed,
                mark=read.mark,
            )
        report.rows_written = len(rows)
    return report


@contextmanager
def _one_run_at_a_time(conn: psycopg.Connection, report: MatchReport, log: Callable[[str], None]) -> Iterator[None]:
    """``LOCK`` for the block, at session level: no transaction spans a run. A second run waits
    for the first (then finds only what changed after the first one's snapshot), as a second run of
    a pipeline step waits for the batch's lock."""
    autocommit = conn.autocommit
    conn.autocommit = True  # the lock's statements alone, each its own round trip
    try:
        (got,) = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (LOCK,)).fetchone()  # type: ignore[misc]
        if not got:
            log("another matches run holds the matching lock: waiting for it to write")
            start = time.monotonic()
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (LOCK,))
            report.waited_s = time.monotonic() - start
            log(f"the matching lock is ours after {report.waited_s:.1f} s")
    finally:
        conn.autocommit = autocommit
    try:
        yield
    finally:
        if not conn.closed:  # a lost session took its lock with it
            if conn.info.transaction_status != TransactionStatus.IDLE:
                conn.rollback()
            conn.autocommit = True
            try:
                conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (LOCK,))
            finally:
                conn.autocommit = autocommit


@contextmanager
def _snapshot(conn: psycopg.Connection) -> Iterator[None]:
    """One REPEATABLE READ, READ ONLY transaction: every read of the block sees the same data."""
    isolation, read_only = conn.isolation_level, conn.read_only
    conn.isolation_level, conn.read_only = psycopg.IsolationLevel.REPEATABLE_READ, True
    try:
        with conn.transaction():
            yield
    finally:
        conn.isolation_level, conn.read_only = isolation, read_only


@dataclass
class _Read:
    """Everything a run needs from the database, read in one snapshot, and the lists computed
    from it (the reads after the first product depend on it)."""

    delta: stored.Delta
    mark: tuple[str, str] | None = None  # (stamp, snapshot xmin): where the next run's comparison starts
    news: dict[str, Side] = field(default_factory=dict)  # the changed entities' features
    lists: dict[str, dict[str, dict[str, Entry]]] = field(default_factory=dict)
    affected: dict[str, set[str]] = field(default_factory=dict)
    old: stored.Stored = field(default_factory=lambda: stored.Stored([]))
    versions: dict[str, dict[str, str]] = field(default_factory=dict)
    kept: dict[tuple[str, str], str] = field(default_factory=dict)  # explanations still valid
    wanted: list[tuple[str, str]] = field(default_factory=list)  # pairs to explain
    profiles: dict[str, dict[str, Profile]] = field(default_factory=dict)  # of those pairs


def _read(conn: psycopg.Connection, k: int, contract: EmbeddingContract | None, explain_top: int) -> _Read:
    """The delta, the features, the stored rows the delta reaches and the profiles of the pairs to
    explain, with the products that decide which of them to read (inside the caller's snapshot).

    A refill's reads stay lazy, in the same snapshot: reading both sides whole up front would make
    one new candidate read every candidate, and a refill is rare.
    """
    stamp = stamp_of(k)
    xmin = stored.snapshot_xmin(conn)  # first: the snapshot's own, before anything else is read
    read = _Read(stored.changes(conn, stamp, stored.watermark(conn, stamp)), mark=(stamp, xmin))
    delta = read.delta
    if not delta:
        return read
    if contract is not None:
        for table in ("candidate_vectors", "job_vectors"):
            contract.check_stored(conn, table)

    sides = _Sides(conn, delta.changed, k)
    cands, jobs = sides.features["candidate"], sides.features["job"]
    c_new, j_new = cands.subset(delta.changed["candidate"]), jobs.subset(delta.changed["job"])
    read.news = {"candidate": c_new, "job": j_new}
    changed = {"candidate": set(c_new.ids), "job": set(j_new.ids)}
    gone = {e: changed[e] | set(delta.removed[e]) for e in changed}
    # one product per changed side: its own lists, and its entries that enter the other side's lists
    lists_c, into_j = _lists(c_new, jobs.side, k, floors=jobs.floors.closed(j_new.ids, jobs.index))
    lists_j, into_c = _lists(j_new, cands.side, k, transpose=True, floors=cands.floors.closed(c_new.ids, cands.index))
    lists = read.lists = {"candidate": lists_c, "job": lists_j}
    into = {"candidate": into_c, "job": into_j}
    examine = {
        e: (set(into[e]) | stored.owners(conn, e, sorted(gone[OTHER[e]]))) - gone[e] for e in ("candidate", "job")
    }
    # the examined lists, and with them every stored row that points at a changed entity from an
    # untouched list (that list holds a changed entity, so it is examined): nothing else is needed
    old = read.old = stored.load_rows(conn, sorted(examine["candidate"]), sorted(examine["job"]))
    for entity in ("candidate", "job"):
        befores = old.lists(entity, examine[entity])
        refill = []
        for rid, before in befores.items():
            merged = _merge(before, gone[OTHER[entity]], into[entity].get(rid, {}), k)
            if len(before) == k and len(merged) < k:
                refill.append(rid)  # it lost entries that nothing read here can replace
            elif merged != before:
                lists[entity][rid] = merged
        if refill:
            whole = sides.whole(OTHER[entity]).side
            rescored = _best(sides.rows(entity, refill), whole, k, transpose=entity == "job")
            lists[entity].update({rid: new for rid, new in rescored.items() if new != befores[rid]})
    read.affected = {e: set(lists[e]) for e in lists}

    read.versions = sides.versions()
    for row in old.rows:  # untouched entities keep their stored versions
        read.versions["candidate"].setdefault(row.candidate, row.candidate_version)
        read.versions["job"].setdefault(row.job, row.job_version)
    read.kept = {
        (r.candidate, r.job): r.explanation
        for r in old.rows
        if r.explanation and r.candidate not in changed["candidate"] and r.job not in changed["job"]
    }
    # the affected candidates' first ``explain_top`` pairs without a kept explanation: only their
    # profiles are read
    read.wanted = [
        (c, j)
        for c in sorted(read.affected["candidate"])
        for j in list(lists_c[c])[:explain_top]
        if (c, j) not in read.kept
    ]
    if read.wanted:
        read.profiles = {
            "candidate": load_profiles(conn, "candidate", sorted({c for c, _ in read.wanted})),
            "job": load_profiles(conn, "job", sorted({j for _, j in read.wanted})),
        }
    return read


def _rows(read: _Read, k: int) -> tuple[list[tuple], list[tuple], list[tuple]]:
    """The rows to write (each with its kept explanation, if any, last), what was consumed and the
    new floors of untouched lists that moved, from what ``_read`` left: no database needed."""
    lists, affected, delta = read.lists, read.affected, read.delta
    stamp = stamp_of(k)  # what these rows were matched with
    pairs, ranks = _pairs(lists, affected, delta.removed, read.old.rows)
    versions = read.versions
    rows = [
        (
            cid,
            jid,
            e[0],
            ranks["candidate"].get((cid, jid)),
            ranks["job"].get((cid, jid)),
            *e[1:],
            versions["candidate"][cid],
            versions["job"][jid],
            read.kept.get((cid, jid)),
        )
        for (cid, jid), e in pairs.items()
    ]
    changed = {e: set(side.ids) for e, side in read.news.items()}
    consumed = [
        (entity, rid, version + stamp, *_floor(lists[entity][rid], k))
        for entity, side in read.news.items()
        for rid, version in zip(side.ids, side.versions, strict=True)
    ]
    floors = [
        (entity, rid, *_floor(lists[entity][rid], k))
        for entity in ("candidate", "job")
        for rid in sorted(affected[entity] - changed[entity])
    ]
    return rows, consumed, floors


def _floor(entries: dict[str, Entry], k: int) -> tuple[float, str | None]:
    """A list's K-th entry as ``match_inputs`` keeps it: ``-inf`` when it is shorter than K."""
    if len(entries) < k:
        return -np.inf, None
    other, entry = list(entries.items())[k - 1]
    return entry[0], other


def _pairs(
    lists: dict[str, dict[str, dict[str, Entry]]],
    affected: dict[str, set[str]],
    removed: dict[str, list[str]],
    old_rows: Sequence[stored.Row],
) -> tuple[dict[tuple[str, str], Entry], dict[str, dict[tuple[str, str], int]]]:
    """The rows to write for the affected entities, and each row's candidate and job rank.

    Every entry of an affected list, plus the rows of untouched lists that point at an affected
    entity: those keep their entry and their stored rank on their own side.
    """
    pairs: dict[tuple[str, str], Entry] = {}
    ranks: dict[str, dict[tuple[str, str], int]] = {"candidate": {}, "job": {}}
    for entity in ("candidate", "job"):
        for rid in affected[entity]:
            for rank, (other, entry) in enumerate(lists[entity][rid].items(), start=1):
                pair = (rid, other) if entity == "candidate" else (other, rid)
                pairs[pair] = entry
                ranks[entity][pair] = rank
    touched = {e: affected[e] | set(removed[e]) for e in affected}
    for row in old_rows:
        pair = (row.candidate, row.job)
        if row.candidate_rank is not None and row.candidate not in touched["candidate"] and row.job in affected["job"]:
            pairs.setdefault(pair, row.entry)
            ranks["candidate"][pair] = row.candidate_rank
        if row.job_rank is not None and row.job not in touched["job"] and row.candidate in affected["candidate"]:
            pairs.setdefault(pair, row.entry)
            ranks["job"][pair] = row.job_rank
    return pairs, ranks


def _explain(explain: Explain, read: _Read) -> dict[tuple[str, str], str]:
    """Explanations of ``read.wanted``, from the profiles read with them: no database here, so
    none of the LLM's waits happens inside a transaction."""
    cands, jobs = read.profiles.get("candidate", {}), read.profiles.get("job", {})
    out = {}
    for c, j in read.wanted:
        overlap = sorted(set(cands[c].skills) & set(jobs[j].skills))
        entry = read.lists["candidate"][c][j]
        out[(c, j)] = (
            f"{explain(cands[c], jobs[j], overlap)} {parts_text(entry)}{reasons.text(cands[c], jobs[j], entry)}"
        )
    return out
