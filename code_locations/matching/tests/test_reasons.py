"""Reasons stored with a candidate's top matches: readable, ordered, and equal to a recompute."""

import json

from talent_candidates.reading import candidate_input
from talent_jobs.reading import job_input
from talent_matching.crossjoin import run_matching
from talent_matching.reasons import MARKER, reasons
from talent_platform.seed import generate
from talent_shared.ingest.parse import Accepted, parse_bytes
from talent_shared.ingest.store import store_accepted
from talent_shared.profiles import normalize
from talent_shared.providers.base import Profile
from talent_shared.providers.local import LocalEmbedder, LocalLLM
from talent_shared.testing import TEST_PROMPT
from talent_shared.vectors import embed

READERS = {"candidate": candidate_input, "job": job_input}


def _load(db, entity: str, records: list[dict]) -> None:
    data = "\n".join(json.dumps(r) for r in records).encode()
    accepted = [r for r in parse_bytes(entity, "test.jsonl", data) if isinstance(r, Accepted)]  # type: ignore[arg-type]
    store_accepted(db, entity, "test.jsonl", accepted)
    ids = [a.record.id for a in accepted]
    normalize(db, entity, ids, LocalLLM(), READERS[entity], "test", prompt=TEST_PROMPT)
    embed(db, entity, ids, LocalEmbedder(384))


def test_reasons_name_the_trade_words_and_the_level() -> None:
    cand = Profile(title="Journeyman Lineman", skills=["team leadership"], seniority="senior", years_experience=9)
    job = Profile(title="Apprentice Lineworker", skills=["team leadership"], seniority="intern", years_experience=0)
    got = reasons(cand, job, similarity=0.6, overlap=1.0, fit=1.0, lexical_sim=0.5, seniority=0.25)
    assert len(got) == 3 and [r["share"] for r in got] == sorted((r["share"] for r in got), reverse=True)
    texts = " | ".join(r["text"] for r in got)
    assert '"lineworker"' in texts  # the shared trade word, as the job writes it
    assert "over-qualified: senior for an intern job" in texts


def test_a_fitting_level_is_said_and_an_unknown_one_is_neutral() -> None:
    job = Profile(title="Dairy Herd Manager", skills=[], seniority="lead", years_experience=5)
    fits = Profile(title="Herdsman", skills=[], seniority="lead", years_experience=10)
    unknown = Profile(title="I milk cows", skills=[], seniority="junior", years_experience=0)
    level = {r["kind"]: r["text"] for r in reasons(fits, job, 0.5, 0.0, 1.0, 0.1, 1.0)}
    assert level.get("level", "").startswith("level fits: lead for a lead job (10 years, 5 years asked)")
    texts = [r["text"] for r in reasons(unknown, job, 0.5, 0.0, 1.0, 0.0, 1.0)]
    assert any(t.startswith("level not stated") for t in texts)
    assert not any("; " in t for t in texts)  # the stored form separates reasons with "; "


def _explain(candidate, job, overlap) -> str:
    return "fits"


def test_stored_reasons_equal_a_recompute(talent_env, db) -> None:
    """Every candidate's top three explanations end with three reasons, and after an incremental
    run they are what a from-scratch run stores."""
    cands, jobs = generate(60, 24, seed=5)
    _load(db, "candidate", cands[:50])
    _load(db, "job", jobs[:20])
    run_matching(db, k=5, explain=_explain)
    _load(db, "candidate", cands[50:])
    _load(db, "job", jobs[20:])
    run_matching(db, k=5, explain=_explain)

    def stored() -> dict:
        rows = db.execute(  # below the top three an explanation may outlive its rank, as before
            "SELECT candidate_id, job_id, candidate_rank, explanation FROM talent.matches WHERE candidate_rank <= 3"
        ).fetchall()
        return {(c, j): (rank, text) for c, j, rank, text in rows}

    incremental = stored()
    top = [text for _, text in incremental.values()]
    assert top and all(text.count(MARKER) == 1 and text.split(MARKER)[1].count("; ") == 2 for text in top)
    db.execute("TRUNCATE talent.matches, talent.match_inputs")
    run_matching(db, k=5, explain=_explain)
    assert stored() == incremental
