"""Matching benchmarks: one candidate against 10k/100k jobs through HNSW, a batch of 1,000, and one
new record against what is stored and matched (``incremental``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from benchmarks import incremental
from benchmarks.common import Suite, log, p50, percentile
from benchmarks.data import load

K = 10
N_BATCH = 1_000  # new candidates in the batch benchmark
N_QUERIES = 200  # single-candidate queries (other candidates than the batch's)
TIE = 1e-5  # pgvector and numpy round float32 sums differently
# explicit ef_search values beside the default (None: chosen by the table's size, see
# talent_matching.nearest); the targets apply to the default at 100k
EF: tuple[int | None, ...] = (None, 40, 100, 200, 300, 400)


def _ef_label(ef: int | None) -> str:
    return "default ef_search" if ef is None else f"ef_search={ef}"


def run_nearest(suite: Suite, *, rebuild: bool = False) -> None:
    """Top-10 latency through pgvector's HNSW index at 10k and 100k jobs, recall@10 vs the exact scan,
    with the default ef_search (by the table's size) and a range of explicit ones."""
    from benchmarks.pg import job_database, server
    from talent_matching.nearest import ef_search_for, estimated_rows, nearest_jobs, plan, uses_index
    from talent_shared.db.connection import connect

    all_jobs = load("job", 100_000)
    queries = load("candidate", N_BATCH + N_QUERIES).vectors[N_BATCH:]
    # the recall's tie test compares numpy's 1 - dot with pgvector's cosine distance: only equal for
    # unit vectors, which is what the pipeline stores
    for vectors in (all_jobs.vectors, queries):
        assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5), "benchmark vectors are not unit length"
    suite.info["queries"] = len(queries)
    suite.info["data_build_seconds"] = {"jobs_100k": round(all_jobs.build_seconds, 1)}
    with server() as url:
        for n in (10_000, 100_000):
            jobs = all_jobs.head(n)
            label = f"{n // 1000}k"
            db_url, info = job_database(url, jobs, rebuild=rebuild)
            suite.info[f"index_{label}"] = info
            with connect(db_url, autocommit=True) as conn:
                assert uses_index(conn, queries[0], K), "the planner does not use the HNSW index"
                rows = estimated_rows(conn)
                default_ef = ef_search_for(rows, K)
                suite.info[f"default_ef_search_{label}"] = {"estimated_rows": rows, "ef_search": default_ef}
                for q in queries:  # every page the runs below touch into the buffer cache
                    nearest_jobs(conn, q, K, ef_search=max(e or 0 for e in EF))
                lat: dict[int | None, list[float]] = {ef: [] for ef in EF}
                found: dict[int | None, list] = {ef: [] for ef in EF}
                # one pass over the queries per setting: run per query instead, every setting after
                # the first repeats the walk the first one just made, in a warm CPU cache, and looks
                # up to 2x cheaper than a new vector's query is
                for ef in EF:
                    for q in queries:
                        t = time.perf_counter()
                        found[ef].append(nearest_jobs(conn, q, K, ef_search=ef))
                        lat[ef].append(time.perf_counter() - t)
                server_ms = {
                    ef: [plan(conn, q, K, ef_search=ef, analyze=True)["Execution Time"] for q in queries] for ef in EF
                }
                exact, lat_exact = [], []
                for q in queries:
                    t = time.perf_counter()
                    exact.append(nearest_jobs(conn, q, K, exact=True))
                    lat_exact.append(time.perf_counter() - t)
            lat_np = []
            for q in queries:
                t = time.perf_counter()
                d = 1.0 - jobs.vectors @ q
                top = np.argpartition(d, K)[:K]
                top[np.argsort(d[top])]
                lat_np.append(time.perf_counter() - t)
            distances = [1.0 - jobs.vectors @ q for q in queries]
            index = {rid: i for i, rid in enumerate(jobs.ids)}
            _check_exact(exact, distances, index)
            for ef in EF:
                goal = n == 100_000 and ef is None
                chosen = f" ({default_ef} for ~{rows or 0:,.0f} rows)" if ef is None else ""
                suite.add(
                    f"top-10 p50, HNSW {_ef_label(ef)}, {label} jobs",
                    p50(lat[ef]) * 1e3,
                    "ms",
                    target="<= 5" if goal else "",
                    note=chosen.strip(),
                )
                if ef is None:
                    suite.add(f"top-10 p95, HNSW {_ef_label(ef)}, {label} jobs", percentile(lat[ef], 95) * 1e3, "ms")
                suite.add(
                    f"  server-side execution p50 (EXPLAIN ANALYZE), {_ef_label(ef)}, {label} jobs",
                    p50(server_ms[ef]),
                    "ms",
                )
                recall, strict = _recall(found[ef], exact, distances, index)
                suite.add(
                    f"recall@10 HNSW {_ef_label(ef)} vs exact, {label} jobs",
                    recall,
                    "",
                    target=">= 0.95" if goal else "",
                    note=f"(same ids only: {strict:.3f})",
                )
            suite.add(f"top-10 p50, pgvector exact scan, {label} jobs", p50(lat_exact) * 1e3, "ms")
            suite.add(f"top-10 p50, numpy exact (in memory), {label} jobs", p50(lat_np) * 1e3, "ms")
            suite.add(
                f"HNSW build, {label} x 384 (2 cores){' [cached]' if info['cached'] else ''}",
                info["index_build_seconds"],
                "s",
            )


