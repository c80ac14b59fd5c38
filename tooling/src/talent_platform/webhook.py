"""The webhook receiver: producers POST one record at a time; it lands in the inbox table.

``POST /v1/candidates`` and ``POST /v1/jobs`` take one JSON object in the record contract. The
receiver authenticates the sender, validates the record (so a producer hears about a bad record at
once, with the field), and writes it to ``talent.inbox`` idempotently; the entity's ingestion sensor
picks it up from there like any other source. ``GET /healthz`` answers without the database.

Authentication, whichever schemes are configured:

* Signatures (production): the Standard Webhooks scheme (https://www.standardwebhooks.com), so a
  producer signs with a stock SDK (the ``standardwebhooks`` package and its siblings in other
  languages). ``webhook-id``, ``webhook-timestamp`` (unix seconds) and ``webhook-signature``
  (``v1,<base64 HMAC-SHA256>``, several space-separated during a key rotation) over
  ``"<webhook-id>.<timestamp>." + body`` (the raw bytes as sent), under ``TALENT_INGEST_HMAC_SECRET``
  (``whsec_<base64>``, 24 to 64 bytes). The ``webhook-id`` *is* the idempotency key: a captured
  delivery replayed with a new key no longer verifies, and one replayed as sent is an idempotent
  duplicate. A timestamp more than :data:`SIGNATURE_TOLERANCE_SECONDS` from the receiver's clock is
  refused, which bounds how long a captured delivery is worth anything. The scheme does not sign
  the endpoint, so one ``webhook-id`` is one delivery across both endpoints: a candidate delivery
  replayed to ``/v1/jobs`` is refused (409) rather than stored as a job.
* ``Authorization: Bearer <TALENT_INGEST_TOKEN>``, compared in constant time: a development
  convenience (the production values configure signatures only). A bearer caller names its own
  ``Idempotency-Key``; whoever holds the token may write anything anyway.

The retired ``X-Talent-Signature`` scheme left the ``Idempotency-Key`` unsigned (a replay with a
new key was a new row and could revert a record); it is refused with a reason naming its successor.

Answers: 202 ``{"id", "duplicate"}``; 400 ``{"error", "field", "reason"}`` for bad JSON, bad UTF-8,
a non-object, a record the contract refuses, or an ``Idempotency-Key`` that is not the signed
``webhook-id``; 401; 409 when an idempotency key is reused for different content or for the other
endpoint; 413 when the body exceeds the limit (counted while it streams in, never read in
full first); 415 for anything but ``application/json`` (UTF-8); 503 with ``Retry-After`` when the
database is down or the receiver is saturated.

Load: writes go through one ``psycopg_pool`` pool (``pool_size`` connections, autocommit, so a 202 is
sent only after its row is committed). At most ``pool_size + queue`` requests hold or wait for a
connection; one more is shed at once with 503 ``{"error": "overloaded"}`` and ``Retry-After: 1``, and
one that waited ``queue_timeout`` seconds for a connection is shed the same way. A statement that
runs past ``TALENT_INGEST_STATEMENT_TIMEOUT_MS`` (default 5000; the connections' own
``statement_timeout``) is cancelled and answered 503 with ``Retry-After: 5``. Nothing waits without
bound, and a shed or cancelled request wrote nothing, so the producer's retry is always safe.

Logs carry entity, record id, status and reason only: never a record's contents, never headers.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import anyio
import anyio.to_thread
from standardwebhooks import Webhook
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from talent_shared.records import Entity, RawRecord, RecordRejected, parse_record
from talent_shared.settings import Settings

log = logging.getLogger(__name__)

ENDPOINTS: dict[str, Entity] = {"candidates": "candidate", "jobs": "job"}
DEFAULT_MAX_BODY_BYTES = 1024 * 1024  # a record's text fields alone may reach ~400 KB of UTF-8
SIGNATURE_TOLERANCE_SECONDS = 300
BODY_TIMEOUT_SECONDS = 30.0
DEFAULT_POOL_SIZE = 8
DEFAULT_QUEUE = 32
DEFAULT_QUEUE_TIMEOUT_SECONDS = 1.0
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
RETIRED_HEADERS = ("x-talent-signature", "x-talent-timestamp")
IDEMPOTENCY_HEADER = "idempotency-key"
SECRET_PREFIX = "whsec_"
SECRET_BYTES = (24, 64)  # the Standard Webhooks specification's bounds
_IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")  # visible ASCII, as in the IETF draft's examples


class Refused(Exception):
    """A request answered with an error status; ``body`` is safe to return and to log."""

    def __init__(self, status: int, error: str, reason: str, *, field: str | None = None, headers: dict | None = None):
        super().__init__(reason)
        self.status, self.error, self.reason, self.field = status, error, reason, field
        self.headers = headers or {}

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"error": self.error, "reason": self.reason}
        if self.status == 400:
            body["field"] = self.field
        return JSONResponse(body, status_code=self.status, headers=self.headers)


def check_secret(secret: str) -> str:
    """``secret`` as the Standard Webhooks SDKs take it; ValueError unless it is base64 of 24-64 bytes.

    Checked strictly at start: the SDKs' decoder skips characters outside the alphabet, so a
    URL-safe or mistyped secret would otherwise sign with fewer bytes than its owner believes."""
    raw = secret.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("TALENT_INGEST_HMAC_SECRET must be whsec_<base64> (e.g. openssl rand -base64 32)") from None
    if not SECRET_BYTES[0] <= len(key) <= SECRET_BYTES[1]:
        raise ValueError(f"TALENT_INGEST_HMAC_SECRET must hold {SECRET_BYTES[0]} to {SECRET_BYTES[1]} bytes")
    return SECRET_PREFIX + raw


def sign(secret: str, msg_id: str, timestamp: int | str, body: bytes) -> str:
    """The ``webhook-signature`` a sender puts on ``body`` (what any Standard Webhooks SDK computes)."""
    when = datetime.fromtimestamp(int(timestamp), tz=UTC)
    return Webhook(secret).sign(msg_id=msg_id, timestamp=when, data=body.decode("utf-8"))


def _secret(value) -> str | None:
    text = value.get_secret_value() if value is not None else None
    return text or None


class _Auth:
    """Checks what can be checked from the headers; the signature itself needs the body."""

    def __init__(self, token: str | None, hmac_secret: str | None, clock: Callable[[], float]):
        # Hash the token once: comparing digests is constant time whatever the presented length.
        self.token_digest = hashlib.sha256(token.encode()).digest() if token else None
        self.hmac_secret = check_secret(hmac_secret) if hmac_secret else None
        self.clock = clock

    def before_body(self, request: Request) -> str | None:
        """``"bearer"`` when the token matched, None when a signature must be checked on the body."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            scheme, _, presented = authorization.partition(" ")
            if scheme.lower() != "bearer" or self.token_digest is None:
                raise _unauthorized(
                    "bearer tokens are not accepted" if scheme.lower() == "bearer" else "unsupported scheme"
                )
            digest = hashlib.sha256(presented.strip().encode()).digest()
            if not hmac.compare_digest(digest, self.token_digest):
                raise _unauthorized("invalid token")
            return "bearer"
        if SIGNATURE_HEADER not in request.headers:
            if any(h in request.headers for h in RETIRED_HEADERS):
                raise _unauthorized("X-Talent-Signature is retired: sign with Standard Webhooks (webhook-id, ...)")
            raise _unauthorized("missing credentials")
        if self.hmac_secret is None:
            raise _unauthorized("signatures are not accepted")
        msg_id = request.headers.get(ID_HEADER, "")
        if not _IDEMPOTENCY_KEY.match(msg_id):
            raise _unauthorized(f"missing or malformed {ID_HEADER}: 1 to 255 visible ASCII characters")
        raw = request.headers.get(TIMESTAMP_HEADER, "")
        if not raw.isascii() or not raw.isdigit():
            raise _unauthorized(f"missing or malformed {TIMESTAMP_HEADER}")
        if abs(self.clock() - int(raw)) > SIGNATURE_TOLERANCE_SECONDS:
            raise _unauthorized(f"timestamp outside the {SIGNATURE_TOLERANCE_SECONDS} s window")
        return None

    def verify_body(self, request: Request, body: bytes) -> str:
        assert self.hmac_secret is not None  # before_body refused signatures otherwise
        presented = []
        for entry in request.headers.get(SIGNATURE_HEADER, "").split():
            version, _, encoded = entry.partition(",")
            if version != "v1":
                continue  # another version (an asymmetric v1a): not ours, as the specification says
            try:
                presented.append(base64.b64decode(encoded, validate=True))
            except (binascii.Error, ValueError):
                continue
        if not presented:
            raise _unauthorized("malformed signature")
        try:
            expected = sign(self.hmac_secret, request.headers[ID_HEADER], request.headers[TIMESTAMP_HEADER], body)
        except UnicodeDecodeError:
            raise _unauthorized("invalid signature") from None  # no SDK signs bytes that are not UTF-8
        digest = base64.b64decode(expected.partition(",")[2])
        # compare every candidate (no early exit): the time taken says nothing about which matched
        if not sum(hmac.compare_digest(digest, p) for p in presented):
            raise _unauthorized("invalid signature")
        return "hmac"


