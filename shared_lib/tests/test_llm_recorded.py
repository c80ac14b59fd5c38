"""Recorded answers served over HTTP on localhost (``talent_shared.llm.recorded``), through the
official client and the OpenAI provider: a recording answers exactly its request, anything else
(a changed prompt) gets a 404 that is not retried, and record mode writes what the upstream said."""

from __future__ import annotations

import json
from pathlib import Path

import openai
import pytest

from talent_shared.llm.recorded import RecordedOpenAI, load_recordings
from talent_shared.llm.replay import load
from talent_shared.prompts import Prompt
from talent_shared.providers.openai_provider import OpenAILLM
from talent_shared.testing import TEST_PROMPT

FIXTURES = Path(__file__).parent / "fixtures" / "openai"
TEXT = "ICU nurse, 5 years, triage."


def extract(server: RecordedOpenAI, prompt: Prompt = TEST_PROMPT, text: str = TEXT):
    client = openai.OpenAI(api_key="sk-test-recorded", base_url=server.base_url, max_retries=2)
    return OpenAILLM(client, "gpt-4o-mini").extract_profile(prompt, text, {"location": "Lisbon"})


def write(folder: Path, name: str, key: str, response: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.json").write_text(
        json.dumps({"record": name, "origin": "test", "key": key, "response": response})
    )


def key_of_request(tmp_path: Path) -> str:
    """The key of TEST_PROMPT + TEXT's request, as a server with no recordings saw it."""
    with RecordedOpenAI(tmp_path / "none") as empty, pytest.raises(openai.NotFoundError):
        extract(empty)
    [(_, key, body)] = empty.misses
    assert body["messages"][0]["content"] == TEST_PROMPT.text and body["messages"][1]["content"] == TEXT
    return key


def test_a_recording_answers_its_request_over_http(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    write(folder, "candidate-c-1", key_of_request(tmp_path), load(FIXTURES, "chat_completion_profile"))
    with RecordedOpenAI(folder) as server:
        profile, usage = extract(server)
    assert profile.title == "ICU Registered Nurse" and profile.seniority == "mid"
    assert (usage.input_tokens, usage.output_tokens, usage.cached_tokens) == (1843, 61, 1536)
    assert len(server.served) == 1 and not server.misses


def test_a_changed_prompt_misses_loudly_and_is_not_retried(tmp_path: Path) -> None:
    folder = tmp_path / "recordings"
    write(folder, "candidate-c-1", key_of_request(tmp_path), load(FIXTURES, "chat_completion_profile"))
    edited = Prompt.of(TEST_PROMPT.template + "\nAlso read the candidate's languages.", "test-2")
    with RecordedOpenAI(folder) as server:
        server.label = "candidate/c-1"
        with pytest.raises(openai.NotFoundError, match="no recording for request"):
            extract(server, edited)
        with pytest.raises(openai.NotFoundError):
            extract(server, TEST_PROMPT, TEXT + " Nights.")  # the record changed
    assert [label for label, _, _ in server.misses] == ["candidate/c-1", "candidate/c-1"]  # once each
    assert not server.served


def test_two_recordings_of_one_request_are_refused(tmp_path: Path) -> None:
    key = key_of_request(tmp_path)
    write(tmp_path / "r", "a", key, load(FIXTURES, "chat_completion_profile"))
    write(tmp_path / "r", "b", key, load(FIXTURES, "chat_completion_profile_uncached"))
    with pytest.raises(ValueError, match="same request"):
        load_recordings(tmp_path / "r")


def test_record_mode_writes_what_the_upstream_answered(tmp_path: Path) -> None:
    upstream_folder = tmp_path / "upstream"
    body = load(FIXTURES, "chat_completion_profile")
    write(upstream_folder, "x", key_of_request(tmp_path), body)
    target = tmp_path / "new"
    target.mkdir()
    upstream = RecordedOpenAI(upstream_folder)
    with upstream, RecordedOpenAI(target, upstream=(upstream.base_url, "sk-test-upstream")) as recorder:
        recorder.label = "candidate/c-7"
        profile, _ = extract(recorder)
    assert profile.title == "ICU Registered Nurse"
    [recording] = load_recordings(target).values()
    assert recording["record"] == "candidate/c-7" and recording["response"] == body
    assert recording["origin"].startswith(f"recorded from {upstream.base_url}")
    # and the new recording now answers the request on its own
    with RecordedOpenAI(target) as server:
        assert extract(server)[0] == profile
