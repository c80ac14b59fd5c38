"""The webhook receiver: every answer it gives, both auth schemes (signatures made by the stock
Standard Webhooks SDK, as a producer makes them), replays, idempotency, the streaming body limit,
and a record posted to it reaching the candidates sensor; then the real `talent serve-ingest`."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import httpx
import pytest
from standardwebhooks import Webhook
from starlette.testclient import TestClient

from talent_platform.testing import asgi_post, free_port, wait_healthy
from talent_platform.webhook import SIGNATURE_TOLERANCE_SECONDS, create_app
from talent_shared.testing import tick

TOKEN = "test-token-0123456789abcdef"
# what `openssl rand -base64 32` gives, in the whsec_ form the Standard Webhooks SDKs print
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1NjRgA6aQ5o="
GOOD = {"id": "c-web", "name": "Ana Example", "email": "ana@example.org", "resume_text": "ICU nurse, 5 years."}
JOB = {"id": "j-web", "title": "ICU Nurse", "description": "Nights, Level I trauma centre."}
BEARER = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


@pytest.fixture
def settings(talent_env: Path, monkeypatch: pytest.MonkeyPatch):
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_INGEST_TOKEN", TOKEN)
    monkeypatch.setenv("TALENT_INGEST_HMAC_SECRET", SECRET)
    get_settings.cache_clear()
    return get_settings()


@pytest.fixture
def client(settings) -> TestClient:
    with TestClient(create_app(settings, max_body_bytes=8192)) as test_client:
        yield test_client


def _signed(body: bytes, *, msg_id: str = "msg_2Kq7", at: float | None = None, secret: str = SECRET) -> dict[str, str]:
    """The headers a producer's stock SDK puts on a delivery (standardwebhooks, not our code)."""
    when = datetime.fromtimestamp(int(time.time() if at is None else at), tz=UTC)
    return {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(when.timestamp())),
        "webhook-signature": Webhook(secret).sign(msg_id, when, body.decode()),
    }


def _inbox(db) -> list[tuple[str, str, dict]]:
    db.commit()  # a fresh snapshot: the app wrote on its own connections
    return db.execute("SELECT entity, idempotency_key, payload FROM talent.inbox ORDER BY id").fetchall()


# -- 202 and idempotency ------------------------------------------------------------------------


def test_bearer_post_is_accepted_into_the_inbox(client: TestClient, db) -> None:
    response = client.post("/v1/candidates", content=json.dumps(GOOD), headers=BEARER)
    assert response.status_code == 202, response.text
    assert response.json() == {"id": "c-web", "duplicate": False}
    job = client.post(
        "/v1/jobs", content=json.dumps(JOB), headers={**BEARER, "Content-Type": "application/json; charset=UTF-8"}
    )
    assert job.status_code == 202 and job.json() == {"id": "j-web", "duplicate": False}
    rows = _inbox(db)
    assert [(e, p["id"]) for e, _, p in rows] == [("candidate", "c-web"), ("job", "j-web")]
    assert rows[0][1].startswith("record:c-web:")


def test_same_record_twice_is_a_duplicate_and_an_edit_is_not(client: TestClient, db) -> None:
    first = client.post("/v1/candidates", content=json.dumps(GOOD), headers=BEARER)
    # same content, other key order and spacing: the same record, so the same default key
    again = client.post("/v1/candidates", content=json.dumps(dict(reversed(GOOD.items())), indent=2), headers=BEARER)
    edited = client.post("/v1/candidates", content=json.dumps({**GOOD, "headline": "Charge nurse"}), headers=BEARER)
    assert [r.json()["duplicate"] for r in (first, again, edited)] == [False, True, False]
    assert {r.status_code for r in (first, again, edited)} == {202}
    assert len(_inbox(db)) == 2


