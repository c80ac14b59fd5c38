"""The upgrade path: a database written by the partition-per-record platform (schema 0007) moves to
batches and record lineage (0008, 0009) with nothing lost and no LLM or embedding call bought again.

The old database is made the honest way: the platform processes records, then the test takes the
schema back to 0007 (drops what 0008 and 0009 added), so profiles, vectors, matches and the ledger
are exactly what that deployment held. One record was edited after its profile was written and is
still unprocessed, as a live deployment would have. Then the migrations run, and the locations'
reconcilers settle the platform on a fresh Dagster instance.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pytest

from talent_shared.keys import LOCATIONS

DOWNGRADE_TO_0007 = """
DROP TRIGGER llm_usage_spend ON talent.llm_usage;
DROP TRIGGER llm_usage_truncate ON talent.llm_usage;
DROP FUNCTION talent.add_llm_spend(), talent.forget_llm_spend();
DROP TABLE talent.llm_spend_daily;
DROP INDEX talent.candidate_vectors_model_idx, talent.job_vectors_model_idx;
DROP TRIGGER candidate_vectors_writer ON talent.candidate_vectors;
DROP TRIGGER job_vectors_writer ON talent.job_vectors;
DROP TRIGGER profiles_writer ON talent.profiles;
DROP TRIGGER candidate_vectors_removal ON talent.candidate_vectors;
DROP TRIGGER job_vectors_removal ON talent.job_vectors;
DROP TRIGGER profiles_removal ON talent.profiles;
DROP TRIGGER match_inputs_removal ON talent.match_inputs;
DROP TRIGGER candidate_vectors_truncate ON talent.candidate_vectors;
DROP TRIGGER job_vectors_truncate ON talent.job_vectors;
DROP TRIGGER profiles_truncate ON talent.profiles;
DROP TRIGGER match_inputs_truncate ON talent.match_inputs;
DROP FUNCTION talent.note_writer(), talent.note_removal(), talent.forget_match_watermark();
DROP TABLE talent.match_watermark, talent.match_recheck;
ALTER TABLE talent.candidate_vectors DROP COLUMN txid;
ALTER TABLE talent.job_vectors DROP COLUMN txid;
ALTER TABLE talent.profiles DROP COLUMN txid;
DROP TABLE talent.record_stages, talent.batch_stages, talent.reconciler_ticks;
ALTER TABLE talent.raw_records DROP COLUMN ordinal, DROP COLUMN partition_key;
DROP SEQUENCE talent.candidate_ordinal, talent.job_ordinal;
DROP INDEX talent.inbox_commit_order_idx;
ALTER TABLE talent.inbox DROP COLUMN txid;
DELETE FROM talent.schema_migrations WHERE version >= '0008';
"""


@pytest.fixture
def own_database(pg_url: str, talent_env: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A database of its own on the test server: this test rewrites the schema."""
    from urllib.parse import urlsplit, urlunsplit

    from talent_shared.db.connection import connect
    from talent_shared.db.migrations import migrate
    from talent_shared.settings import get_settings

    with connect(pg_url, autocommit=True, vector=False) as admin:
        admin.execute("DROP DATABASE IF EXISTS talent_upgrade")
        admin.execute("CREATE DATABASE talent_upgrade")
    parts = urlsplit(pg_url)
    url = urlunsplit(parts._replace(path="/talent_upgrade"))
    with connect(url, vector=False) as conn:
        migrate(conn, dim=384)
    monkeypatch.setenv("TALENT_DATABASE_URL", url)
    monkeypatch.setenv("TALENT_EMBEDDING_PROVIDER", "hashing")
    get_settings.cache_clear()
    try:
        yield url
    finally:
        with connect(pg_url, autocommit=True, vector=False) as admin:
            admin.execute("DROP DATABASE IF EXISTS talent_upgrade WITH (FORCE)")


def _settle(instance: dg.DagsterInstance) -> None:
    from talent_shared.testing import settle

    defs = {loc: importlib.reload(importlib.import_module(f"talent_{loc}.definitions")).defs for loc in LOCATIONS}
    settle(defs, instance)


