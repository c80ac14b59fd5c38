"""Generated hostile input (hypothesis) against the three ways records get in: the landing-file
parser, the inbox path the sensor reads, and the webhook. Every input is either accepted or
rejected with a reason; nothing raises; good records beside bad ones are still processed.

How many inputs: the default run (``make test``) tries about 1,000 per entity in total (~15 s);
the thorough profile tries at least 10,000 per entity (checked by ``test_generated_inputs_tried``):

    TALENT_HYPOTHESIS_PROFILE=thorough .venv/bin/python -m pytest shared_lib/tests/test_hostile_input.py

Webhook auth edges (replay outside the window, constant-time comparisons, oversized and slow
bodies) are at the end of this file.
"""

from __future__ import annotations

import base64
import json
import os
import time
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from talent_platform.testing import asgi_post
from talent_shared.ingest.parse import Accepted, Rejection, parse_bytes, parse_value
from talent_shared.records import ENTITIES, RecordRejected, parse_record

THOROUGH = os.environ.get("TALENT_HYPOTHESIS_PROFILE") == "thorough"
# examples per test and entity: (default, thorough); inputs per example differ per test (see TRIED)
EXAMPLES = {"file": (100, 1600), "inbox": (20, 300), "webhook": (300, 3000)}
TRIED: Counter[tuple[str, str]] = Counter()  # (entity, path) -> generated inputs tried


def _settings(kind: str):
    default, thorough = EXAMPLES[kind]
    return settings(
        max_examples=thorough if THOROUGH else default,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )


# -- strategies ---------------------------------------------------------------------------------