def test_idempotency_key_header(client: TestClient, db) -> None:
    headers = {**BEARER, "Idempotency-Key": "delivery-42"}
    assert client.post("/v1/candidates", content=json.dumps(GOOD), headers=headers).json()["duplicate"] is False
    assert client.post("/v1/candidates", content=json.dumps(GOOD), headers=headers).json()["duplicate"] is True
    # a producer retrying with a new key for the same content gets a second row (its key, its word)
    assert (
        client.post(
            "/v1/candidates", content=json.dumps(GOOD), headers={**BEARER, "Idempotency-Key": "d-43"}
        ).status_code
        == 202
    )
    # the same key for different content is a producer bug: refused, not silently dropped
    conflict = client.post("/v1/candidates", content=json.dumps({**GOOD, "name": "Other"}), headers=headers)
    assert conflict.status_code == 409 and conflict.json()["error"] == "idempotency_key_reused"
    bad_key = client.post(
        "/v1/candidates", content=json.dumps(GOOD), headers={**BEARER, "Idempotency-Key": "has space"}
    )
    assert bad_key.status_code == 400 and bad_key.json()["field"] == "Idempotency-Key"
    assert [k for _, k, _ in _inbox(db)] == ["key:delivery-42", "key:d-43"]


# -- 401: bearer and HMAC ---------------------------------------------------------------------


def test_a_stock_sdk_delivery_is_accepted_and_verified(client: TestClient, db) -> None:
    body = json.dumps(GOOD).encode()
    good = client.post("/v1/candidates", content=body, headers=_signed(body))
    assert good.status_code == 202, good.text
    # the producer's own check of what it sent: the SDK verifies the same headers
    assert Webhook(SECRET).verify(body, _signed(body)) == GOOD

    def refused(headers: dict, content: bytes = body, path: str = "/v1/candidates") -> str:
        response = client.post(path, content=content, headers=headers)
        assert response.status_code == 401, response.text
        assert response.headers["www-authenticate"].startswith("Bearer")
        return response.json()["reason"]

    other = "whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo="
    assert refused(_signed(body, secret=other)) == "invalid signature"
    assert refused(_signed(body), content=body.replace(b"Ana", b"Eve")) == "invalid signature"  # tampered body
    stale = time.time() - SIGNATURE_TOLERANCE_SECONDS - 5
    assert "window" in refused(_signed(body, at=stale))
    assert "window" in refused(_signed(body, at=time.time() + SIGNATURE_TOLERANCE_SECONDS + 5))
    # the timestamp is signed: moving a stale request's timestamp forward breaks the signature
    moved = {**_signed(body, at=stale), "webhook-timestamp": str(int(time.time()))}
    assert refused(moved) == "invalid signature"
    without = {k: v for k, v in _signed(body).items() if k != "webhook-timestamp"}
    assert "webhook-timestamp" in refused(without)
    without = {k: v for k, v in _signed(body).items() if k != "webhook-id"}
    assert "webhook-id" in refused(without)
    assert refused({**_signed(body), "webhook-signature": "v2,abc"}) == "malformed signature"
    # a key rotation: the old and the new secret's signatures side by side, either verifies
    both = f"{_signed(body, secret=other)['webhook-signature']} {_signed(body)['webhook-signature']}"
    assert client.post("/v1/candidates", content=body, headers={**_signed(body), "webhook-signature": both}).json() == {
        "id": "c-web",
        "duplicate": True,
    }
    assert len(_inbox(db)) == 1 and _inbox(db)[0][1] == "key:msg_2Kq7"


