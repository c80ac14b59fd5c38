"""``quality``: how often the pipeline's matches put the right job (or candidate) first.

Labelled sets under ``tests/data/quality/`` (``dev``, tuned on; the ``heldout*`` sets, written
before any tuning and never changed; see the README there) and ``tests/data/professions``. Each set goes
through the real pipeline functions on a fresh database of the benchmarks' embedded Postgres:
contract parsing and storing, ``normalize`` with the configured LLM provider, ``embed`` with the
configured embedder and the locations' readers (what the ``*_vectors`` assets run), then
``run_matching`` with K = the size of the other side, so ``talent.matches`` holds whole rankings.
The same run ranks with two baselines:

- **BM25** (Okapi, k1 = 1.2, b = 0.75, Lucene's IDF) over the raw record text (candidate: headline,
  resume, listed skills; job: title, company, description, listed skills), lowercased word tokens,
  no stemming or stop words, the IDF of the set itself;
- **dense**: cosine of the very vectors the pipeline stored (same embedder, same text).

Metrics, both directions: candidate -> job (the labelled job's rank for each candidate) and job ->
candidate (for each job some candidate is labelled with, the rank of its first such candidate):
top-1, top-3 and MRR. Ties rank by id, as the matcher's do. Determinism: the set is embedded and
matched a second time from scratch and the rankings compared.

The production path (issue 22, item 3): the sets in ``PRODUCTION_SETS`` run once more with
normalization by the OpenAI provider, whose requests the official client sends over HTTP to a
server on localhost answering from that set's recordings (``tests/data/openai/<set>``; the README
there says who wrote them and how to re-record them against the API). Embeddings stay on the
local embedder: OpenAI's 1,536-d vectors cannot be written by hand, and item 3 is about the
normalization, which this isolates. Its rows stand beside the local default's.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from benchmarks.common import ROOT, Suite, log

SETS = {
    "dev": ROOT / "tests" / "data" / "quality" / "dev",
    "heldout": ROOT / "tests" / "data" / "quality" / "heldout",
    "heldout-hard": ROOT / "tests" / "data" / "quality" / "heldout-hard",
    "heldout-industry": ROOT / "tests" / "data" / "quality" / "heldout-industry",
    "heldout-services": ROOT / "tests" / "data" / "quality" / "heldout-services",
    "heldout-blind": ROOT / "tests" / "data" / "quality" / "heldout-blind",
    "heldout-trades2": ROOT / "tests" / "data" / "quality" / "heldout-trades2",
    "heldout-mixed": ROOT / "tests" / "data" / "quality" / "heldout-mixed",
    "heldout-ladders": ROOT / "tests" / "data" / "quality" / "heldout-ladders",
    "professions": ROOT / "tests" / "data" / "professions",
}
MATCHERS = ("pipeline", "bm25", "dense")
DIRECTIONS = ("c->j", "j->c")
TARGET_SETS = (
    "heldout",
    "heldout-hard",
    "heldout-industry",
    "heldout-services",
    "heldout-blind",
    "heldout-trades2",
    "heldout-mixed",
    "heldout-ladders",
)
K1, B = 1.2, 0.75
# Issue 22, item 3: sets also run with normalization on the production path (the OpenAI provider),
# its answers served from these recordings (see the README there).
PRODUCTION_SETS = {"heldout-blind": ROOT / "tests" / "data" / "openai" / "heldout-blind"}
PRODUCTION = "pipeline, OpenAI path"
AUTHORED_NOTE = (
    "written in OpenAI's wire format by a model in a development session following the production prompt,"
    " not captured from api.openai.com (no key here; tests/data/openai/heldout-blind/README.md says how to"
    " re-record them)"
)
_WORD = re.compile(r"\w+")


@dataclass
class Labelled:
    name: str
    candidates: list[dict]
    jobs: list[dict]
    expected: dict[str, str]  # candidate id -> job id

    @classmethod
    def load(cls, name: str, folder: Path) -> Labelled:
        def records(sub: str) -> list[dict]:
            return [
                json.loads(line)
                for f in sorted((folder / "landing" / sub).glob("*.jsonl"))
                for line in f.read_text().splitlines()
                if line.strip()
            ]

        expected = json.loads((folder / "expected.json").read_text())
        expected.pop("_about", None)
        return cls(name, records("candidates"), records("jobs"), expected)

    def relevant_candidates(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for cid, jid in self.expected.items():
            out.setdefault(jid, set()).add(cid)
        return out


@dataclass
class Rankings:
    """For each matcher: candidate id -> job ids best first, and job id -> candidate ids best first."""

    c2j: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    j2c: dict[str, dict[str, list[str]]] = field(default_factory=dict)


def raw_text(entity: str, record: dict) -> str:
    """What BM25 reads: the record's own text fields, nothing normalized."""
    if entity == "candidate":
        parts = [record.get("headline"), record["resume_text"], " ".join(record.get("skills") or [])]
    else:
        skills = [*(record.get("required_skills") or []), *(record.get("nice_to_have_skills") or [])]
        parts = [record["title"], record.get("company"), record["description"], " ".join(skills)]
    return "\n".join(p for p in parts if p)