def _unauthorized(reason: str) -> Refused:
    return Refused(401, "unauthorized", reason, headers={"WWW-Authenticate": 'Bearer realm="talent-ingest"'})


def _check_content_type(request: Request) -> None:
    media_type, *params = (p.strip() for p in request.headers.get("content-type", "").split(";"))
    if media_type.lower() != "application/json":
        raise Refused(415, "unsupported_media_type", "send Content-Type: application/json")
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset" and value.strip().strip('"').lower() not in ("utf-8", "utf8"):
            raise Refused(415, "unsupported_media_type", "the body must be UTF-8")


async def _read_body(request: Request, limit: int, timeout: float = BODY_TIMEOUT_SECONDS) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed ``limit``, 408 after ``timeout`` s."""
    too_large = Refused(413, "payload_too_large", f"the body exceeds {limit} bytes", headers={"Connection": "close"})
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise Refused(400, "invalid_header", "malformed Content-Length", field="Content-Length")
        if int(declared) > limit:
            raise too_large
    chunks: list[bytes] = []
    size = 0
    try:
        with anyio.fail_after(timeout):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
    except TimeoutError:
        raise Refused(
            408, "request_timeout", f"the body took longer than {timeout:g} s", headers={"Connection": "close"}
        ) from None
    except ClientDisconnect:
        raise Refused(400, "client_disconnected", "the client went away mid-body") from None
    return b"".join(chunks)


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _decode(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(400, "invalid_encoding", f"body: not UTF-8 (byte {exc.start})") from None
    try:
        return json.loads(text, parse_constant=_no_constants)
    except json.JSONDecodeError as exc:
        raise Refused(400, "invalid_json", f"json: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except (ValueError, RecursionError) as exc:  # NaN, an integer over 4300 digits, absurd nesting
        reason = str(exc) if isinstance(exc, ValueError) and "is not JSON" in str(exc) else type(exc).__name__
        raise Refused(400, "invalid_json", f"json: {reason}") from None


def _unstorable(value: Any, path: str = "") -> tuple[str, str] | None:
    """What Postgres ``jsonb`` cannot hold although the contract allows it (in extra fields too)."""
    if isinstance(value, str):
        if "\x00" in value:
            return path or "record", "contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "record", "contains an unpaired surrogate"
    elif isinstance(value, float) and not math.isfinite(value):
        return path or "record", "number out of range"
    elif isinstance(value, dict):
        for key, item in value.items():
            found = _unstorable(key, path) or _unstorable(item, f"{path}.{key}" if path else key)
            if found:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _unstorable(item, f"{path}.{index}" if path else str(index))
            if found:
                return found
    return None


def _validate(entity: Entity, value: Any) -> RawRecord:
    try:
        record = parse_record(entity, value)
    except RecordRejected as exc:
        field = exc.reason.split(": ", 1)[0] if ": " in exc.reason else "record"
        raise Refused(400, "invalid_record", exc.reason, field=field) from None
    found = _unstorable(value)
    if found:
        raise Refused(400, "invalid_record", f"{found[0]}: {found[1]}", field=found[0])
    return record


def _idempotency_key(request: Request, record: RawRecord, method: str) -> str:
    given = request.headers.get(IDEMPOTENCY_HEADER)
    if method == "hmac":
        signed = request.headers[ID_HEADER]
        if given is not None and given != signed:
            # the signature covers webhook-id, not this header: a different key would be unsigned
            raise Refused(
                400, "invalid_header", "Idempotency-Key must equal the signed webhook-id", field="Idempotency-Key"
            )
        return f"key:{signed}"
    if given is None:
        return f"record:{record.id}:{record.content_hash()}"
    if not _IDEMPOTENCY_KEY.match(given):
        raise Refused(
            400, "invalid_header", "Idempotency-Key: 1 to 255 visible ASCII characters", field="Idempotency-Key"
        )
    return f"key:{given}"


class _Shed(Exception):
    """No connection for this request within the bounds: answer 503 and write nothing."""

    def __init__(self, reason: str, retry_after: int):
        super().__init__(reason)
        self.reason, self.retry_after = reason, retry_after


class _Inbox:
    """The pooled writer: a bounded number of requests hold or wait for a connection, never more."""

    def __init__(self, settings: Settings, pool_size: int, queue: int, queue_timeout: float):
        self.settings = settings
        self.pool_size, self.queue, self.queue_timeout = pool_size, queue, queue_timeout
        self.capacity = pool_size + queue
        self.inflight = 0  # touched only on the event loop
        self.holding = 0  # threads holding a connection, under _lock
        self.threads = anyio.CapacityLimiter(self.capacity)  # enough threads: none queue unseen
        self._pool: Any = None
        self._lock = threading.Lock()

    def pool(self) -> Any:
        with self._lock:
            if self._pool is None:
                from psycopg_pool import ConnectionPool

                from talent_shared.db.connection import database_url

                self._pool = ConnectionPool(
                    database_url(self.settings),
                    min_size=self.pool_size,
                    max_size=self.pool_size,
                    max_waiting=self.queue,
                    timeout=self.queue_timeout,
                    kwargs={"autocommit": True, "options": self.options()},
                    name="talent-ingest",
                    open=False,
                )
                self._pool.open(wait=False)
            return self._pool

    def options(self) -> str:
        """Session options of every pooled connection: the search path, and a statement timeout so
        an insert stuck behind a lock gives its connection back (503, nothing written) instead of
        holding it while the pool and the queue fill. Set per connection, so it holds whichever role
        the URL names (``talent_ingest`` has the same default per role, ``talent db roles``)."""
        from talent_shared.db.connection import SEARCH_PATH

        timeout = self.settings.ingest_statement_timeout_ms
        return f"{SEARCH_PATH} -c statement_timeout={timeout}" if timeout else SEARCH_PATH

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def write(self, entity: Entity, value: dict, record: RawRecord, key: str) -> bool | None:
        """True: new; False: a duplicate of the same content; None: the key holds other content, or
        was delivered to the other endpoint."""
        from psycopg_pool import PoolTimeout, TooManyRequests

        from talent_shared.ingest.store import write_inbox

        pool = self.pool()
        try:
            with pool.connection() as conn:
                with self._lock:
                    self.holding += 1
                try:
                    if (
                        key.startswith("key:")
                        and conn.execute(
                            "SELECT 1 FROM talent.inbox WHERE idempotency_key = %s AND entity <> %s", (key, entity)
                        ).fetchone()
                    ):
                        return None  # one delivery, one endpoint: a candidate replayed as a job is refused
                    if write_inbox(conn, entity, value, key):
                        return True
                    row = conn.execute(
                        "SELECT payload FROM talent.inbox WHERE entity = %s AND idempotency_key = %s", (entity, key)
                    ).fetchone()
                finally:
                    with self._lock:
                        self.holding -= 1
        except (PoolTimeout, TooManyRequests) as exc:
            with self._lock:
                busy = self.holding > 0
            if not busy:  # nobody holds a connection and none could be had: the database, not the load
                raise _Shed("no database connection", 5) from exc
            raise _Shed(f"no free connection within {self.queue_timeout:g} s", 1) from exc
        try:
            return False if row and parse_record(entity, row[0]).content_hash() == record.content_hash() else None
        except RecordRejected:
            return None

    async def store(self, entity: Entity, value: dict, record: RawRecord, key: str) -> bool | None:
        if self.inflight >= self.capacity:
            raise _Shed(f"{self.capacity} requests already hold or wait for a connection", 1)
        self.inflight += 1
        try:
            return await anyio.to_thread.run_sync(self.write, entity, value, record, key, limiter=self.threads)
        finally:
            self.inflight -= 1


def create_app(
    settings: Settings,
    *,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    clock: Callable[[], float] = time.time,
    pool_size: int | None = None,
    queue: int | None = None,
    queue_timeout: float | None = None,
    body_timeout: float = BODY_TIMEOUT_SECONDS,
) -> Starlette:
    """The receiver; refuses to exist without a bearer token or an HMAC secret in ``settings``.

    ``pool_size``, ``queue`` and ``queue_timeout`` default to ``TALENT_INGEST_POOL_SIZE``,
    ``TALENT_INGEST_QUEUE`` and ``TALENT_INGEST_QUEUE_TIMEOUT_SECONDS`` (see the module doc).
    """
    token, secret = _secret(settings.ingest_token), _secret(settings.ingest_hmac_secret)
    if token is None and secret is None:
        raise ValueError("set TALENT_INGEST_TOKEN or TALENT_INGEST_HMAC_SECRET: the webhook never runs open")
    auth = _Auth(token, secret, clock)
    inbox = _Inbox(
        settings,
        pool_size or settings.ingest_pool_size,
        settings.ingest_queue if queue is None else queue,
        queue_timeout or settings.ingest_queue_timeout_seconds,
    )

    async def receive(request: Request) -> Response:
        endpoint = request.url.path.rsplit("/", 1)[-1]
        entity = ENDPOINTS[endpoint]
        try:
            method = auth.before_body(request)
            _check_content_type(request)
            body = await _read_body(request, max_body_bytes, body_timeout)
            method = method or auth.verify_body(request, body)
            value = _decode(body)
            record = _validate(entity, value)
            key = _idempotency_key(request, record, method)
        except Refused as refused:
            log.info("refused %s: %s %s %s", entity, refused.status, refused.error, refused.reason)
            return refused.response()
        import psycopg

        try:
            outcome = await inbox.store(entity, value, record, key)
        except _Shed as shed:
            error = "overloaded" if shed.retry_after == 1 else "unavailable"
            log.warning("refused %s %s: 503 %s: %s", entity, record.id, error, shed.reason)
            return Refused(
                503, error, f"{shed.reason}; retry", headers={"Retry-After": str(shed.retry_after)}
            ).response()
        except psycopg.Error as exc:
            # the message may quote data; the class and SQLSTATE are enough to diagnose
            log.error("inbox write failed for %s %s: %s %s", entity, record.id, type(exc).__name__, exc.sqlstate or "")
            return Refused(
                503, "unavailable", "the inbox is unavailable; retry", headers={"Retry-After": "5"}
            ).response()
        if outcome is None:
            log.info("refused %s %s: 409 idempotency key reused for different content", entity, record.id)
            return Refused(
                409, "idempotency_key_reused", "this idempotency key was used for different content or another endpoint"
            ).response()
        log.info("accepted %s %s via %s%s", entity, record.id, method, "" if outcome else " (duplicate)")
        return JSONResponse({"id": record.id, "duplicate": not outcome}, status_code=202)

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return JSONResponse(
            {"error": "not_found" if exc.status_code == 404 else "method_not_allowed", "reason": exc.detail},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await anyio.to_thread.run_sync(inbox.close)

    routes = [Route(f"/v1/{endpoint}", receive, methods=["POST"]) for endpoint in ENDPOINTS]
    routes.append(Route("/healthz", healthz, methods=["GET"]))
    app = Starlette(routes=routes, exception_handlers={HTTPException: http_error}, lifespan=lifespan)
    app.state.inbox = inbox
    return app