def test_a_replay_with_a_new_idempotency_key_is_refused(client: TestClient, db) -> None:
    """The hole of issue 19: the key was not signed, so a captured delivery with a new key was a
    new row (and could revert the record to an older version)."""
    body = json.dumps(GOOD).encode()
    captured = _signed(body, msg_id="msg_original")
    assert client.post("/v1/candidates", content=body, headers=captured).status_code == 202
    # a new webhook-id under the captured signature: the signature covers the id, so it fails
    response = client.post("/v1/candidates", content=body, headers={**captured, "webhook-id": "msg_replayed"})
    assert (response.status_code, response.json()["reason"]) == (401, "invalid signature")
    # an Idempotency-Key beside the signed id cannot stand in for it
    response = client.post("/v1/candidates", content=body, headers={**captured, "Idempotency-Key": "fresh-key"})
    assert (response.status_code, response.json()["field"]) == (400, "Idempotency-Key")
    # the retired scheme, whose signature left the Idempotency-Key out, is refused outright
    legacy = {"Content-Type": "application/json", "X-Talent-Timestamp": captured["webhook-timestamp"]}
    legacy["X-Talent-Signature"] = "sha256=" + "0" * 64
    response = client.post("/v1/candidates", content=body, headers={**legacy, "Idempotency-Key": "fresh-key"})
    assert response.status_code == 401 and "retired" in response.json()["reason"]
    # replayed as sent: the same delivery, an idempotent duplicate
    again = client.post("/v1/candidates", content=body, headers=captured)
    assert again.status_code == 202 and again.json()["duplicate"] is True
    assert [k for _, k, _ in _inbox(db)] == ["key:msg_original"]


def test_a_replayed_older_version_does_not_revert_the_record(client: TestClient, db) -> None:
    """A producer sends version 1, then version 2; version 1's delivery, captured, is replayed
    within the window as sent and under a fresh id: neither is a new row, and the record the
    sensor stores is still version 2."""
    from talent_shared.ingest.sensor import build_ingest_sensor
    from talent_shared.keys import RAW_CANDIDATES
    from talent_shared.partitions import candidates_partitions

    v1 = json.dumps({**GOOD, "headline": "Staff nurse"}).encode()
    v2 = json.dumps({**GOOD, "headline": "Charge nurse"}).encode()
    captured = _signed(v1, msg_id="msg_v1")
    assert client.post("/v1/candidates", content=v1, headers=captured).status_code == 202
    assert client.post("/v1/candidates", content=v2, headers=_signed(v2, msg_id="msg_v2")).status_code == 202
    again = client.post("/v1/candidates", content=v1, headers=captured)
    assert (again.status_code, again.json()["duplicate"]) == (202, True)
    renamed = client.post("/v1/candidates", content=v1, headers={**captured, "webhook-id": "msg_v1_again"})
    assert renamed.status_code == 401
    assert [k for _, k, _ in _inbox(db)] == ["key:msg_v1", "key:msg_v2"]
    sensor = build_ingest_sensor("candidate", RAW_CANDIDATES, candidates_partitions)
    with dg.instance_for_test() as instance:
        tick(sensor, instance)
    db.commit()  # a fresh snapshot: the sensor wrote on its own connection
    stored = db.execute("SELECT payload->>'headline' FROM talent.raw_records WHERE record_id = %s", (GOOD["id"],))
    assert stored.fetchall() == [("Charge nurse",)]


def test_a_delivery_replayed_to_the_other_endpoint_is_refused(client: TestClient, db) -> None:
    """Standard Webhooks does not sign the path: one webhook-id is one delivery, whichever endpoint."""
    both = {**GOOD, **JOB, "id": "x-both"}  # a record that both contracts accept
    body = json.dumps(both).encode()
    headers = _signed(body, msg_id="msg_both")
    assert client.post("/v1/candidates", content=body, headers=headers).status_code == 202
    replay = client.post("/v1/jobs", content=body, headers=headers)
    assert replay.status_code == 409 and replay.json()["error"] == "idempotency_key_reused"
    assert [(e, k) for e, k, _ in _inbox(db)] == [("candidate", "key:msg_both")]


def test_a_secret_that_is_not_standard_base64_is_refused_at_start(talent_env: Path) -> None:
    from talent_shared.settings import Settings

    for bad in ("test-hmac-secret-0123456789", "whsec_" + "A" * 8, "whsec_" + "-_" * 22):
        with pytest.raises(ValueError, match="TALENT_INGEST_HMAC_SECRET"):
            create_app(Settings(ingest_hmac_secret=bad))
    create_app(Settings(ingest_hmac_secret=SECRET.removeprefix("whsec_")))  # the bare base64 works too


