"""``talent record show``: one record's story, read from the lineage, as text and as JSON."""

from __future__ import annotations

import json


def test_a_records_story_with_a_failed_neighbour_and_an_unknown_id(talent_env, db) -> None:
    from typer.testing import CliRunner

    from talent_candidates.definitions import pipeline
    from talent_platform.cli import app
    from talent_shared.profiles import normalize
    from talent_shared.providers.local import LocalLLM
    from talent_shared.testing import store_records

    ids = store_records(
        db,
        "candidate",
        [
            {"id": "c-story", "name": "Ana", "resume_text": "ICU nurse, 6 years: triage, ACLS."},
            {"id": "c-other", "name": "Bo", "resume_text": "Line cook, 2 years."},
        ],
    )

    def reader(payload: dict) -> tuple[str, dict]:
        if payload["id"] == "c-other":
            raise ValueError("unreadable record")
        return pipeline.reader(payload)

    normalize(db, "candidate", ids, LocalLLM(), reader, "norm-1", prompt=pipeline.prompt)
    db.commit()
    runner = CliRunner()

    shown = runner.invoke(app, ["record", "show", "candidate", "c-story", "--json"])
    assert shown.exit_code == 0, shown.output
    story = json.loads(shown.output)
    assert story["batch"] == "b000000" and story["source"] == "test.jsonl" and story["line"] == 1
    assert story["stages"]["normalized"]["status"] == "done"
    assert story["stages"]["normalized"]["code_version"] == "norm-1"
    assert story["stages"]["normalized"]["input_tokens"] > 0
    assert story["stages"]["vectors"]["status"] == "pending"
    assert story["matched_version"] is None and story["matches"] == []

    text = runner.invoke(app, ["record", "show", "candidate", "c-other"])
    assert text.exit_code == 0, text.output
    assert (
        "normalized failed       attempts 1" in text.output and "reason: ValueError: unreadable record" in text.output
    )

    missing = runner.invoke(app, ["record", "show", "candidate", "nobody"])
    assert missing.exit_code == 1 and "no candidate nobody is stored" in missing.output
    wrong = runner.invoke(app, ["record", "show", "person", "c-story"])
    assert wrong.exit_code != 0