def bm25(queries: list[str], documents: list[str]) -> np.ndarray:
    """Okapi BM25 scores, shape (len(queries), len(documents)), IDF over ``documents``."""
    docs = [Counter(_WORD.findall(d.lower())) for d in documents]
    lengths = np.asarray([sum(d.values()) for d in docs], dtype=np.float64)
    avg = lengths.mean() if len(docs) else 1.0
    df: Counter[str] = Counter(t for d in docs for t in d)
    n = len(docs)
    scores = np.zeros((len(queries), n))
    for qi, query in enumerate(queries):
        for term, qtf in Counter(_WORD.findall(query.lower())).items():
            if term not in df:
                continue
            idf = math.log((n - df[term] + 0.5) / (df[term] + 0.5) + 1.0)
            tf = np.asarray([d.get(term, 0) for d in docs], dtype=np.float64)
            scores[qi] += qtf * idf * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lengths / avg))
    return scores


def _rank(scores: np.ndarray, row_ids: list[str], col_ids: list[str]) -> dict[str, list[str]]:
    """Columns by descending score, ties by id (scores rounded to 9 decimals first)."""
    out = {}
    for r, rid in enumerate(row_ids):
        order = sorted(range(len(col_ids)), key=lambda c: (-round(float(scores[r, c]), 9), col_ids[c]))
        out[rid] = [col_ids[c] for c in order]
    return out


def _pipeline(
    conn, data: Labelled, url: str, settings=None
) -> tuple[Rankings, dict[str, float], dict[str, np.ndarray]]:
    """The labelled set through the pipeline's functions; rankings from ``talent.matches``.
    ``settings`` chooses the providers (default: the process's, with ``url``'s database)."""
    from talent_candidates.definitions import pipeline as candidates
    from talent_jobs.definitions import pipeline as jobs
    from talent_matching.crossjoin import run_matching
    from talent_shared.ingest.parse import Accepted, parse_bytes
    from talent_shared.ingest.store import store_accepted
    from talent_shared.profiles import normalize
    from talent_shared.providers.factory import embedding_provider, llm_provider
    from talent_shared.settings import Settings
    from talent_shared.vectors import embed

    settings = settings or Settings(database_url=url)
    specs = {"candidate": candidates, "job": jobs}
    records = {"candidate": data.candidates, "job": data.jobs}
    times: dict[str, float] = {}
    for entity in ("candidate", "job"):
        payload = "\n".join(json.dumps(r) for r in records[entity]).encode()
        accepted = [r for r in parse_bytes(entity, f"{data.name}.jsonl", payload) if isinstance(r, Accepted)]
        assert len(accepted) == len(records[entity]), f"{data.name}: a {entity} record was rejected"
        store_accepted(conn, entity, f"{data.name}.jsonl", accepted)
        ids = [a.record.id for a in accepted]
        spec = specs[entity]
        done = normalize(
            conn, entity, ids, llm_provider(settings), spec.reader, spec.normalize_version, prompt=spec.prompt
        )
        if done.failed:  # a recording that misses must fail the run, not leave the record out of it
            raise RuntimeError(f"{data.name}: no profile for {entity}s {done.failed}")
        embedder = embedding_provider(settings)
        embedder.embed(["warm up"])  # the model's one-off load is not a per-record cost
        t = time.perf_counter()
        embed(conn, entity, ids, embedder, to_input=spec.reader)
        times[entity] = time.perf_counter() - t
    conn.commit()
    k = max(len(data.candidates), len(data.jobs))
    run_matching(conn, k=k)
    conn.commit()
    rankings = Rankings()
    c2j: dict[str, list[str]] = {}
    j2c: dict[str, list[str]] = {}
    for cid, jid, crank, jrank in conn.execute(
        "SELECT candidate_id, job_id, candidate_rank, job_rank FROM talent.matches ORDER BY candidate_rank, job_rank"
    ).fetchall():
        if crank is not None:
            c2j.setdefault(cid, []).append((crank, jid))  # type: ignore[arg-type]
        if jrank is not None:
            j2c.setdefault(jid, []).append((jrank, cid))  # type: ignore[arg-type]
    rankings.c2j["pipeline"] = {c: [j for _, j in sorted(v)] for c, v in c2j.items()}  # type: ignore[misc]
    rankings.j2c["pipeline"] = {j: [c for _, c in sorted(v)] for j, v in j2c.items()}  # type: ignore[misc]
    vectors = {}
    for entity, table in (("candidate", "candidate_vectors"), ("job", "job_vectors")):
        rows = conn.execute(f"SELECT record_id, embedding FROM talent.{table} ORDER BY record_id").fetchall()
        vectors[entity] = np.vstack([np.asarray(v.to_numpy() if hasattr(v, "to_numpy") else v) for _, v in rows])
        vectors[entity + "_ids"] = [r for r, _ in rows]  # type: ignore[assignment]
    return rankings, times, vectors