def test_bearer_missing_wrong_or_other_scheme(client: TestClient, db) -> None:
    body = json.dumps(GOOD)
    cases = {
        "missing credentials": {"Content-Type": "application/json"},
        "invalid token": {**BEARER, "Authorization": "Bearer nope"},
        "unsupported scheme": {**BEARER, "Authorization": f"Basic {TOKEN}"},
    }
    for reason, headers in cases.items():
        response = client.post("/v1/candidates", content=body, headers=headers)
        assert (response.status_code, response.json()["reason"]) == (401, reason)
    # auth comes before everything else: no 415/400 hints for strangers
    assert client.post("/v1/candidates", content=b"[", headers={"Content-Type": "text/plain"}).status_code == 401
    assert _inbox(db) == []


def test_only_the_configured_scheme_is_accepted(talent_env: Path, monkeypatch: pytest.MonkeyPatch, db) -> None:
    from talent_shared.settings import Settings

    body = json.dumps(GOOD).encode()
    monkeypatch.delenv("TALENT_INGEST_HMAC_SECRET", raising=False)
    with TestClient(create_app(Settings(ingest_token=TOKEN))) as only_token:
        assert only_token.post("/v1/candidates", content=body, headers=_signed(body)).status_code == 401
        assert only_token.post("/v1/candidates", content=body, headers=BEARER).status_code == 202
    with TestClient(create_app(Settings(ingest_hmac_secret=SECRET))) as only_hmac:
        assert only_hmac.post("/v1/candidates", content=body, headers=BEARER).status_code == 401
        assert only_hmac.post("/v1/candidates", content=body, headers=_signed(body)).status_code == 202
    with pytest.raises(ValueError, match="TALENT_INGEST_TOKEN"):
        create_app(Settings(ingest_token="", ingest_hmac_secret=None))


# -- 400, 413, 415, routing -------------------------------------------------------------------

BAD_BODIES = [
    (json.dumps({**GOOD, "years_experience": "ten"}).encode(), "invalid_record", "years_experience"),
    (json.dumps({**GOOD, "years_experience": 71}).encode(), "invalid_record", "years_experience"),
    (json.dumps({"id": "c-x", "name": "x"}).encode(), "invalid_record", "resume_text"),
    (json.dumps({**GOOD, "id": "../etc/passwd"}).encode(), "invalid_record", "id"),
    (json.dumps({**GOOD, "email": None}).encode(), "invalid_record", "email"),
    (json.dumps({**GOOD, "skills": ["ok", 1]}).encode(), "invalid_record", "skills.1"),
    (json.dumps([GOOD]).encode(), "invalid_record", "record"),
    (b'"just a string"', "invalid_record", "record"),
    # what the contract allows but jsonb cannot store: refused here rather than a 500 later
    (json.dumps({**GOOD, "notes": "a\x00b"}).encode(), "invalid_record", "notes"),
    (json.dumps({**GOOD, "extra": {"deep": [1.5, "\ud800"]}}).encode(), "invalid_record", "extra.deep.1"),
    (json.dumps(GOOD)[:-1].encode() + b', "big": 1e400}', "invalid_record", "big"),
    (b'{"id": "c-1", "name": ', "invalid_json", None),
    (b"", "invalid_json", None),
    (json.dumps(GOOD)[:-1].encode() + b', "n": NaN}', "invalid_json", None),
    (b'{"n": ' + b"9" * 4400 + b"}", "invalid_json", None),
    ('{"id": "c-4", "name": "Jos\xe9", "resume_text": "x"}'.encode("latin-1"), "invalid_encoding", None),
]