NASTY_TEXT = st.sampled_from(
    ["", " ", "\x00", "a\x00b", "\ud800", "\udfff x", "\u2028", "\ufeff", "é" * 300, "../../etc/passwd", "\\", '"']
)
TEXT = st.one_of(st.text(max_size=40), NASTY_TEXT, st.text(st.characters(codec="utf-8"), max_size=20))
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(),  # NaN and infinities too: json.dumps writes them as NaN/Infinity, which is not JSON
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(TEXT, children, max_size=4)),
    max_leaves=12,
)
IDS = st.one_of(st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z"), TEXT, st.integers())
YEARS = st.one_of(st.floats(min_value=0, max_value=70), st.integers(-5, 100), st.floats(), TEXT)
SKILLS = st.one_of(st.lists(st.text(min_size=1, max_size=20), max_size=5), JSON)

FIELDS = {
    "candidate": {
        "id": IDS,
        "name": st.one_of(st.text(min_size=1, max_size=30), JSON),
        "resume_text": st.one_of(st.text(min_size=1, max_size=200), JSON),
        "email": TEXT,
        "headline": TEXT,
        "location": TEXT,
        "skills": SKILLS,
        "years_experience": YEARS,
        "updated_at": TEXT,
    },
    "job": {
        "id": IDS,
        "title": st.one_of(st.text(min_size=1, max_size=30), JSON),
        "description": st.one_of(st.text(min_size=1, max_size=200), JSON),
        "company": TEXT,
        "location": TEXT,
        "required_skills": SKILLS,
        "nice_to_have_skills": SKILLS,
        "min_years_experience": YEARS,
        "remote": st.one_of(st.booleans(), JSON),
    },
}
REQUIRED = {"candidate": ("id", "name", "resume_text"), "job": ("id", "title", "description")}


def near_records(entity: str) -> st.SearchStrategy:
    """Objects shaped like the entity's record: any subset of its fields, valid values or not, plus extras."""
    fields = FIELDS[entity]
    return st.builds(
        lambda base, extra: {**extra, **base},
        st.fixed_dictionaries({}, optional=fields),
        st.dictionaries(TEXT, JSON, max_size=2),
    )


def _dumps(value) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except (ValueError, UnicodeEncodeError):
        return json.dumps(value)


def hostile_lines(entity: str) -> st.SearchStrategy[bytes]:
    """One landing-file line: JSON-ish text, broken JSON, bytes that are not UTF-8, absurd nesting."""

    def encode(text: str) -> bytes:
        return text.encode("utf-8", "surrogatepass")

    return st.one_of(
        near_records(entity).map(lambda v: encode(_dumps(v))),
        JSON.map(lambda v: encode(_dumps(v))),
        near_records(entity).map(lambda v: encode(_dumps(v))[: max(1, len(_dumps(v)) // 2)]),  # truncated
        st.binary(max_size=80),
        st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n),  # deep nesting
        st.integers(4000, 5000).map(lambda n: b'{"id": ' + b"9" * n + b"}"),  # a 4,300+-digit integer
        st.sampled_from([b"NaN", b"{}", b"[]", b"null", b"\xef\xbb\xbf{}", b'{"id": "x"', b"\xff\xfe", b" \r"]),
    ).map(lambda line: line.replace(b"\n", b" "))


def good_record(entity: str, n: int) -> dict:
    if entity == "candidate":
        return {"id": f"good-c-{n}", "name": f"Good {n}", "resume_text": f"ICU nurse {n}, 5 years.", "skills": ["ICU"]}
    return {"id": f"good-j-{n}", "title": f"ICU Nurse {n}", "description": "Nights.", "remote": False}


def _reason_ok(rejection: Rejection) -> bool:
    return isinstance(rejection.reason, str) and bool(rejection.reason.strip())


# -- 1. landing files -----------------------------------------------------------------------------


@pytest.mark.parametrize("entity", ENTITIES)
def test_file_lines_are_accepted_or_rejected_with_a_reason_and_good_lines_pass(entity: str) -> None:
    @_settings("file")
    @given(st.lists(hostile_lines(entity), min_size=1, max_size=15), st.data())
    def check(lines: list[bytes], data) -> None:
        positions = sorted(data.draw(st.lists(st.integers(0, len(lines)), min_size=1, max_size=3)), reverse=True)
        goods = {}
        for n, at in enumerate(positions):
            lines.insert(at, json.dumps(good_record(entity, n)).encode())
            goods[n] = at
        # a good record's line number once all are inserted
        good_lines = {}
        for index, line in enumerate(lines, start=1):
            for n in goods:
                if line == json.dumps(good_record(entity, n)).encode():
                    good_lines[index] = good_record(entity, n)
        results = list(parse_bytes(entity, "hostile.jsonl", b"\n".join(lines)))  # must not raise
        TRIED[(entity, "file")] += len(lines) - len(goods)
        nonblank = [i for i, line in enumerate(lines, start=1) if line.strip()]
        assert len(results) == len(nonblank)
        for result in results:
            assert isinstance(result, Accepted | Rejection)
            if isinstance(result, Rejection):
                assert _reason_ok(result), result
                assert result.line is not None and result.line >= 1
        by_line = {r.line: r for r in results}
        for line_no, record in good_lines.items():
            accepted = by_line[line_no]
            assert isinstance(accepted, Accepted) and accepted.record.id == record["id"]

        # the same bytes as a whole .json file: one answer, never an exception
        whole = list(parse_bytes(entity, "hostile.json", lines[0]))
        assert len(whole) == 1  # a record, or one rejection (an empty file included)
        assert all(isinstance(r, Accepted) or _reason_ok(r) for r in whole)

    check()


# -- 2. the inbox path (what the sensor reads) ------------------------------------------------


def _storable(value) -> bool:
    """What a producer can put in a jsonb column at all (else its own INSERT fails)."""
    try:
        text = json.dumps(value, allow_nan=False, ensure_ascii=False)
        text.encode("utf-8")  # a lone surrogate cannot be
    except (ValueError, UnicodeEncodeError):
        return False
    return "\\u0000" not in text


@pytest.mark.parametrize("entity", ENTITIES)
def test_inbox_rows_are_stored_or_quarantined_and_good_rows_beside_them_pass(entity: str, talent_env: Path, db) -> None:
    from talent_shared.ingest.sensor import Cursor, ingest_sources
    from talent_shared.ingest.sources import LocalLanding
    from talent_shared.ingest.store import write_inbox

    zone = LocalLanding(talent_env / "landing")
    cursor = Cursor()
    batch = iter(range(10**9))

    @_settings("inbox")
    @given(st.lists(st.one_of(near_records(entity), JSON).filter(_storable), min_size=5, max_size=40))
    def check(payloads: list) -> None:
        n = next(batch)
        good = good_record(entity, n)
        good["id"] = f"{good['id']}-inbox"
        rows = [*payloads, good]
        ids = []
        with db.transaction():
            for i, payload in enumerate(rows):
                write_inbox(db, entity, payload, f"hyp-{n}-{i}")
        ids = [
            r[0]
            for r in db.execute(
                "SELECT id FROM talent.inbox WHERE idempotency_key LIKE %s ORDER BY id", (f"hyp-{n}-%",)
            )
        ]
        db.commit()
        ingest_sources(entity, zone, cursor, limit=1000)  # must not raise
        TRIED[(entity, "inbox")] += len(payloads)
        assert cursor.inbox_id == ids[-1]  # commit order: one writer, so id order
        rejected = {
            source: reason
            for source, reason in db.execute(
                "SELECT source, reason FROM talent.rejects WHERE source = ANY(%s)", ([f"inbox:{i}" for i in ids],)
            )
        }
        stored = dict(db.execute("SELECT record_id, content_hash FROM talent.raw_records WHERE entity = %s", (entity,)))
        latest: dict[str, str] = {}
        for inbox_id, (stored_payload,) in zip(
            ids, db.execute("SELECT payload FROM talent.inbox WHERE id = ANY(%s) ORDER BY id", (ids,)), strict=True
        ):
            result = parse_value(entity, 1, stored_payload)  # what the sensor saw
            if isinstance(result, Accepted):
                latest[result.record.id] = result.record.content_hash()
                assert f"inbox:{inbox_id}" not in rejected
            else:
                assert rejected.get(f"inbox:{inbox_id}", "").strip(), f"row {inbox_id} neither stored nor quarantined"
        for record_id, content_hash in latest.items():
            assert stored.get(record_id) == content_hash
        assert good["id"] in stored
        db.commit()

    check()


# -- 3. the webhook ---------------------------------------------------------------------------

TOKEN = "hostile-token-0123456789"
ERRORS = {"invalid_record", "invalid_json", "invalid_encoding", "invalid_header"}


@pytest.fixture
def client(talent_env: Path, monkeypatch: pytest.MonkeyPatch):
    from starlette.testclient import TestClient

    from talent_platform.webhook import create_app
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_INGEST_TOKEN", TOKEN)
    get_settings.cache_clear()
    with TestClient(create_app(get_settings(), max_body_bytes=64 * 1024)) as test_client:
        yield test_client


@pytest.mark.parametrize("entity", ENTITIES)
def test_webhook_answers_every_body_with_202_or_a_400_that_says_why(entity: str, client, db) -> None:
    endpoint = "candidates" if entity == "candidate" else "jobs"
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    accepted: set[str] = set()

    @_settings("webhook")
    @given(
        st.one_of(
            hostile_lines(entity), near_records(entity).map(lambda v: _dumps(v).encode("utf-8", "surrogatepass"))
        ),
        st.one_of(st.none(), st.text(max_size=8), st.from_regex(r"\A[\x21-\x7e]{1,12}\Z")),
    )
    def check(body: bytes, key: str | None) -> None:
        extra = {} if key is None else {"Idempotency-Key": key}
        try:
            response = client.post(f"/v1/{endpoint}", content=body, headers={**headers, **extra})
        except UnicodeEncodeError:  # a header httpx itself cannot send: not an input the server sees
            return
        TRIED[(entity, "webhook")] += 1
        payload = response.json()
        assert response.status_code in (202, 400, 409), (response.status_code, payload)
        if response.status_code == 202:
            accepted.add(payload["id"])
        elif response.status_code == 400:
            assert payload["error"] in ERRORS and payload["reason"].strip()
        else:
            assert payload["error"] == "idempotency_key_reused"

    check()
    good = good_record(entity, 999)
    after = client.post(f"/v1/{endpoint}", content=json.dumps(good), headers=headers)
    assert after.status_code == 202 and after.json()["id"] == good["id"]
    db.commit()
    in_inbox = {p["id"] for (p,) in db.execute("SELECT payload FROM talent.inbox WHERE entity = %s", (entity,))}
    assert accepted | {good["id"]} <= in_inbox


def test_generated_inputs_tried() -> None:
    """Runs after the property tests above (file order): how many inputs each entity met."""
    per_entity = {e: sum(n for (entity, _), n in TRIED.items() if entity == e) for e in ENTITIES}
    print(f"\ngenerated inputs tried: {dict(TRIED)}; per entity: {per_entity}")
    if not TRIED:
        pytest.skip("run together with the property tests above")
    floor = 10_000 if THOROUGH else 500
    assert all(n >= floor for n in per_entity.values()), per_entity


# -- webhook auth and body edges -----------------------------------------------------------------


HMAC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw1NjRgA6aQ5o="


def _app(secret: str = HMAC_SECRET, **kwargs):
    from talent_platform.webhook import create_app
    from talent_shared.settings import Settings

    return create_app(
        Settings(ingest_token=TOKEN, ingest_hmac_secret=secret, database_url="postgresql:///unused"), **kwargs
    )


@settings(max_examples=200, deadline=None, database=None)
@given(offset=st.one_of(st.integers(301, 10**9), st.integers(-(10**9), -301)))
def test_a_replayed_signature_outside_the_window_is_401(offset: int) -> None:
    """A signature that was valid when captured, replayed (or pre-dated) beyond 300 s: refused."""
    from starlette.testclient import TestClient

    from talent_platform.webhook import sign

    now = 2_000_000_000.0
    body = json.dumps(good_record("candidate", 1)).encode()
    stamp = int(now - offset)
    stamp = max(stamp, 0)
    headers = {
        "Content-Type": "application/json",
        "webhook-id": "msg_replayed",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(HMAC_SECRET, "msg_replayed", stamp, body),
    }
    client = TestClient(_app(clock=lambda: now))
    response = client.post("/v1/candidates", content=body, headers=headers)
    assert response.status_code == 401 and response.json()["error"] == "unauthorized"


def test_token_and_signature_are_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both checks go through hmac.compare_digest (on equal-length digests), never ``==``."""
    import hmac as hmac_module

    from starlette.testclient import TestClient

    from talent_platform import webhook

    calls: list[tuple[int, int]] = []
    real = hmac_module.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(webhook.hmac, "compare_digest", spy)
    client = TestClient(_app())
    body = b"{}"
    for token in ("x", "a-much-longer-wrong-token" * 10, TOKEN[:-1]):
        assert (
            client.post("/v1/candidates", content=body, headers={"Authorization": f"Bearer {token}"}).status_code == 401
        )
    assert calls and all(a == b == 32 for a, b in calls)  # sha256 digests: the length of the guess leaks nothing
    calls.clear()
    stamp = str(int(time.time()))
    bad = {
        "Content-Type": "application/json",
        "webhook-id": "msg_1",
        "webhook-timestamp": stamp,
        "webhook-signature": "v1," + base64.b64encode(bytes(32)).decode(),
    }
    assert client.post("/v1/candidates", content=body, headers=bad).status_code == 401
    assert len(calls) == 1 and calls[0][0] == calls[0][1]
    source = Path(webhook.__file__).read_text()
    assert "token_digest ==" not in source and "expected ==" not in source


def test_a_declared_oversized_body_is_refused_before_a_byte_is_read() -> None:
    asked: list[int] = []

    async def receive() -> dict:
        asked.append(1)
        return {"type": "http.request", "body": b"x" * 65536, "more_body": True}

    sent = asgi_post(_app(max_body_bytes=4096), TOKEN, [(b"content-length", str(50 * 1024 * 1024).encode())], receive)
    assert sent[0]["status"] == 413 and asked == []


def test_a_slow_body_is_cut_by_the_timeout() -> None:
    import anyio

    async def receive() -> dict:
        await anyio.sleep(3600)  # a client that sends headers and then nothing
        return {"type": "http.request", "body": b"", "more_body": False}

    began = time.monotonic()
    sent = asgi_post(_app(body_timeout=0.5), TOKEN, [(b"transfer-encoding", b"chunked")], receive)
    assert sent[0]["status"] == 408 and time.monotonic() - began < 5
    assert json.loads(sent[1]["body"])["error"] == "request_timeout"


def test_record_rejected_reasons_never_quote_the_input() -> None:
    """A reason is about the field, not its value (reasons are logged and stored in rejects)."""
    secret = "s3cr3t-value-that-must-not-leak"
    for value in ({"id": secret}, {"id": "ok", "name": 1, "resume_text": secret * 10000}, [secret]):
        with pytest.raises(RecordRejected) as caught:
            parse_record("candidate", value)
        assert secret not in caught.value.reason
