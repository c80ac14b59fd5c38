"""Recorded OpenAI chat completions, served by a real HTTP server on localhost and keyed by the request.

This lets the production normalization path (the OpenAI provider over the official ``openai``
client, pointed at ``TALENT_OPENAI_BASE_URL``) run where api.openai.com cannot be reached: the
client builds, sends and parses real HTTP exchanges; only the far end is a recording.

A recording is one JSON file ``{"record": ..., "origin": ..., "key": ..., "response": {...}}`` (``response`` is the
body OpenAI answers with, in its wire format). ``key`` is :func:`request_key` of the request it
answers: the model, the messages (the prompt and the record's text) and the response format. A
prompt, taxonomy, schema or record change therefore changes the key, and the server answers 404
``recording_not_found`` (which the client does not retry) instead of a stale answer; every such
request is kept in :attr:`RecordedOpenAI.misses` for the caller to fail on.

With ``upstream`` (a base URL and an API key), a request with no recording is forwarded there and
its answer written as a new recording under ``label``: how recordings are (re-)made against the
real API.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

Body = dict[str, Any]
KEYED_FIELDS = ("model", "messages", "response_format", "temperature")


def request_key(body: Body) -> str:
    """What decides the answer, hashed: model, messages, response format and temperature."""
    picked = {k: body.get(k) for k in KEYED_FIELDS}
    canonical = json.dumps(picked, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def load_recordings(folder: Path) -> dict[str, Body]:
    """key -> recording, for every ``*.json`` in ``folder``; two recordings of one request are an error."""
    out: dict[str, Body] = {}
    for path in sorted(folder.glob("*.json")):
        recording = json.loads(path.read_text())
        key = recording["key"]
        if key in out:
            raise ValueError(f"{path.name} records the same request as {out[key]['record']}")
        out[key] = recording
    return out


class RecordedOpenAI:
    """``with RecordedOpenAI(folder) as server:`` then point the client at ``server.base_url``."""

    def __init__(self, folder: Path, *, upstream: tuple[str, str] | None = None):
        self.folder = folder
        self.recordings = load_recordings(folder) if folder.is_dir() else {}
        self.upstream = upstream
        self.label = "unlabelled"  # the record the next request is for, set by a caller that knows it
        self.served: list[str] = []  # keys answered from recordings, in order
        self.misses: list[tuple[str, str, Body]] = []  # (label, key, request body) with no recording
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> RecordedOpenAI:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # request lines would carry nothing useful
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
                status, answer = owner._answer(self.path, body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.send_header("x-request-id", f"req_recorded_{len(owner.served) + len(owner.misses)}")
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="recorded-openai", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _answer(self, path: str, body: Body) -> tuple[int, Body]:
        if not path.endswith("/chat/completions"):
            return 404, _error(f"only chat completions are recorded, not {path}", "not_found")
        key = request_key(body)
        with self._lock:
            recording = self.recordings.get(key)
            if recording is not None:
                self.served.append(key)
                return 200, recording["response"]
            if self.upstream is not None:
                return self._forward(key, body)
            self.misses.append((self.label, key, body))
        return 404, _error(
            f"no recording for request {key[:12]}: the prompt, schema, model or record changed since the"
            " recordings were made; re-record them (see the recordings' README)",
            "recording_not_found",
        )

    def _forward(self, key: str, body: Body) -> tuple[int, Body]:
        import httpx

        base_url, api_key = self.upstream  # type: ignore[misc]
        response = httpx.post(
            f"{base_url.rstrip('/')}/chat/completions",
            json=body,
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=120,
        )
        answer = response.json()
        if response.status_code == 200:
            origin = f"recorded from {base_url} on {time.strftime('%Y-%m-%d', time.gmtime())}"
            recording = {"record": self.label, "origin": origin, "key": key, "response": answer}
            name = self.label.replace("/", "-") + ".json"
            (self.folder / name).write_text(json.dumps(recording, indent=2, ensure_ascii=False) + "\n")
            self.recordings[key] = recording
            self.served.append(key)
        return response.status_code, answer


def _error(message: str, code: str) -> Body:
    return {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