@pytest.mark.parametrize(
    ("body", "error", "field"), BAD_BODIES, ids=[f"{e}-{f}-{i}" for i, (_, e, f) in enumerate(BAD_BODIES)]
)
def test_bad_bodies_are_400_with_the_field(
    client: TestClient, body: bytes, error: str, field: str | None, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="talent_platform.webhook")
    response = client.post("/v1/candidates", content=body, headers=BEARER)
    assert response.status_code == 400, response.text
    payload = response.json()
    assert (payload["error"], payload["field"]) == (error, field)
    assert payload["reason"]
    # neither the answer nor the log repeats what was sent
    for secret_bit in ("Ana Example", "ana@example.org", "ICU nurse", "Jos"):
        assert secret_bit not in response.text and secret_bit not in caplog.text


def test_content_type_must_be_utf8_json(client: TestClient) -> None:
    body = json.dumps(GOOD)
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "application/json; charset=latin-1", ""):
        response = client.post("/v1/candidates", content=body, headers={**BEARER, "Content-Type": content_type})
        assert response.status_code == 415, content_type
        assert response.json()["error"] == "unsupported_media_type"


def test_oversize_body_is_413(client: TestClient, db) -> None:
    big = json.dumps({**GOOD, "resume_text": "x" * 9000})
    response = client.post("/v1/candidates", content=big, headers=BEARER)
    assert response.status_code == 413 and response.json()["error"] == "payload_too_large"
    # chunked, without Content-Length: counted as it streams
    chunked = client.post("/v1/candidates", content=iter([big[:5000].encode(), big[5000:].encode()]), headers=BEARER)
    assert chunked.status_code == 413
    assert _inbox(db) == []


def test_body_limit_is_enforced_while_streaming(settings) -> None:
    """At the ASGI level, so nothing buffers for us: the app stops asking for chunks past the limit."""
    chunk = b"x" * 1024
    asked: list[int] = []

    async def receive() -> dict:
        asked.append(1)
        return {"type": "http.request", "body": chunk, "more_body": True}  # an endless body

    app = create_app(settings, max_body_bytes=4096)
    sent = asgi_post(app, TOKEN, [(b"transfer-encoding", b"chunked")], receive)
    assert sent[0]["status"] == 413
    assert len(asked) == 5  # 4 KiB fit, the 5th KiB is one too many: it never asked for a 6th


