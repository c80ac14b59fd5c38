"""``python -m benchmarks [suite ...] [--rebuild]``: run suites, print, merge into .bench/results.json."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import time
import warnings

from benchmarks.common import Suite, machine, save

# Each suite's runner as module:function, imported only when the suite runs (the platform suites
# import the whole platform; the matching ones only numpy and psycopg).
RUNNERS = {
    "quality": "benchmarks.quality:run_quality",
    "lexical": "benchmarks.lexical:run_lexical",
    "nearest": "benchmarks.matching:run_nearest",
    "batch": "benchmarks.matching:run_batch",
    "incremental": "benchmarks.matching:run_incremental",
    "pipeline": "benchmarks.platform:run_pipeline",
    "record": "benchmarks.platform:run_record",
    "leads": "benchmarks.platform:run_leads",
    "pipeline-10k": "benchmarks.platform:run_pipeline_large",
    "growth": "benchmarks.platform:run_growth",
    "scale": "benchmarks.platform:run_scale",
    "ingest": "benchmarks.ingest:run_ingest",
}
SUITES = tuple(RUNNERS)
# leads (~35 min), pipeline-10k (~10 min), growth (~20 min) and lexical (a measurement behind a
# decision, not a budget) are asked for by name: not in "all"
GROUPS = {
    "matching": ("nearest", "batch", "incremental"),
    "platform": ("pipeline", "record"),
    "all": ("quality", "nearest", "batch", "incremental", "pipeline", "record", "ingest"),
}
TITLES = {
    "quality": "quality: top-1/top-3/MRR of matches vs BM25 and dense-only on labelled sets",
    "lexical": "lexical: the quality sets re-scored with the lexical signal hashed wider and exact",
    "nearest": "nearest: one candidate's top 10 jobs through pgvector HNSW (10k, 100k jobs)",
    "batch": "batch: 1,000 new candidates x 100k jobs, cross-join code vs numpy",
    "incremental": "incremental: one new candidate or job against 2,000 + 500 and 20,000 + 5,000 stored and matched",
    "pipeline": "pipeline: 1,000 candidates + 200 jobs, landing to all matched",
    "record": "record: one candidate dropped into a running platform, landing to matched",
    "leads": "leads: 1,000 candidates + 200 jobs on stock Dagster/PostgreSQL, each lead of issue 10 alone, all",
    "pipeline-10k": "pipeline-10k: 10,000 candidates + 2,000 jobs, landing to all matched",
    "growth": "growth: one new candidate with 2,000 + 500 and 20,000 + 5,000 already matched",
    "scale": "scale: one new candidate at 2,000 + 500 and 100,000 + 20,000 loaded through the platform; load overhead, ticks, partitions, memory, events",
    "ingest": "ingest: talent serve-ingest under open-loop load: the rate held for 60 s at p99 <= 250 ms, then 2x",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("suites", nargs="*", help=f"any of {', '.join(SUITES + tuple(GROUPS))} (default: all)")
    parser.add_argument("--rebuild", action="store_true", help="rebuild the cached 10k/100k job databases")
    parser.add_argument("--markdown", action="store_true", help="print the last results as a Markdown table and exit")
    args = parser.parse_args(argv)
    if args.markdown:
        print(markdown())
        return 0
    chosen: list[str] = []
    for name in args.suites or ["all"]:
        if name not in SUITES and name not in GROUPS:
            parser.error(f"unknown suite {name!r}")
        for suite in GROUPS.get(name, (name,)):
            if suite not in chosen:
                chosen.append(suite)
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    warnings.filterwarnings("ignore")
    print(f"benchmarks: {', '.join(chosen)} on {machine()}", flush=True)
    done: list[Suite] = []
    failed = False
    for name in chosen:
        print(f"\n== {TITLES[name]}", flush=True)
        suite = Suite(name)
        started = time.perf_counter()
        try:
            _run(name, suite, args)
        except Exception as exc:  # one suite failing must not lose the others' numbers
            failed = True
            suite.info["error"] = f"{type(exc).__name__}: {exc}"
            print(f"  FAILED: {suite.info['error']}", flush=True)
        suite.seconds = time.perf_counter() - started
        print(f"  ({suite.seconds:.0f} s)", flush=True)
        done.append(suite)
        save(done)
    path = save(done)
    print(f"\nwritten to {path}")
    return 1 if failed else 0


def markdown() -> str:
    """The results file as the table in benchmarks/README.md."""
    import json

    from benchmarks.common import RESULTS, _fmt

    data = json.loads(RESULTS.read_text())
    lines = ["| Suite | Metric | Value | Target | Met |", "|---|---|---|---|---|"]
    for name in SUITES:
        suite = data.get("suites", {}).get(name)
        if not suite:
            continue
        load = suite["machine"].get("load_average_1m")
        lines.append(f"| **{name}** | run {suite['started_at']}, {suite['seconds']:.0f} s, load avg {load} | | | |")
        if suite["info"].get("error"):
            lines.append(f"| | error: {suite['info']['error']} | | | |")
        for m in suite["metrics"]:
            met = "" if m["met"] is None else ("yes" if m["met"] else "**no**")
            value = f"{_fmt(m['value'])} {m['unit']}".strip()
            note = f" {m['note']}" if m.get("note") else ""
            lines.append(f"| | {m['name'].strip()}{note} | {value} | {m['target']} | {met} |")
    return "\n".join(lines)


def _run(name: str, suite: Suite, args: argparse.Namespace) -> None:
    module, _, function = RUNNERS[name].partition(":")
    runner = getattr(importlib.import_module(module), function)
    if name == "nearest":
        runner(suite, rebuild=args.rebuild)
    else:
        runner(suite)


if __name__ == "__main__":
    sys.exit(main())