def _metrics(ranks: list[int]) -> tuple[float, float, float]:
    n = len(ranks)
    return (
        100 * sum(r == 1 for r in ranks) / n,
        100 * sum(r <= 3 for r in ranks) / n,
        sum(1 / r for r in ranks) / n,
    )


def evaluate(
    data: Labelled, rankings: Rankings, matchers: tuple[str, ...] = MATCHERS
) -> dict[tuple[str, str], tuple[float, float, float]]:
    out = {}
    relevant = data.relevant_candidates()
    for matcher in matchers:
        c_ranks = [rankings.c2j[matcher][c].index(j) + 1 for c, j in data.expected.items()]
        j_ranks = [min(rankings.j2c[matcher][j].index(c) + 1 for c in cands) for j, cands in sorted(relevant.items())]
        out[(matcher, "c->j")] = _metrics(c_ranks)
        out[(matcher, "j->c")] = _metrics(j_ranks)
    return out


def fresh_database(url: str, name: str) -> str:
    """A new, migrated database ``name`` on ``url``'s server (dropped first if it exists)."""
    import psycopg

    from benchmarks.pg import _db_url
    from talent_shared.db.connection import connect
    from talent_shared.db.migrations import migrate
    from talent_shared.settings import get_settings

    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    db_url = _db_url(url, name)
    with connect(db_url) as conn:
        migrate(conn, dim=get_settings().embedding_dim)
    return db_url


def run_set(url: str, data: Labelled, passes_wanted: int = 2) -> tuple[dict, dict, Rankings, bool]:
    from talent_shared.db.connection import connect

    passes = []
    for attempt in range(1, passes_wanted + 1):  # a second pass on a fresh database checks determinism
        db_url = fresh_database(url, f"bench_quality_{data.name}_{attempt}")
        with connect(db_url) as conn:
            passes.append(_pipeline(conn, data, db_url))
    rankings, times, vectors = passes[0]
    deterministic = all(p[0].c2j == rankings.c2j and p[0].j2c == rankings.j2c for p in passes[1:])

    cand_ids = [c["id"] for c in data.candidates]
    job_ids = [j["id"] for j in data.jobs]
    cand_text = [raw_text("candidate", c) for c in data.candidates]
    job_text = [raw_text("job", j) for j in data.jobs]
    rankings.c2j["bm25"] = _rank(bm25(cand_text, job_text), cand_ids, job_ids)
    rankings.j2c["bm25"] = _rank(bm25(job_text, cand_text), job_ids, cand_ids)
    cos = vectors["candidate"] @ vectors["job"].T
    c_ids, j_ids = vectors["candidate_ids"], vectors["job_ids"]
    rankings.c2j["dense"] = _rank(cos, c_ids, j_ids)  # type: ignore[arg-type]
    rankings.j2c["dense"] = _rank(cos.T, j_ids, c_ids)  # type: ignore[arg-type]
    return evaluate(data, rankings), times, rankings, deterministic


