"""No secret in any log: the platform runs with a (fake) OpenAI key that it really uses, against a
fake OpenAI server on localhost, and with both webhook secrets that producers really use, bad
requests included; then every place something is written is searched for the three values:

- every file under the state folder: the platform's logs (daemon, code servers, webserver), Dagster's
  storage and compute logs, and PostgreSQL's own files (its log, its heap and WAL);
- every row of every table in the database, as text: Dagster's event log, runs and run tags, and
  the platform's tables (rejects, inbox, raw records, the LLM ledger, ...);
- the cost exporter's /metrics;
- everything the commands printed.

Zero occurrences expected.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import numpy as np
import pytest

from talent_platform.testing import free_port, wait_healthy

pytestmark = pytest.mark.platform

REPO = Path(__file__).resolve().parents[2]
TALENT = str(Path(sys.executable).parent / "talent")
FIXTURES = REPO / "shared_lib" / "tests" / "fixtures" / "openai"
OPENAI_KEY = "sk-test-FAKEKEY-7f3c2a9e1b4d4e0f8a6c5b3d2e1f0a9b"
INGEST_TOKEN = "ingest-token-FAKE-3b9d7e1c5a2f4068"
HMAC_SECRET = "whsec_aG1hYy1zZWNyZXQtRkFLRS1jNGU4YTJmNmIwZDk0MTcz"  # base64 of hmac-secret-FAKE-c4e8a2f6b0d94173
SECRETS = {"OPENAI_API_KEY": OPENAI_KEY, "TALENT_INGEST_TOKEN": INGEST_TOKEN, "TALENT_INGEST_HMAC_SECRET": HMAC_SECRET}


class FakeOpenAI(BaseHTTPRequestHandler):
    """Chat completions (structured profile or explanation) and embeddings, like the real API."""

    seen_keys: ClassVar[list[str]] = []

    def log_message(self, *args) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))) or b"{}")
        FakeOpenAI.seen_keys.append(self.headers.get("authorization", ""))
        if self.path.endswith("/embeddings"):
            texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
            dim = int(body.get("dimensions") or 384)
            data = []
            for index, text in enumerate(texts):
                rng = np.random.default_rng(abs(hash(str(text))) % 2**32)
                vector = rng.standard_normal(dim).astype(np.float32)
                vector /= np.linalg.norm(vector)
                value = (
                    base64.b64encode(vector.tobytes()).decode()
                    if body.get("encoding_format") == "base64"
                    else vector.tolist()
                )
                data.append({"object": "embedding", "index": index, "embedding": value})
            answer = {
                "object": "list",
                "data": data,
                "model": body.get("model"),
                "usage": {"prompt_tokens": 10, "total_tokens": 10},
            }
        else:
            name = "chat_completion_profile.json" if body.get("response_format") else "chat_completion_explanation.json"
            answer = json.loads((FIXTURES / name).read_text())
        payload = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


@pytest.fixture(scope="module")
def fake_openai() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()


def _env(state: Path, base_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TALENT_", "DAGSTER_"))}
    env.update(SECRETS)
    env.update(
        TALENT_HOME=str(state),
        TALENT_LLM_PROVIDER="openai",
        TALENT_EMBEDDING_PROVIDER="openai",
        TALENT_OPENAI_BASE_URL=base_url,
    )
    return env


def _webhook_traffic(env: dict[str, str], outputs: list[str]) -> None:
    """Producers posting through serve-ingest: good records by token and signature, and bad ones."""
    from talent_platform.webhook import sign

    port = free_port()
    proc = subprocess.Popen(
        [TALENT, "serve-ingest", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc)
        bearer = {"Authorization": f"Bearer {INGEST_TOKEN}", "Content-Type": "application/json"}
        good = {"id": "c-hook-1", "name": "Hook One", "resume_text": "ICU nurse, 6 years, triage."}
        assert httpx.post(f"{base}/v1/candidates", json=good, headers=bearer).status_code == 202
        body = json.dumps({"id": "j-hook-1", "title": "ICU Nurse", "description": "Nights, triage."}).encode()
        ts = str(int(time.time()))
        signed = {
            "Content-Type": "application/json",
            "webhook-id": "msg_no_secrets",
            "webhook-timestamp": ts,
            "webhook-signature": sign(HMAC_SECRET, "msg_no_secrets", ts, body),
        }
        assert httpx.post(f"{base}/v1/jobs", content=body, headers=signed).status_code == 202
        # refused ones: a wrong token that embeds the real one, a record quoting the secrets, a stale signature
        wrong = {**bearer, "Authorization": f"Bearer {INGEST_TOKEN}x{OPENAI_KEY}"}
        assert httpx.post(f"{base}/v1/candidates", json=good, headers=wrong).status_code == 401
        quoting = {"id": "c-hook-2", "name": HMAC_SECRET, "resume_text": 7, "notes": OPENAI_KEY}
        assert httpx.post(f"{base}/v1/candidates", json=quoting, headers=bearer).status_code == 400
        stale = {**signed, "webhook-timestamp": str(int(ts) - 3600)}
        assert httpx.post(f"{base}/v1/jobs", content=body, headers=stale).status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
        outputs.append(out)


@pytest.fixture(scope="module")
def platform_state(fake_openai: str) -> Iterator[tuple[Path, list[str]]]:
    base = Path(tempfile.mkdtemp(prefix="talent-secrets-"))
    base.chmod(0o755)
    state, landing = base / "state", base / "landing"
    shutil.copytree(REPO / "tests" / "data" / "professions" / "landing", landing)
    # a rejected landing line (its reason and an excerpt of the line are stored in talent.rejects; the
    # excerpt is the producer's data, kept like the records, so no secret is planted in it here)
    (landing / "candidates" / "bad.jsonl").write_text('{"id": "c-bad", "name": \n')
    env = _env(state, fake_openai)
    outputs: list[str] = []
    try:
        _webhook_traffic(env, outputs)
        done = subprocess.run(
            [TALENT, "local", "run", "--landing", str(landing), "--state", str(state), "--json", "--timeout", "600"],
            env=env,
            capture_output=True,
            text=True,
            timeout=900,
        )
        outputs += [done.stdout, done.stderr]
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert FakeOpenAI.seen_keys and all(k == f"Bearer {OPENAI_KEY}" for k in FakeOpenAI.seen_keys)
        yield state, outputs
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _hits(text: str | bytes) -> list[str]:
    if isinstance(text, bytes):
        return [name for name, value in SECRETS.items() if value.encode() in text]
    return [name for name, value in SECRETS.items() if value in text]


def test_the_secrets_were_really_in_play(platform_state) -> None:
    _, outputs = platform_state
    summary = json.loads(outputs[1])
    assert summary["llm"]["calls"] > 0  # the platform called "OpenAI" with the key
    assert summary["records"]["candidate"]["rejected"] >= 1


def test_no_secret_in_any_file_under_the_state_folder(platform_state) -> None:
    state, _ = platform_state
    searched, found = 0, []
    for path in state.rglob("*"):
        if path.is_file() and not path.is_symlink():
            searched += 1
            hits = _hits(path.read_bytes())
            if hits:
                found.append(f"{path.relative_to(state)}: {hits}")
    assert searched > 50 and any((state / "logs").glob("*.log"))
    assert found == []


def test_no_secret_in_any_database_row_or_metric_or_output(platform_state) -> None:
    from talent_platform.cost.exporter import serve
    from talent_shared.db import embedded

    state, outputs = platform_state
    with embedded.running(state / "pgdata") as url:
        import psycopg

        found, rows = [], 0
        with psycopg.connect(url) as conn:
            tables = conn.execute(
                "SELECT schemaname, tablename FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            ).fetchall()
            assert {"event_logs", "runs", "run_tags"} <= {t for _, t in tables}
            assert {"rejects", "inbox", "llm_usage"} <= {t for _, t in tables}
            for schema, table in tables:
                for (text,) in conn.execute(f'SELECT t::text FROM "{schema}"."{table}" t'):
                    rows += 1
                    if _hits(text):
                        found.append(f"{schema}.{table}: {_hits(text)}")
            rejects = conn.execute("SELECT count(*) FROM talent.rejects").fetchone()[0]
        assert rows > 100 and rejects >= 1
        assert found == []
        exporter = serve(port=0, url=url, addr="127.0.0.1", block=False)
        try:
            metrics = httpx.get(f"http://127.0.0.1:{exporter.port}/metrics", timeout=30).text
        finally:
            exporter.stop()
    assert "talent_llm" in metrics and _hits(metrics) == []
    assert all(_hits(out) == [] for out in outputs)