def test_routes_health_and_methods(client: TestClient) -> None:
    health = client.get("/healthz")
    assert (health.status_code, health.json()) == (200, {"status": "ok"})
    assert client.get("/v1/candidates", headers=BEARER).status_code == 405
    missing = client.post("/v1/people", content=json.dumps(GOOD), headers=BEARER)
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_database_down_is_503(talent_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from talent_shared.settings import Settings

    settings = Settings(ingest_token=TOKEN, database_url="postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    with TestClient(create_app(settings)) as down:
        response = down.post("/v1/candidates", content=json.dumps(GOOD), headers=BEARER)
    assert response.status_code == 503 and response.headers["retry-after"] == "5"


def test_a_statement_stuck_past_the_timeout_is_cancelled_and_answered_503(
    talent_env: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch, db
) -> None:
    """A write stuck behind a lock gives its connection back after TALENT_INGEST_STATEMENT_TIMEOUT_MS
    (503, nothing written) instead of holding it until the lock goes: without a statement timeout
    it waited for the lock and landed once the holder let go."""
    import threading

    import psycopg

    from talent_shared.settings import Settings

    monkeypatch.setenv("TALENT_INGEST_STATEMENT_TIMEOUT_MS", "300")
    holder = psycopg.connect(pg_url)
    holder.execute("LOCK TABLE talent.inbox IN ACCESS EXCLUSIVE MODE")
    lock_held = 8.0
    release = threading.Timer(lock_held, holder.rollback)
    release.start()
    try:
        with TestClient(create_app(Settings(ingest_token=TOKEN))) as app:
            started = time.monotonic()
            response = app.post("/v1/candidates", content=json.dumps(GOOD), headers=BEARER)
            waited = time.monotonic() - started
    finally:
        release.cancel()
        holder.rollback()
        holder.close()
    assert (response.status_code, response.headers.get("retry-after")) == (503, "5"), response.text
    assert waited < lock_held
    assert _inbox(db) == []


def test_the_statement_timeout_is_each_connections_own(talent_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from talent_shared.settings import Settings

    with (
        TestClient(create_app(Settings(ingest_token=TOKEN))) as app,
        app.app.state.inbox.pool().connection() as conn,
    ):
        assert conn.execute("SHOW statement_timeout").fetchone() == ("5s",)
    monkeypatch.setenv("TALENT_INGEST_STATEMENT_TIMEOUT_MS", "0")  # the role's own (talent db roles)
    with (
        TestClient(create_app(Settings(ingest_token=TOKEN))) as app,
        app.app.state.inbox.pool().connection() as conn,
    ):
        assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)


# -- end to end -------------------------------------------------------------------------------


def test_accepted_record_reaches_the_sensor_and_its_batch(client: TestClient, db) -> None:
    from talent_shared.ingest.sensor import build_ingest_sensor
    from talent_shared.keys import RAW_CANDIDATES
    from talent_shared.partitions import candidates_partitions

    body = json.dumps({**GOOD, "id": "c-hook"}).encode()
    assert client.post("/v1/candidates", content=body, headers=_signed(body)).status_code == 202
    sensor = build_ingest_sensor("candidate", RAW_CANDIDATES, candidates_partitions)
    with dg.instance_for_test() as instance:
        result = tick(sensor, instance)
        assert isinstance(result, dg.SensorResult)
        assert [e.partition for e in result.asset_events] == ["b000000"]  # the open batch
        for request in result.dynamic_partitions_requests:
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        assert instance.get_dynamic_partitions(candidates_partitions.name) == ["b000000"]
        stored = db.execute(
            "SELECT source, payload->>'email' FROM talent.raw_records WHERE record_id = 'c-hook'"
        ).fetchone()
        assert stored[0].startswith("inbox:") and stored[1] == GOOD["email"]


def _talent(*args: str, env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "talent_platform.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_serve_ingest_refuses_to_start_without_secrets(talent_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALENT_INGEST_")}
    proc = _talent("serve-ingest", "--port", str(free_port()), env=env)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "refusing to start" in out


def test_serve_ingest_refuses_a_signing_secret_that_is_not_base64(talent_env: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALENT_INGEST_")}
    env["TALENT_INGEST_HMAC_SECRET"] = "not-base64-but-long-enough-to-look-fine"
    proc = _talent("serve-ingest", "--port", str(free_port()), env=env)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2 and "refusing to start" in out and "whsec_" in out
    assert "not-base64-but-long-enough" not in out  # the secret itself is never echoed


def test_serve_ingest_as_a_real_process(talent_env: Path, pg_url: str, db) -> None:
    port = free_port()
    env = {**os.environ, "TALENT_DATABASE_URL": pg_url, "TALENT_INGEST_TOKEN": TOKEN}
    env.pop("TALENT_INGEST_HMAC_SECRET", None)
    proc = _talent("serve-ingest", "--host", "127.0.0.1", "--port", str(port), "--max-body-bytes", "65536", env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base, proc, timeout=60)
        with httpx.Client(base_url=base, timeout=10) as http:
            accepted = http.post(
                "/v1/candidates", json={**GOOD, "id": "c-proc"}, headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert accepted.status_code == 202 and accepted.json() == {"id": "c-proc", "duplicate": False}
            # a chunked upload that never ends within the limit is cut off mid-stream over real HTTP
            endless = (b"x" * 8192 for _ in range(1000))  # ~8 MB offered, 64 KiB allowed
            too_big = http.post("/v1/candidates", content=endless, headers=BEARER)
            assert too_big.status_code == 413
        assert [p["id"] for _, _, p in _inbox(db)] == ["c-proc"]
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=20)
        # uvicorn shuts down cleanly, then re-raises the signal it caught (uvicorn Server.capture_signals)
        assert proc.returncode in (0, -signal.SIGTERM), out
        assert "Application shutdown complete" in out
        assert "accepted candidate c-proc via bearer" in out
        assert "ana@example.org" not in out and "ICU nurse" not in out
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
