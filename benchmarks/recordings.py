"""OpenAI recordings of a labelled set's normalization (``tests/data/openai/<set>``), made and checked.

``python -m benchmarks.recordings requests SET``
    the extraction request of every record of SET that has no recording, as the production path
    sends it (the OpenAI provider over the official client, against :class:`RecordedOpenAI`), one
    JSON line each: record, key, the user message. What an author answers.
``python -m benchmarks.recordings author SET ANSWERS``
    ANSWERS is JSON lines ``{"record": "candidate/x", "content": "<the profile JSON>"}``: each becomes
    a recording in OpenAI's wire format, its usage counted with the project's offline tokenizer.
``OPENAI_API_KEY=... python -m benchmarks.recordings record SET [--all]``
    re-record against the real API (or ``--upstream URL``): records with no recording (``--all``:
    every record) are sent there through the same path and the raw answers written.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.common import ROOT

RECORDINGS = ROOT / "tests" / "data" / "openai"
AUTHORED = (
    "written in OpenAI's wire format by a language model in a development session, following the production"
    " extraction prompt; not captured from api.openai.com (see README.md here)"
)
SNAPSHOT = "gpt-4o-mini-2024-07-18"  # what the gpt-4o-mini alias answered as in the project's other recordings


def folder(set_name: str) -> Path:
    return RECORDINGS / set_name


def extraction_inputs(set_name: str) -> Iterator[tuple[str, object, str, dict]]:
    """(record label, prompt, text, hints) of every record of the set, as normalization reads them."""
    from benchmarks.quality import SETS, Labelled
    from talent_candidates.definitions import pipeline as candidates
    from talent_jobs.definitions import pipeline as jobs

    data = Labelled.load(set_name, SETS[set_name])
    for entity, spec, records in (("candidate", candidates, data.candidates), ("job", jobs, data.jobs)):
        for record in records:
            text, hints = spec.reader(record)
            yield f"{entity}/{record['id']}", spec.prompt, text, hints


def _extract_all(set_name: str, server) -> list[tuple[str, str]]:
    """Run the production extraction of every record through ``server``; (label, error) of failures."""
    import openai

    from talent_shared.providers.openai_provider import OpenAILLM
    from talent_shared.settings import Settings

    client = openai.OpenAI(api_key="sk-recordings-no-key", base_url=server.base_url, max_retries=0)
    llm = OpenAILLM(client, Settings().llm_model)
    failed = []
    for label, prompt, text, hints in extraction_inputs(set_name):
        server.label = label
        try:
            llm.extract_profile(prompt, text, hints)  # type: ignore[arg-type]
        except Exception as exc:
            failed.append((label, f"{type(exc).__name__}: {exc}"))
    return failed


def requests(set_name: str) -> None:
    from talent_shared.llm.recorded import RecordedOpenAI

    with RecordedOpenAI(folder(set_name)) as server:
        _extract_all(set_name, server)
    for label, key, body in server.misses:
        print(json.dumps({"record": label, "key": key, "user": body["messages"][-1]["content"]}, ensure_ascii=False))


def wire_response(request: dict, content: str, created: int) -> dict:
    """OpenAI's chat completion body for ``content``, usage counted offline with the project's tokenizer:
    the messages as the cost estimate counts them, plus the response format's JSON schema (OpenAI
    puts the schema in the prompt and bills it; its exact rendering is not published, so this is an
    estimate), and the content's own tokens for the completion."""
    from talent_shared.llm.encodings import count_tokens
    from talent_shared.llm.recorded import request_key
    from talent_shared.providers.local import messages_tokens

    model = request["model"]
    schema = json.dumps(request.get("response_format", {}).get("json_schema", {}), separators=(",", ":"))
    prompt_tokens = messages_tokens(request["messages"], model) + count_tokens(schema, model)
    completion_tokens = count_tokens(content, model)
    key = request_key(request)
    return {
        "id": "chatcmpl-" + hashlib.sha256(("authored" + key).encode()).hexdigest()[:29],
        "object": "chat.completion",
        "created": created,
        "model": SNAPSHOT if model == "gpt-4o-mini" else model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content, "refusal": None, "annotations": []},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            # below 1,024 prompt tokens OpenAI caches nothing
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        },
        "service_tier": "default",
        "system_fingerprint": None,
    }


def author(set_name: str, answers: Path) -> None:
    """Recordings from authored answers (see the recordings' README for who wrote them and how)."""
    from talent_shared.llm.recorded import RecordedOpenAI

    written = {}
    for line in answers.read_text().splitlines():
        if line.strip():
            answer = json.loads(line)
            written[answer["record"]] = answer["content"]
    with RecordedOpenAI(folder(set_name)) as server:
        _extract_all(set_name, server)
    created = int(time.time())
    folder(set_name).mkdir(parents=True, exist_ok=True)
    done = []
    for label, key, body in server.misses:
        if label not in written:
            continue
        json.loads(written[label])  # an answer must be JSON, as structured outputs guarantee
        recording = {
            "record": label,
            "origin": AUTHORED,
            "key": key,
            "response": wire_response(body, written[label], created),
        }
        path = folder(set_name) / (label.replace("/", "-") + ".json")
        path.write_text(json.dumps(recording, indent=2, ensure_ascii=False) + "\n")
        done.append(label)
    left = [label for label, _, _ in server.misses if label not in written]
    print(f"{len(done)} recordings written; still no answer for: {', '.join(left) or 'none'}", file=sys.stderr)


def record(set_name: str, upstream: str, every: bool) -> None:
    from talent_shared.llm.recorded import RecordedOpenAI

    api_key = os.environ.get("OPENAI_API_KEY")
    if not api_key:
        raise SystemExit("record needs OPENAI_API_KEY")
    target = folder(set_name)
    target.mkdir(parents=True, exist_ok=True)
    if every:
        for path in target.glob("*.json"):
            path.unlink()
    with RecordedOpenAI(target, upstream=(upstream, api_key)) as server:
        failed = _extract_all(set_name, server)
    for label, error in failed:
        print(f"{label}: {error}", file=sys.stderr)
    print(f"{len(server.served)} answered; {len(failed)} failed", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.recordings", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("requests").add_argument("set")
    a = sub.add_parser("author")
    a.add_argument("set")
    a.add_argument("answers", type=Path)
    r = sub.add_parser("record")
    r.add_argument("set")
    r.add_argument("--upstream", default="https://api.openai.com/v1")
    r.add_argument("--all", action="store_true", help="re-record every record, not only the missing ones")
    args = parser.parse_args(argv)
    if args.command == "requests":
        requests(args.set)
    elif args.command == "author":
        author(args.set, args.answers)
    else:
        record(args.set, args.upstream, args.all)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
