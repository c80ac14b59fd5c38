"""Replaying recorded OpenAI HTTP payloads through the real ``openai`` client (tests, dry runs).

:class:`ReplayTransport` is an ``httpx`` transport: the official client builds and sends real
requests (headers, retries, JSON), and the transport answers them from recorded response bodies,
so nothing above the HTTP layer is stubbed. A *script* is a list of ``(status, body)`` answered in
order per endpoint (``chat`` or ``embeddings``); when an endpoint's script is used up, its
``default`` body answers every further request. Embedding answers are resized to the request
(one vector per input, ``dimensions`` long), keeping the recorded ``usage`` unless told otherwise.

``on_request`` is called with the 1-based request number before answering: a test uses it to
simulate a process being killed in the middle of a run. ``log`` (a path) gets one JSON line per
answered request, which survives the process that made it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

Body = dict[str, Any]
Answer = tuple[int, Body]


def load(fixtures: Path, name: str) -> Body:
    return json.loads((fixtures / f"{name}.json").read_text())


def _endpoint(request: httpx.Request) -> str:
    path = request.url.path
    if path.endswith("/chat/completions"):
        return "chat"
    if path.endswith("/embeddings"):
        return "embeddings"
    return path


def _embeddings_for(request_body: Body, recorded: Body) -> Body:
    inputs = request_body.get("input") or []
    inputs = [inputs] if isinstance(inputs, str) else list(inputs)
    dim = int(request_body.get("dimensions") or len(recorded["data"][0]["embedding"]))
    data = []
    for i, text in enumerate(inputs):
        seed = sum(ord(c) for c in str(text)) or 1
        vec = [math.sin(seed * (j + 1) * 0.37) for j in range(dim)]
        norm = math.sqrt(sum(v * v for v in vec)) or 1.0
        data.append({"object": "embedding", "index": i, "embedding": [round(v / norm, 6) for v in vec]})
    return {**recorded, "data": data, "model": request_body.get("model", recorded.get("model"))}


class ReplayTransport(httpx.BaseTransport):
    def __init__(
        self,
        *,
        chat: list[Answer] | None = None,
        embeddings: list[Answer] | None = None,
        default_chat: Body | None = None,
        default_embeddings: Body | None = None,
        on_request: Callable[[int, httpx.Request], None] | None = None,
        log: Path | None = None,
    ) -> None:
        self.scripts: dict[str, list[Answer]] = {"chat": list(chat or []), "embeddings": list(embeddings or [])}
        self.defaults: dict[str, Body | None] = {"chat": default_chat, "embeddings": default_embeddings}
        self.on_request = on_request
        self.log = log
        self.requests: list[tuple[str, int, Body]] = []  # (endpoint, status answered, request body)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        endpoint = _endpoint(request)
        body = json.loads(request.content or b"{}")
        if self.on_request is not None:
            self.on_request(len(self.requests) + 1, request)
        script = self.scripts.get(endpoint)
        if script:
            status, answer = script.pop(0)
        elif self.defaults.get(endpoint) is not None:
            status, answer = 200, self.defaults[endpoint]  # type: ignore[assignment]
        else:
            status, answer = (
                404,
                {"error": {"message": f"no recorded answer for {endpoint}", "type": "invalid_request_error"}},
            )
        if endpoint == "embeddings" and status == 200:
            answer = _embeddings_for(body, answer)
        self.requests.append((endpoint, status, body))
        if self.log is not None:
            with self.log.open("a") as fh:
                fh.write(json.dumps({"endpoint": endpoint, "status": status, "usage": answer.get("usage")}) + "\n")
        headers = {"content-type": "application/json", "x-request-id": f"req_replay_{len(self.requests)}"}
        if status == 429:
            headers["retry-after-ms"] = "1"
            headers["x-ratelimit-remaining-tokens"] = "0"
        return httpx.Response(status, headers=headers, content=json.dumps(answer).encode(), request=request)


def client(transport: ReplayTransport, *, max_retries: int = 2):
    """The official client over the replay transport."""
    import openai

    return openai.OpenAI(
        api_key="sk-test-replay",
        base_url="https://api.openai.com/v1",
        max_retries=max_retries,
        # openai's stubs name httpx under an alias mypy cannot match; it is the same class
        http_client=httpx.Client(transport=transport),  # type: ignore[arg-type]
    )
