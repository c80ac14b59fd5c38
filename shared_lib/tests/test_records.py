"""The record models accept exactly what the contract's JSON Schemas accept (the product keeps its
own copy of them, in talent_shared/contracts/)."""

import json
from pathlib import Path

import jsonschema
import pytest

from talent_shared.records import RecordRejected, parse_record

CONTRACTS = Path(__file__).resolve().parents[1] / "src" / "talent_shared" / "contracts"


def _schema(entity: str) -> dict:
    return json.loads((CONTRACTS / f"raw_{entity}.schema.json").read_text())


GOOD_CANDIDATE = {"id": "c-1", "name": "Ana", "resume_text": "Nurse."}
GOOD_JOB = {"id": "j.1", "title": "Chef", "description": "Cook."}

CASES = {
    "candidate": [
        GOOD_CANDIDATE,
        {**GOOD_CANDIDATE, "extra": {"kept": True}},
        {**GOOD_CANDIDATE, "years_experience": 0},
        {**GOOD_CANDIDATE, "years_experience": 70},
        {**GOOD_CANDIDATE, "years_experience": 70.5},
        {**GOOD_CANDIDATE, "years_experience": -1},
        {**GOOD_CANDIDATE, "years_experience": "5"},
        {**GOOD_CANDIDATE, "years_experience": True},
        {**GOOD_CANDIDATE, "years_experience": 2.5},
        {**GOOD_CANDIDATE, "id": "_bad"},
        {**GOOD_CANDIDATE, "id": "a" * 128},
        {**GOOD_CANDIDATE, "id": "a" * 129},
        {**GOOD_CANDIDATE, "id": 7},
        {**GOOD_CANDIDATE, "name": ""},
        {**GOOD_CANDIDATE, "name": "x" * 200},
        {**GOOD_CANDIDATE, "name": "x" * 201},
        {**GOOD_CANDIDATE, "name": "é" * 200},
        {**GOOD_CANDIDATE, "resume_text": ""},
        {**GOOD_CANDIDATE, "skills": []},
        {**GOOD_CANDIDATE, "skills": ["python", ""]},
        {**GOOD_CANDIDATE, "skills": ["x" * 101]},
        {**GOOD_CANDIDATE, "skills": ["a"] * 200},
        {**GOOD_CANDIDATE, "skills": ["a"] * 201},
        {**GOOD_CANDIDATE, "skills": "python"},
        {**GOOD_CANDIDATE, "email": "x" * 321},
        {**GOOD_CANDIDATE, "headline": None},
        {**GOOD_CANDIDATE, "updated_at": "not a date"},
        {**GOOD_CANDIDATE, "resume_text": "'; DROP TABLE talent.raw_records; -- <script>alert(1)</script>"},
        {"id": "c-2", "name": "No resume"},
        [],
        "string",
        None,
    ],
    "job": [
        GOOD_JOB,
        {**GOOD_JOB, "remote": True},
        {**GOOD_JOB, "remote": "yes"},
        {**GOOD_JOB, "remote": 1},
        {**GOOD_JOB, "min_years_experience": 3},
        {**GOOD_JOB, "min_years_experience": 71},
        {**GOOD_JOB, "required_skills": ["sql"], "nice_to_have_skills": ["go"]},
        {**GOOD_JOB, "nice_to_have_skills": [1]},
        {**GOOD_JOB, "title": "t" * 301},
        {**GOOD_JOB, "company": "c" * 201},
        {**GOOD_JOB, "description": "d" * 100_001},
        {"id": "j-2", "title": "No description"},
    ],
}


def _schema_accepts(entity: str, value) -> bool:
    return jsonschema.Draft202012Validator(_schema(entity)).is_valid(value)


def _model_accepts(entity: str, value) -> bool:
    try:
        parse_record(entity, value)  # type: ignore[arg-type]
        return True
    except RecordRejected:
        return False


@pytest.mark.parametrize(("entity", "value"), [(e, v) for e, vs in CASES.items() for v in vs])
def test_model_agrees_with_contract(entity: str, value) -> None:
    assert _model_accepts(entity, value) == _schema_accepts(entity, value)


def test_corpus_has_both_outcomes() -> None:
    outcomes = {_schema_accepts(e, v) for e, vs in CASES.items() for v in vs}
    assert outcomes == {True, False}


def test_pattern_follows_ecma_262_not_python_re() -> None:
    """JSON Schema patterns are ECMA-262: ``$`` ends the string. Python's ``re`` (which the
    ``jsonschema`` package uses) also lets ``$`` match before a trailing newline, which would let
    "ok\n" through as a partition key; the contract does not mean that."""
    assert _schema_accepts("candidate", {**GOOD_CANDIDATE, "id": "ok\n"})  # the Python validator's quirk
    assert not _model_accepts("candidate", {**GOOD_CANDIDATE, "id": "ok\n"})


def test_reason_names_the_field() -> None:
    with pytest.raises(RecordRejected, match=r"years_experience"):
        parse_record("candidate", {**GOOD_CANDIDATE, "years_experience": "five"})
    with pytest.raises(RecordRejected, match=r"^resume_text: Field required"):
        parse_record("candidate", {"id": "c", "name": "n"})


def test_content_hash_ignores_key_order_but_not_content() -> None:
    a = parse_record("job", {"id": "j", "title": "T", "description": "D"})
    b = parse_record("job", {"description": "D", "title": "T", "id": "j"})
    c = parse_record("job", {"id": "j", "title": "T", "description": "D2"})
    assert a.content_hash() == b.content_hash() != c.content_hash()
