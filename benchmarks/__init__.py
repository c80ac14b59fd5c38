"""Benchmarks for the matching platform (issue 3): ``python -m benchmarks [suite ...]``.

Suites: ``nearest`` (HNSW top-10 latency at 10k and 100k jobs, recall@10 against the exact scan),
``batch`` (1,000 new candidates against 100k jobs through the cross-join code, against numpy on
the same data), ``pipeline`` (1,000 candidates + 200 jobs through ``talent local run``, and the same
functions called directly in one process), ``record`` (one record dropped into a running platform,
landing to matched). ``matching`` is ``nearest`` + ``batch``; ``platform`` is ``pipeline`` +
``record``; no argument runs all. Numbers are printed and merged into ``.bench/results.json``.
See ``benchmarks/README.md``.
"""
