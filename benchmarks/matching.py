"""Matching benchmarks: one candidate against 10k/100k jobs through HNSW, and a batch of 1,000."""

from __future__ import annotations

import time

import numpy as np

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
    from talent_matching.crossjoin import BLOCK, _best, _columns

    jobs = load("job", 100_000).side()
    cands = load("candidate", N_BATCH + N_QUERIES).head(N_BATCH).side()

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
        "jobs_side": lambda: _columns(jobs, cands, transpose=True, limit=K),
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
    suite.add("crossjoin: each job's best among the 1,000 (_columns)", best["jobs_side"], "s")