def test_a_partition_per_record_database_upgrades_with_nothing_lost_or_paid_twice(own_database: str) -> None:
    from talent_platform.seed import generate
    from talent_shared import lineage
    from talent_shared.db.connection import connect
    from talent_shared.db.migrations import migrate
    from talent_shared.testing import store_records

    cands, jobs = generate(7, 3, seed=21)
    with connect(own_database) as db:
        store_records(db, "candidate", cands)
        store_records(db, "job", jobs)
    with dg.instance_for_test() as instance:
        _settle(instance)
    with connect(own_database) as db:
        before = {
            "profiles": dict(db.execute("SELECT record_id, data_version FROM talent.profiles")),
            "vectors": dict(db.execute("SELECT record_id, data_version FROM talent.candidate_vectors")),
            "matches": db.execute("SELECT count(*) FROM talent.matches").fetchone()[0],
            "calls": db.execute("SELECT count(*) FROM talent.llm_usage").fetchone()[0],
        }
        assert before["matches"] > 0 and len(before["vectors"]) == 7
        db.execute(DOWNGRADE_TO_0007)
        # the old deployment's last arrival: stored after its profile, not processed yet
        edited = cands[0]["id"]
        db.execute(
            "UPDATE talent.raw_records SET content_hash = 'edited', stored_at = now() + interval '1 second',"
            " payload = jsonb_set(payload, '{resume_text}', to_jsonb('Head chef, 14 years, pastry and banquets.'::text))"
            " WHERE record_id = %s",
            (edited,),
        )
    with connect(own_database) as db:
        assert migrate(db, dim=384) == [
            "0008_inbox_commit_order",
            "0009_batches_and_record_lineage",
            "0010_public_schema_closed",
            "0011_match_changes_in_commit_order",
            "0012_vector_models_indexed",
            "0013_llm_spend_by_day",
        ]
        keys = dict(db.execute("SELECT entity, count(DISTINCT partition_key) FROM talent.raw_records GROUP BY 1"))
        assert keys == {"candidate": 1, "job": 1}  # ten records, two batches: not ten partitions
        states = dict(
            db.execute(
                "SELECT record_id || '/' || stage, status FROM talent.record_stages WHERE entity = 'candidate'"
            ).fetchall()
        )
        assert states.pop(f"{edited}/normalized") == "pending"
        assert set(states.values()) == {"done"}

    with dg.instance_for_test() as instance:  # the new deployment's instance: no partition of the old
        _settle(instance)
    with connect(own_database) as db:
        new_calls = db.execute(
            "SELECT asset_key, partition_key, cache_hit FROM talent.llm_usage ORDER BY created_at OFFSET %s",
            (before["calls"],),
        ).fetchall()
        # one call bought: the edited record's normalization; its embedding only if its profile changed
        assert {(a, p) for a, p, _ in new_calls if a == "normalized_candidates"} == {("normalized_candidates", edited)}
        assert all(p == edited for _, p, _ in new_calls if p is not None)
        assert not any(a in ("normalized_jobs", "job_vectors") for a, _, _ in new_calls)
        # nothing lost: every record of both teams done at the deployed versions, and matched
        for entity, location in (("candidate", "candidates"), ("job", "jobs")):
            spec = importlib.import_module(f"talent_{location}.definitions").pipeline
            versions = {"normalized": spec.normalized_code_version, "vectors": spec.vectors_code_version}
            counts = lineage.counts(db, entity, versions)
            total = 7 if entity == "candidate" else 3
            assert counts == {s: {"done": total, "stale": 0, "failed": 0, "quarantined": 0} for s in versions}, counts
        unmatched = db.execute(
            "SELECT count(*) FROM talent.candidate_vectors v LEFT JOIN talent.match_inputs m"
            " ON m.entity = 'candidate' AND m.record_id = v.record_id WHERE m.record_id IS NULL"
        ).fetchone()[0]
        assert unmatched == 0
        # the edited record's new vector was matched: on the new layout, its first run compared every
        # row (no watermark yet) and left one for the next
        (stamp,) = db.execute("SELECT stamp FROM talent.match_watermark").fetchone()
        (consumed,) = db.execute(
            "SELECT m.data_version = v.data_version || %s FROM talent.candidate_vectors v"
            " JOIN talent.match_inputs m ON m.entity = 'candidate' AND m.record_id = v.record_id WHERE v.record_id = %s",
            (stamp, edited),
        ).fetchone()
        assert consumed
        unchanged = {r: v for r, v in db.execute("SELECT record_id, data_version FROM talent.candidate_vectors")}
        assert {r: v for r, v in unchanged.items() if r != edited} == {
            r: v for r, v in before["vectors"].items() if r != edited
        }