def _recall(found, exact, distances, index) -> tuple[float, float]:
    """Recall@10 counting a result tied with the exact 10th (equal distance) as a hit, and by ids only."""
    hits = strict = total = 0
    for got, ref, dist in zip(found, exact, distances, strict=True):
        ids = {rid for rid, _ in ref}
        kth = ref[-1][1]
        hits += sum(1 for rid, _ in got if rid in ids or dist[index[rid]] <= kth + TIE)
        strict += sum(1 for rid, _ in got if rid in ids)
        total += len(ref)
    return hits / total, strict / total


def _check_exact(exact, distances, index) -> None:
    """The exact variant is exact: its distances are numpy's K smallest."""
    for ref, dist in zip(exact, distances, strict=True):
        expected = np.sort(dist)[: len(ref)]
        assert np.allclose([d for _, d in ref], expected, atol=TIE), "pgvector's exact scan disagrees with numpy"
        assert all(abs(dist[index[rid]] - d) <= TIE for rid, d in ref)


def run_batch(suite: Suite, *, repeats: int = 3) -> None:
    """1,000 new candidates against 100k jobs: the cross-join's scoring + top-10 against numpy's
    similarity matrix + top-10 on the same data, interleaved, best of ``repeats`` each."""
    from talent_matching.crossjoin import BLOCK, _best, _lists

    jobs = load("job", 100_000).side()
    cands = load("candidate", N_BATCH + N_QUERIES).head(N_BATCH).side()
    floors = _floors(_best(jobs, cands, K, transpose=True), jobs.ids)

    def numpy_top10():
        """Plain numpy done well: blocks of the same size into one reused buffer, the 10th best
        by partition, the entries at or above it sorted (faster than argpartition here)."""
        buf = np.empty(BLOCK * len(jobs), np.float32)
        n = len(jobs)
        out = []
        for start in range(0, len(cands), BLOCK):
            block = cands.vectors[start : start + BLOCK]
            sim = np.matmul(block, jobs.vectors.T, out=buf[: len(block) * n].reshape(len(block), n))
            kth = np.partition(sim, n - K, axis=1)[:, n - K]
            rows, cols = np.nonzero(sim >= kth[:, None])
            order = np.lexsort((cols, -sim[rows, cols], rows))
            out.append((rows[order] + start, cols[order]))
        return out

    def numpy_gemm():
        return cands.vectors @ jobs.vectors.T

    runs = {
        "numpy": numpy_top10,
        "gemm": numpy_gemm,
        "crossjoin": lambda: _best(cands, jobs, K),
        "both_sides": lambda: _lists(cands, jobs, K, floors=floors),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, fn in runs.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    best = {name: min(v) for name, v in times.items()}
    log("all repeats (s): " + ", ".join(f"{n}={[round(x, 2) for x in v]}" for n, v in times.items()))
    suite.info["repeats"] = {n: [round(x, 3) for x in v] for n, v in times.items()}
    flops = 2 * len(cands) * len(jobs) * cands.vectors.shape[1]
    suite.add("numpy: similarity matrix + top-10, 1,000 x 100k", best["numpy"], "s")
    suite.add("numpy: the matrix product alone", best["gemm"], "s", note=f"({flops / best['gemm'] / 1e9:.0f} GFLOP/s)")
    suite.add("crossjoin: hybrid score + top-10 (_best), 1,000 x 100k", best["crossjoin"], "s")
    suite.add("ratio crossjoin / numpy", best["crossjoin"] / best["numpy"], "x", target="<= 5")
    suite.add("ratio crossjoin / the matrix product alone (the floor)", best["crossjoin"] / best["gemm"], "x")
    suite.add(
        "crossjoin: _best and, from the same product, the entries entering each job's top-10 (_lists)",
        best["both_sides"],
        "s",
    )


def _floors(lists: dict[str, dict[str, tuple]], ids: list[str]):
    """Each job's 10th best among the batch as its floor: the entries ``_lists`` collects for the
    jobs are then their top 10 among the 1,000, the most a stored list can take from them."""
    from talent_matching.features import Floors

    last = [list(lists[j].items())[-1] for j in ids]
    return Floors(np.asarray([entry[0] for _, entry in last], dtype=np.float64), [cid for cid, _ in last])


INCREMENTAL_SIZES = ((2_000, 500), (20_000, 5_000))  # (candidates, jobs) stored and matched
REPEATS = 5  # new records per size and side, each timed on its own run
RSS_TARGET_MB = 1024
INCREMENTAL_SEED = 13
_CHILD = """
import json, resource, sys, time


def peak_kb():
    # this process image's high-water RSS: ru_maxrss would also count the benchmark process that
    # forked it (Linux carries the larger of the two across exec)
    try:
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


from talent_matching.crossjoin import run_matching
from talent_shared.db.connection import connect

with connect(sys.argv[1]) as conn:
    before = peak_kb()
    started = time.perf_counter()
    report = run_matching(conn, k=int(sys.argv[2]))
    conn.commit()
    seconds = time.perf_counter() - started
print(json.dumps({"before_kb": before, "peak_kb": peak_kb(), "seconds": seconds,
                  "changed": report.changed_candidates + report.changed_jobs}))
"""


def run_incremental(suite: Suite, *, sizes=INCREMENTAL_SIZES, repeats: int = REPEATS) -> None:
    """One new record against what is stored and matched: 2,000 candidates + 500 jobs, then 10x.

    Per size: a fresh database loaded with ``COPY`` (``benchmarks.incremental``), matched from
    scratch by ``run_matching`` (timed, for reference) and vacuumed as autovacuum would; then, per
    side, ``repeats`` times a new record stored and one ``run_matching`` + commit timed (p50); then
    one more new record matched by a fresh process (``python -c``: imports, connect, one run) whose
    peak RSS (``VmHWM``) is the step's memory, beside what the imports alone took; last, the
    stored lists are compared with a from-scratch recompute (the crossjoin tests' exactness check
    at this size: no row may differ). The ratios
    large / small are the cost of 10x the stored data; the goal is that one new candidate costs
    about what it changes: <= 2x, and <= 1 GiB.
    """
    from benchmarks.pg import server
    from talent_matching.crossjoin import run_matching
    from talent_shared.db.connection import connect

    extra = repeats + 1
    most_c, most_j = max(c for c, _ in sizes), max(j for _, j in sizes)
    built = {
        "candidate": incremental.build("candidate", most_c + extra, INCREMENTAL_SEED),
        "job": incremental.build("job", most_j + extra, INCREMENTAL_SEED),
    }
    new = {e: r.rows(len(r) - extra, len(r)) for e, r in built.items()}  # never among the stored ones
    p50s: dict[tuple[str, int], float] = {}
    with server() as url:
        for n_c, n_j in sizes:
            label = f"{n_c:,} candidates + {n_j:,} jobs"
            db_url = incremental.fresh_database(url, f"bench_incremental_{n_c}_{n_j}")
            with connect(db_url) as conn:
                incremental.store(conn, built["candidate"].rows(0, n_c))
                incremental.store(conn, built["job"].rows(0, n_j))
                conn.commit()
            incremental.vacuum(db_url)
            with connect(db_url) as conn:
                started = time.perf_counter()
                first = run_matching(conn, k=K)
                conn.commit()
                scratch = time.perf_counter() - started
            assert len(first.changed_candidates) == n_c and len(first.changed_jobs) == n_j
            (rows,) = _one(db_url, "SELECT count(*) FROM talent.matches")
            suite.add(f"from scratch, {label} (reference)", scratch, "s", note=f"({rows:,} rows)")
            incremental.vacuum(db_url)
            for entity in ("candidate", "job"):
                p50s[(entity, n_c)] = _one_new(suite, db_url, f"one new {entity}, {label} stored", new[entity], repeats)
            differing = _differs_from_recompute(db_url)
            suite.add(f"rows unlike a from-scratch recompute, {label}", differing, "rows", target="<= 0")
    (small_c, small_j), (large_c, large_j) = sizes[0], sizes[-1]
    sizes_text = f"{large_c:,} + {large_j:,} / {small_c:,} + {small_j:,}"
    suite.add(
        f"one new candidate: time at {sizes_text}",
        p50s[("candidate", large_c)] / p50s[("candidate", small_c)],
        "x",
        target="<= 2",
    )
    suite.add(
        f"one new job: time at {sizes_text}",
        p50s[("job", large_c)] / p50s[("job", small_c)],
        "x",
        note="(a new job is scored against every candidate: 10x as many read)",
    )


def _differs_from_recompute(db_url: str) -> int:
    """After the incremental runs, the stored lists against ``run_matching`` from scratch on the
    same records: the number of pairs or inputs whose stored columns differ (scores to the last
    bit), 0 when the incremental result is exact at this size."""
    from talent_matching.crossjoin import run_matching
    from talent_shared.db.connection import connect

    pairs = (
        "SELECT candidate_id, job_id, score, candidate_rank, job_rank, similarity, skill_overlap,"
        " experience_fit, lexical, seniority_fit, candidate_version, job_version FROM talent.matches"
    )
    inputs = "SELECT entity, record_id, data_version, floor_score, floor_id FROM talent.match_inputs"

    def state(conn) -> dict:
        out = {("pair", r[0], r[1]): r[2:] for r in conn.execute(pairs)}
        out.update({("input", r[0], r[1]): r[2:] for r in conn.execute(inputs)})
        return out

    with connect(db_url) as conn:
        incremental_state = state(conn)
        conn.execute("TRUNCATE talent.matches, talent.match_inputs")
        run_matching(conn, k=K)
        recomputed = state(conn)
        conn.rollback()  # the database keeps its incremental lists
    keys = incremental_state.keys() | recomputed.keys()
    differing = sum(1 for key in keys if incremental_state.get(key) != recomputed.get(key))
    log(f"incremental against from scratch: {len(incremental_state):,} rows stored, {differing} differ")
    return differing


def _one_new(suite: Suite, db_url: str, label: str, new, repeats: int) -> float:
    """``repeats`` runs, each after one more of ``new`` is stored, timed with the two parts that
    read in proportion to what is stored (the change query, the features read); then one in a
    fresh process for its peak RSS. Returns the p50 time."""
    from talent_matching.crossjoin import pending_changes, run_matching
    from talent_shared.db.connection import connect

    times, phases, questions = [], [], []
    with connect(db_url) as conn, _timed_parts() as parts:
        for i in range(repeats):
            record = new.rows(i, i + 1)
            incremental.store(conn, record)
            conn.commit()
            parts.clear()
            started = time.perf_counter()
            report = run_matching(conn, k=K)
            conn.commit()
            times.append(time.perf_counter() - started)
            phases.append(dict(parts))
            assert report.changed_candidates + report.changed_jobs == record.ids, report
            started = time.perf_counter()
            assert pending_changes(conn, K) == 0  # the matching reconciler's question on each tick
            conn.commit()
            questions.append(time.perf_counter() - started)
    log(f"{label}: " + ", ".join(f"{t * 1e3:.0f}" for t in times) + " ms")
    suite.add(f"{label}: run_matching p50 of {repeats}", p50(times) * 1e3, "ms")
    for part, what in (
        ("changes", "finding the changes (one query)"),
        ("reach", "bounding every pair in the database (reach, one query)"),
        ("features", "reading the features"),
    ):
        suite.add(f"  of which {what}, p50", p50([p.get(part, 0.0) for p in phases]) * 1e3, "ms")
    suite.add(f"{label}: the reconciler's question after it (nothing pending), p50", p50(questions) * 1e3, "ms")
    child = _fresh_run(db_url, new.rows(repeats, repeats + 1))
    suite.add(
        f"{label}: peak RSS of a fresh process",
        child["peak_kb"] / 1024,
        "MB",
        target=f"<= {RSS_TARGET_MB}",
        note=f"(imports and connection alone {child['before_kb'] / 1024:.0f} MB; that run {child['seconds'] * 1e3:.0f} ms)",
    )
    return p50(times)


@contextmanager
def _timed_parts() -> Iterator[dict[str, float]]:
    """Seconds spent in ``stored.changes``, ``reach.reachable`` and ``load_features`` during the
    block, by name."""
    from talent_matching import crossjoin, reach, stored

    spent: dict[str, float] = {}

    def timing(name: str, fn):
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[name] = spent.get(name, 0.0) + time.perf_counter() - started

        return run

    changes, reachable, features = stored.changes, reach.reachable, crossjoin.load_features
    stored.changes = timing("changes", changes)  # type: ignore[assignment]
    reach.reachable = timing("reach", reachable)  # type: ignore[assignment]
    crossjoin.load_features = timing("features", features)  # type: ignore[assignment]
    try:
        yield spent
    finally:
        stored.changes, reach.reachable, crossjoin.load_features = changes, reachable, features  # type: ignore[assignment]


def _one(db_url: str, query: str) -> tuple:
    from talent_shared.db.connection import connect

    with connect(db_url) as conn:
        return conn.execute(query).fetchone()  # type: ignore[return-value]


def _fresh_run(db_url: str, record) -> dict:
    """Store ``record``, then match it in a new Python process; its peak RSS and time."""
    import json
    import subprocess
    import sys

    from benchmarks.common import ROOT
    from talent_shared.db.connection import connect

    with connect(db_url) as conn:
        incremental.store(conn, record)
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, db_url, str(K)], capture_output=True, text=True, check=True, cwd=ROOT
    )
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out["changed"] == record.ids, out
    return out