def run_production(
    url: str, data: Labelled, recordings: Path, passes_wanted: int = 2
) -> tuple[dict, Rankings, bool, dict]:
    """``data`` through the pipeline with normalization on the production path: the OpenAI provider
    and the official client, sending each record's extraction request over HTTP to a server on
    localhost that answers from ``recordings`` (:class:`~talent_shared.llm.recorded.RecordedOpenAI`).
    Embeddings stay on the local embedder, so the rankings differ from the local default's by the
    normalization alone (item 3 of issue 22). Returns its pipeline metrics, rankings, whether the
    passes agreed, and what the ledger recorded for the first pass."""
    from talent_shared.db.connection import connect
    from talent_shared.llm.recorded import RecordedOpenAI
    from talent_shared.settings import Settings

    passes = []
    ledger: dict = {}
    with RecordedOpenAI(recordings) as server:
        for attempt in range(1, passes_wanted + 1):
            db_url = fresh_database(url, f"bench_quality_{data.name}_openai_{attempt}")
            settings = Settings(
                database_url=db_url,
                llm_provider="openai",
                openai_base_url=server.base_url,
                OPENAI_API_KEY="sk-recorded-answers-no-key",  # type: ignore[call-arg]
            )
            with connect(db_url) as conn:
                passes.append(_pipeline(conn, data, db_url, settings))
                if attempt == 1:
                    calls, tokens_in, tokens_out, cost = conn.execute(
                        "SELECT count(*), sum(input_tokens), sum(output_tokens), sum(cost_usd)"
                        " FROM talent.llm_usage WHERE provider = 'openai' AND status = 'ok'"
                    ).fetchone()
                    ledger = {"calls": calls, "input_tokens": tokens_in, "output_tokens": tokens_out, "cost": cost}
    ledger["http_requests"] = len(server.served)
    rankings = passes[0][0]
    deterministic = all(p[0].c2j == rankings.c2j and p[0].j2c == rankings.j2c for p in passes[1:])
    return evaluate(data, rankings, ("pipeline",)), rankings, deterministic, ledger


def _log_misses(name: str, data: Labelled, rankings: Rankings, label: str = "") -> None:
    for cid, jid in data.expected.items():
        got = rankings.c2j["pipeline"][cid]
        if got[0] != jid:
            log(f"  miss {name}{label} c->j: {cid} expected {jid} (rank {got.index(jid) + 1}), got {got[0]}")
    for jid, cands in sorted(data.relevant_candidates().items()):
        got = rankings.j2c["pipeline"][jid]
        if got[0] not in cands:
            first = min(got.index(c) + 1 for c in cands)
            log(f"  miss {name}{label} j->c: {jid} expected one of {sorted(cands)} (rank {first}), got {got[0]}")


def margins(db_url: str, data: Labelled) -> dict[str, tuple[float, float]]:
    """Per direction, (mean, smallest) of the right answer's score minus the best wrong one's: how
    far a set at 100 % top-1 is from its first miss."""
    from talent_shared.db.connection import connect

    with connect(db_url) as conn:
        scores = {(c, j): s for c, j, s in conn.execute("SELECT candidate_id, job_id, score FROM talent.matches")}
    jobs = sorted({j for _, j in scores})
    cands = sorted({c for c, _ in scores})
    c2j = [scores[(c, right)] - max(scores[(c, j)] for j in jobs if j != right) for c, right in data.expected.items()]
    j2c = [
        max(scores[(c, j)] for c in rel) - max(scores[(c, j)] for c in cands if c not in rel)
        for j, rel in data.relevant_candidates().items()
    ]
    return {"c->j": (float(np.mean(c2j)), min(c2j)), "j->c": (float(np.mean(j2c)), min(j2c))}


def profile_differences(local_url: str, production_url: str) -> dict[str, int]:
    """How many records' profiles differ between two runs, field by field (of those scoring reads)."""
    from talent_shared.db.connection import connect

    def profiles(url: str) -> dict[tuple[str, str], dict]:
        with connect(url) as conn:
            return {(e, r): p for e, r, p in conn.execute("SELECT entity, record_id, profile FROM talent.profiles")}

    local, production = profiles(local_url), profiles(production_url)
    fields = ("title", "skills", "seniority", "years_experience")
    return {f: sum(local[k][f] != production[k][f] for k in local) for f in fields} | {"records": len(local)}


