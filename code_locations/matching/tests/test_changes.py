"""Matching compares only what was written since its last run, in commit order (migration 0011),
and still finds every change: a late commit, a deleted vector, a deleted ``match_inputs`` row, a
truncated table."""

import json

from talent_candidates.reading import candidate_input
from talent_jobs.reading import job_input
from talent_matching.crossjoin import pending_changes, run_matching, stamp_of
from talent_matching.stored import watermark
from talent_platform.seed import generate
from talent_shared.db.connection import connect
from talent_shared.ingest.parse import Accepted, parse_bytes
from talent_shared.ingest.store import store_accepted
from talent_shared.profiles import normalize
from talent_shared.providers.local import LocalEmbedder, LocalLLM
from talent_shared.testing import TEST_PROMPT
from talent_shared.vectors import embed

K = 5
READERS = {"candidate": candidate_input, "job": job_input}


def _load(db, entity: str, records: list[dict]) -> list[str]:
    data = "\n".join(json.dumps(r) for r in records).encode()
    accepted = [r for r in parse_bytes(entity, "test.jsonl", data) if isinstance(r, Accepted)]  # type: ignore[arg-type]
    store_accepted(db, entity, "test.jsonl", accepted)
    ids = [a.record.id for a in accepted]
    normalize(db, entity, ids, LocalLLM(), READERS[entity], "test", prompt=TEST_PROMPT)
    embed(db, entity, ids, LocalEmbedder(384))
    db.commit()
    return ids


def _table(db) -> dict:
    rows = db.execute(
        "SELECT candidate_id, job_id, round(score::numeric, 5), candidate_rank, job_rank FROM talent.matches"
    ).fetchall()
    return {(c, j): (s, cr, jr) for c, j, s, cr, jr in rows}


def _from_scratch(db) -> dict:
    db.execute("TRUNCATE talent.matches, talent.match_inputs")
    run_matching(db, k=K)
    return _table(db)


def _copy_candidate(conn, source: str, new_id: str) -> None:
    """A candidate written in ``conn``'s open transaction: ``source``'s profile and vector under a new id."""
    conn.execute(
        "INSERT INTO talent.profiles (entity, record_id, profile, data_version, code_version)"
        " SELECT entity, %s, jsonb_set(profile, '{id}', to_jsonb(%s::text)), data_version || '-copy', code_version"
        " FROM talent.profiles WHERE entity = 'candidate' AND record_id = %s",
        (new_id, new_id, source),
    )
    conn.execute(
        "INSERT INTO talent.candidate_vectors (record_id, embedding, lexical, data_version, model)"
        " SELECT %s, embedding, lexical, data_version || '-copy', model FROM talent.candidate_vectors"
        " WHERE record_id = %s",
        (new_id, source),
    )


def test_a_vector_committed_after_a_run_read_is_matched_by_the_next(talent_env, db, pg_url) -> None:
    """A producer's transaction writes a candidate before a run reads and commits after the run
    wrote: its transaction id is at or above the run's snapshot xmin, so the next run compares it."""
    cands, jobs = generate(12, 6, seed=31)
    _load(db, "candidate", cands[:10])
    _load(db, "job", jobs)
    run_matching(db, k=K)
    with connect(pg_url) as late:
        _copy_candidate(late, cands[0]["id"], "c-late")  # its transaction is open from here
        _load(db, "candidate", cands[10:11])  # committed meanwhile
        first = run_matching(db, k=K)
        assert first.changed_candidates == [cands[10]["id"]]  # the open transaction's row is not visible
        late.commit()
    assert pending_changes(db, K) == 1
    db.commit()
    second = run_matching(db, k=K)
    assert second.changed_candidates == ["c-late"]
    assert _table(db) == _from_scratch(db)


def test_deleted_vectors_and_consumed_rows_are_found_without_the_whole_comparison(talent_env, db) -> None:
    cands, jobs = generate(12, 6, seed=32)
    _load(db, "candidate", cands)
    _load(db, "job", jobs)
    run_matching(db, k=K)
    assert watermark(db, stamp_of(K)) is not None  # the next run compares what was written since
    gone, forced = cands[3]["id"], jobs[2]["id"]
    db.execute("DELETE FROM talent.candidate_vectors WHERE record_id = %s", (gone,))
    db.execute("DELETE FROM talent.match_inputs WHERE entity = 'job' AND record_id = %s", (forced,))
    db.commit()
    assert pending_changes(db, K) == 2
    report = run_matching(db, k=K)
    assert report.removed == 1 and report.changed_jobs == [forced] and not report.changed_candidates
    assert gone not in {c for c, _ in _table(db)}
    assert _table(db) == _from_scratch(db)


def test_a_truncated_table_or_another_k_compares_everything(talent_env, db) -> None:
    cands, jobs = generate(8, 4, seed=33)
    _load(db, "candidate", cands)
    _load(db, "job", jobs)
    run_matching(db, k=K)
    assert watermark(db, stamp_of(K)) is not None and watermark(db, stamp_of(K + 1)) is None
    assert pending_changes(db, K + 1) == 12  # another K: every row differs from what was consumed
    db.execute("TRUNCATE talent.match_inputs")
    db.commit()
    assert watermark(db, stamp_of(K)) is None
    again = run_matching(db, k=K)
    assert len(again.changed_candidates) == 8 and len(again.changed_jobs) == 4


def test_every_writer_stamps_its_rows(talent_env, db) -> None:
    """Every writer stamps its rows, whatever its SQL: an UPDATE that leaves ``txid`` out moves it."""
    cands, _ = generate(2, 1, seed=34)
    _load(db, "candidate", cands)
    (before,) = db.execute(
        "SELECT txid::text FROM talent.candidate_vectors WHERE record_id = %s", (cands[0]["id"],)
    ).fetchone()
    db.execute("UPDATE talent.candidate_vectors SET model = model WHERE record_id = %s", (cands[0]["id"],))
    (after, mine) = db.execute(
        "SELECT txid::text, pg_current_xact_id()::text FROM talent.candidate_vectors WHERE record_id = %s",
        (cands[0]["id"],),
    ).fetchone()
    db.rollback()
    assert int(before) > 0 and after == mine != before
