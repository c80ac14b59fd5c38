"""Records are rows: batches bound the partitions, the lineage says per record what is stale, and one
bad record fails alone while its batch completes."""

from __future__ import annotations

from pathlib import Path

import pytest

from talent_shared import lineage
from talent_shared.profiles import normalize
from talent_shared.providers.local import LocalLLM
from talent_shared.testing import TEST_PROMPT, store_records
from talent_shared.vectors import embed

CODE = "norm-1"


def _reader(payload: dict) -> tuple[str, dict]:
    if payload.get("name") == "poison":
        raise ValueError("this record cannot be read")
    return payload["resume_text"], {}


def _records(n: int, start: int = 0, **extra) -> list[dict]:
    return [
        {"id": f"c-{i:03d}", "name": f"N{i}", "resume_text": f"Nurse {i}, {i % 9 + 1} years of triage.", **extra}
        for i in range(start, start + n)
    ]


def _status(db, stage: str = "normalized") -> dict[str, str]:
    rows = db.execute(
        "SELECT record_id, status FROM talent.record_stages WHERE entity = 'candidate' AND stage = %s", (stage,)
    )
    return dict(rows.fetchall())


@pytest.fixture
def small_batches(talent_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_BATCH_SIZE", "4")
    get_settings.cache_clear()
    return talent_env


def test_records_join_batches_in_arrival_order_and_keep_them(small_batches, db) -> None:
    store_records(db, "candidate", _records(10))
    keys = dict(db.execute("SELECT record_id, partition_key FROM talent.raw_records").fetchall())
    assert sorted(set(keys.values())) == ["b000000", "b000001", "b000002"]
    assert [keys[f"c-{i:03d}"] for i in (0, 3, 4, 9)] == ["b000000", "b000000", "b000001", "b000002"]
    # an edit keeps the record's batch; an unchanged re-land changes nothing
    store_records(db, "candidate", [{**_records(1)[0], "resume_text": "Chef"}])
    store_records(db, "candidate", _records(1, start=5))
    assert dict(db.execute("SELECT record_id, partition_key FROM talent.raw_records").fetchall()) == keys
    # the open batch takes the next record: no partition per record
    store_records(db, "candidate", _records(1, start=10))
    (key,) = db.execute("SELECT partition_key FROM talent.raw_records WHERE record_id = 'c-010'").fetchone()
    assert key == "b000002"


def test_stored_records_are_stale_until_processed_and_only_changes_reopen(small_batches, db) -> None:
    store_records(db, "candidate", _records(6))
    versions = {"normalized": CODE, "vectors": "emb-1"}
    assert lineage.stale_batches(db, "candidate", versions, 3) == {"b000000": 4, "b000001": 2}
    todo = lineage.todo(db, "candidate", "normalized", ["b000000", "b000001"], CODE)
    normalize(db, "candidate", [t.record_id for t in todo], LocalLLM(), _reader, CODE, prompt=TEST_PROMPT)
    embed(db, "candidate", [t.record_id for t in todo], _hashing(), code_version="emb-1")
    lineage.close_batches(db, "candidate", "normalized", ["b000000", "b000001"], CODE)
    lineage.close_batches(db, "candidate", "vectors", ["b000000", "b000001"], "emb-1")
    assert lineage.stale_batches(db, "candidate", versions, 3) == {}
    # re-landed unchanged: nothing; one edit: exactly that record, in its own batch
    store_records(db, "candidate", _records(6))
    assert lineage.stale_batches(db, "candidate", versions, 3) == {}
    store_records(db, "candidate", [{**_records(6)[5], "resume_text": "Head chef, 12 years."}])
    assert lineage.stale_batches(db, "candidate", versions, 3) == {"b000001": 1}
    assert [t.record_id for t in lineage.todo(db, "candidate", "normalized", ["b000001"], CODE)] == ["c-005"]
    # a code change makes every record of that stage stale, batch by batch
    assert set(lineage.stale_batches(db, "candidate", {**versions, "normalized": "norm-2"}, 3)) == {
        "b000000",
        "b000001",
    }
    assert len(lineage.todo(db, "candidate", "normalized", ["b000000"], "norm-2")) == 4


def test_a_profile_that_did_not_change_does_not_reopen_its_vectors(small_batches, db) -> None:
    ids = store_records(db, "candidate", _records(2))
    normalize(db, "candidate", ids, LocalLLM(), _reader, CODE, prompt=TEST_PROMPT)
    embed(db, "candidate", ids, _hashing(), code_version="emb-1")
    assert set(_status(db, "vectors").values()) == {"done"}
    # a new normalization code version that extracts the same profile: vectors stay done
    normalize(db, "candidate", ids, LocalLLM(), _reader, "norm-2", prompt=TEST_PROMPT)
    assert set(_status(db, "vectors").values()) == {"done"}
    # a changed record whose profile changes: its vectors are pending again
    store_records(db, "candidate", [{**_records(1)[0], "resume_text": "Welder, 20 years of TIG welding."}])
    normalize(db, "candidate", ["c-000"], LocalLLM(), _reader, "norm-2", prompt=TEST_PROMPT)
    assert _status(db, "vectors") == {"c-000": "pending", "c-001": "done"}


def test_one_bad_record_fails_alone_and_is_quarantined_after_its_attempts(small_batches, db) -> None:
    ids = store_records(db, "candidate", [*_records(3), *_records(1, start=3, name="poison")])
    for attempt in range(1, 4):
        todo = lineage.todo(db, "candidate", "normalized", ["b000000"], CODE)
        assert [t.record_id for t in todo] == (ids if attempt == 1 else ["c-003"])
        done = normalize(
            db,
            "candidate",
            [t.record_id for t in todo],
            LocalLLM(),
            _reader,
            CODE,
            prompt=TEST_PROMPT,
            attempts={t.record_id: t.attempts for t in todo},
            max_attempts=3,
        )
        assert set(done.failed) == {"c-003"} and "cannot be read" in done.failed["c-003"]
        expected = "quarantined" if attempt == 3 else "failed"
        assert _status(db) == {"c-000": "done", "c-001": "done", "c-002": "done", "c-003": expected}
    # quarantined: no more work, with the reason and the attempts kept; its vectors wait with it
    assert lineage.todo(db, "candidate", "normalized", ["b000000"], CODE) == []
    (reason, attempts) = db.execute(
        "SELECT reason, attempts FROM talent.record_stages WHERE record_id = 'c-003' AND stage = 'normalized'"
    ).fetchone()
    assert "cannot be read" in reason and attempts == 3
    assert _status(db, "vectors")["c-003"] == "quarantined"
    lineage.close_batches(db, "candidate", "normalized", ["b000000"], CODE)
    # vectors of the three good ones are the only vectors work left
    assert lineage.stale_batches(db, "candidate", {"normalized": CODE, "vectors": "emb-1"}, 3) == {"b000000": 4}
    assert [t.record_id for t in lineage.todo(db, "candidate", "vectors", ["b000000"], "emb-1")] == ids[:3]
    # a fixed record (its content changed) is work again, attempts from zero
    store_records(db, "candidate", [{**_records(1, start=3)[0]}])
    assert [(t.record_id, t.attempts) for t in lineage.todo(db, "candidate", "normalized", ["b000000"], CODE)] == [
        ("c-003", 0)
    ]


class _Failing:
    """A provider whose call fails for one record (the HTTP layer is tested in test_llm_openai)."""

    name = "local"
    model = "rules-v1"

    def __init__(self) -> None:
        self.inner = LocalLLM()
        self.prompt_version = self.inner.prompt_version

    def extract_profile(self, prompt, text, hints):
        if "Nurse 1," in text:
            raise RuntimeError("the provider refused this record")
        return self.inner.extract_profile(prompt, text, hints)

    def explain_match(self, prompt, candidate, job, overlap):
        return self.inner.explain_match(prompt, candidate, job, overlap)


def test_a_failed_call_fails_its_record_not_the_batch(small_batches, db) -> None:
    ids = store_records(db, "candidate", _records(3))
    done = normalize(db, "candidate", ids, _Failing(), _reader, CODE, prompt=TEST_PROMPT)
    assert set(done.versions) == {"c-000", "c-002"} and set(done.failed) == {"c-001"}
    assert _status(db) == {"c-000": "done", "c-001": "failed", "c-002": "done"}
    profiles = {r for (r,) in db.execute("SELECT record_id FROM talent.profiles")}
    assert profiles == {"c-000", "c-002"}


def test_a_records_story_has_its_stages_and_cost(small_batches, db) -> None:
    ids = store_records(db, "candidate", _records(1))
    normalize(db, "candidate", ids, LocalLLM(), _reader, CODE, prompt=TEST_PROMPT)
    story = lineage.story(db, "candidate", "c-000")
    assert story is not None
    assert story["batch"] == "b000000" and story["source"] == "test.jsonl"
    assert story["stages"]["normalized"]["status"] == "done"
    assert story["stages"]["normalized"]["code_version"] == CODE
    assert story["stages"]["normalized"]["input_version"] == story["content_hash"]
    assert story["stages"]["normalized"]["input_tokens"] > 0
    assert story["stages"]["vectors"]["status"] == "pending"
    assert lineage.story(db, "candidate", "nobody") is None


def _hashing():
    from talent_shared.providers.local import LocalEmbedder

    return LocalEmbedder(384)