def _production_rows(suite: Suite, url: str, data: Labelled, local: dict, table: list[tuple]) -> None:
    """The production path's rows for ``data``, each beside the local default's figure."""
    from benchmarks.pg import _db_url

    log(f"{data.name}, production path: {AUTHORED_NOTE}; embeddings on the local embedder")
    results, rankings, deterministic, ledger = run_production(url, data, PRODUCTION_SETS[data.name])
    log(
        f"{data.name}, production path: {ledger['http_requests']} HTTP requests answered from recordings,"
        f" {ledger['calls']} ledger calls in one pass, {ledger['input_tokens']} + {ledger['output_tokens']}"
        f" tokens, ${ledger['cost']:.5f} at gpt-4o-mini prices; deterministic: {'yes' if deterministic else 'NO'}"
    )
    suite.info[f"{data.name}_production_deterministic"] = deterministic
    suite.info[f"{data.name}_production_answers"] = AUTHORED_NOTE
    for direction in DIRECTIONS:
        top1, top3, mrr = results[("pipeline", direction)]
        l1, l3, _ = local[("pipeline", direction)]
        table.append((data.name, direction, PRODUCTION, top1, top3, mrr))
        suite.add(
            f"{data.name} {direction} {PRODUCTION} top-1", top1, "%", target=f">= {l1:.1f}", note="(the local default)"
        )
        suite.add(
            f"{data.name} {direction} {PRODUCTION} top-3", top3, "%", target=f">= {l3:.1f}", note="(the local default)"
        )
        suite.add(f"{data.name} {direction} {PRODUCTION} MRR", mrr, "")
    _log_misses(data.name, data, rankings, " (production path)")
    local_db, production_db = (_db_url(url, f"bench_quality_{data.name}{s}_1") for s in ("", "_openai"))
    diff = profile_differences(local_db, production_db)
    log(
        f"{data.name}: profiles that differ from the local default's, of {diff.pop('records')}: "
        + ", ".join(f"{f} {n}" for f, n in diff.items())
    )
    for label, db in (("local default", local_db), ("production path", production_db)):
        m = margins(db, data)
        log(
            f"{data.name} {label}: right answer's score minus the best wrong one's, mean (smallest):"
            + "".join(f" {d} {mean:.4f} ({low:.4f})" for d, (mean, low) in m.items())
        )


def run_quality(suite: Suite) -> None:
    from benchmarks.pg import server
    from talent_shared.providers.factory import embedding_code_version, llm_code_version

    suite.info["embedding"] = embedding_code_version()
    suite.info["llm"] = llm_code_version()
    log(f"embedding {suite.info['embedding']}, normalization {suite.info['llm']}")
    table: list[tuple] = []
    with server() as url:
        for name, folder in SETS.items():
            data = Labelled.load(name, folder)
            results, times, rankings, deterministic = run_set(url, data)
            n = len(data.candidates) + len(data.jobs)
            log(
                f"{name}: {len(data.candidates)} candidates, {len(data.jobs)} jobs;"
                f" deterministic: {'yes' if deterministic else 'NO'}"
            )
            suite.add(f"{name}: embedding, per record", 1000 * sum(times.values()) / n, "ms")
            suite.info[f"{name}_deterministic"] = deterministic
            for direction in DIRECTIONS:
                best = max(results[(m, direction)][0] for m in ("bm25", "dense"))
                for matcher in MATCHERS:
                    top1, top3, mrr = results[(matcher, direction)]
                    table.append((name, direction, matcher, top1, top3, mrr))
                    gated = name in TARGET_SETS and matcher == "pipeline"
                    # issue 22: never below the better baseline, and 5 points above it where it is below 95 %
                    goal = best + 5 if best < 95 else best
                    suite.add(
                        f"{name} {direction} {matcher} top-1",
                        top1,
                        "%",
                        target=f">= {goal:.1f}" if gated else "",
                        note=f"(the better baseline is at {best:.1f}%)" if gated and best >= 95 else "",
                    )
                    suite.add(f"{name} {direction} {matcher} top-3", top3, "%", target=">= 95" if gated else "")
                    suite.add(f"{name} {direction} {matcher} MRR", mrr, "")
            _log_misses(name, data, rankings)
            if name in PRODUCTION_SETS:
                _production_rows(suite, url, data, results, table)
    suite.info["table"] = table
    print("\n  | matcher | set | direction | top-1 | top-3 | MRR |\n  |---|---|---|---|---|---|")
    for name, direction, matcher, top1, top3, mrr in table:
        print(f"  | {matcher} | {name} | {direction} | {top1:.1f}% | {top3:.1f}% | {mrr:.3f} |")
    print(f"\n  {PRODUCTION}: normalization by the OpenAI provider over HTTP; its answers were {AUTHORED_NOTE}.")
