"""The webhook under more load than it can take: it sheds with 503 + ``Retry-After`` at once instead
of hanging, and every 202 it gives is a committed inbox row; re-sent records are idempotent and a
changed one is a new version. And ``talent serve-ingest`` on a fresh database. The numbers (rate,
p99) are in ``python -m benchmarks ingest``, not here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil
import pytest

from talent_platform.testing import free_port, wait_healthy
from talent_platform.webhook import create_app

TOKEN = "load-test-token-0123456789"
HEADERS = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}


def _record(i: int, **extra) -> dict:
    return {"id": f"c-load-{i}", "name": f"Person {i}", "resume_text": f"Nurse, {i % 30} years.", **extra}


@pytest.fixture
def settings(talent_env: Path, monkeypatch: pytest.MonkeyPatch):
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_INGEST_TOKEN", TOKEN)
    monkeypatch.delenv("TALENT_INGEST_HMAC_SECRET", raising=False)
    get_settings.cache_clear()
    return get_settings()


@contextmanager
def serving(app) -> Iterator[str]:
    """The app on a real uvicorn server in a thread (lifespan included)."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)


def _inbox_ids(db) -> list[str]:
    db.commit()
    return [p["id"] for (p,) in db.execute("SELECT payload FROM talent.inbox ORDER BY id")]


def test_exhausted_pool_and_full_queue_answer_503_at_once_and_the_held_request_lands(settings, db, pg_url) -> None:
    import psycopg

    app = create_app(settings, pool_size=1, queue=1, queue_timeout=0.5)
    inbox = app.state.inbox
    with serving(app) as base, psycopg.connect(pg_url) as blocker, httpx.Client(base_url=base, timeout=30) as http:
        # hold the only connection: its INSERT waits on this lock
        blocker.execute("LOCK TABLE talent.inbox IN ACCESS EXCLUSIVE MODE")
        with ThreadPoolExecutor(2) as pool:
            held = pool.submit(http.post, "/v1/candidates", content=json.dumps(_record(1)), headers=HEADERS)
            while inbox.holding < 1:
                time.sleep(0.01)
            waiting = pool.submit(http.post, "/v1/candidates", content=json.dumps(_record(2)), headers=HEADERS)
            while inbox.inflight < 2:
                time.sleep(0.01)
            # pool (1) + queue (1) taken: the third is shed before it waits for anything
            began = time.monotonic()
            shed = http.post("/v1/candidates", content=json.dumps(_record(3)), headers=HEADERS)
            assert shed.status_code == 503 and time.monotonic() - began < 0.4, shed.text
            assert shed.headers["retry-after"] == "1" and shed.json()["error"] == "overloaded"
            # the queued one waits its 0.5 s for a connection, then is shed too: never an endless wait
            timed_out = waiting.result(timeout=10)
            assert timed_out.status_code == 503 and timed_out.headers["retry-after"] == "1", timed_out.text
            blocker.rollback()  # release the lock
            accepted = held.result(timeout=10)
        assert accepted.status_code == 202 and accepted.json() == {"id": "c-load-1", "duplicate": False}
    assert _inbox_ids(db) == ["c-load-1"]  # shed requests wrote nothing


def test_every_202_is_a_row_resends_are_idempotent_and_a_change_is_a_new_version(settings, db) -> None:
    app = create_app(settings, pool_size=2, queue=2, queue_timeout=0.05)
    records = [_record(i) for i in range(300)]
    with serving(app) as base, httpx.Client(base_url=base, timeout=30, limits=httpx.Limits(max_connections=32)) as http:

        def post(record: dict) -> tuple[str, int, dict, dict]:
            response = http.post("/v1/candidates", content=json.dumps(record), headers=HEADERS)
            return record["id"], response.status_code, response.json(), dict(response.headers)

        with ThreadPoolExecutor(24) as pool:
            first = list(pool.map(post, records))
        statuses = {status for _, status, _, _ in first}
        assert statuses == {202, 503}, "24 clients against 2 connections + 2 queue slots: some are shed"
        assert all(h["retry-after"] in ("1", "5") for _, s, _, h in first if s == 503)
        accepted = {rid for rid, status, body, _ in first if status == 202 and body["duplicate"] is False}
        assert sorted(_inbox_ids(db)) == sorted(accepted)  # every 202 is a row; no 503 wrote one
        # producers retry what was shed (serially here, so nothing is shed again)
        for rid, status, _, _ in first:
            if status == 503:
                assert post(records[int(rid.rsplit("-", 1)[1])])[1] == 202
        assert sorted(_inbox_ids(db)) == sorted(r["id"] for r in records)
        # everything again, unchanged: duplicates, no row
        with ThreadPoolExecutor(8) as pool:
            again = [r for r in pool.map(post, records[:50]) if r[1] == 202]
        assert again and all(body["duplicate"] is True for _, _, body, _ in again)
        assert len(_inbox_ids(db)) == len(records)
        # one record changed: a new version, a second row for that id
        changed = post(_record(7, headline="Charge nurse"))
        assert changed[1] == 202 and changed[2] == {"id": "c-load-7", "duplicate": False}
        assert _inbox_ids(db).count("c-load-7") == 2 and len(_inbox_ids(db)) == len(records) + 1


# -- the command on a fresh database ---------------------------------------------------------


def _talent(args: list[str], env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [str(Path(sys.executable).parent / "talent"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def empty_database(pg_url: str) -> Iterator[str]:
    """A new, empty database on the test server (no schema at all)."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    name = f"fresh_{os.getpid()}_{int(time.time() * 1000) % 100000}"
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield make_conninfo(**{**conninfo_to_dict(pg_url), "dbname": name})
    finally:
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_serve_ingest_refuses_a_shared_database_without_the_schema(talent_env: Path, empty_database: str) -> None:
    env = {**os.environ, "TALENT_DATABASE_URL": empty_database, "TALENT_INGEST_TOKEN": TOKEN}
    proc = _talent(["serve-ingest", "--port", str(free_port())], env)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 2, out
    assert "refusing to start: the database lacks migrations 0001_core" in out and "talent db migrate" in out


def test_serve_ingest_with_migrate_on_a_shared_database(talent_env: Path, empty_database: str) -> None:
    port = free_port()
    env = {**os.environ, "TALENT_DATABASE_URL": empty_database, "TALENT_INGEST_TOKEN": TOKEN}
    proc = _talent(["serve-ingest", "--port", str(port), "--migrate"], env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        response = httpx.post(f"http://127.0.0.1:{port}/v1/candidates", json=_record(1), headers=HEADERS, timeout=10)
        assert response.status_code == 202, response.text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "applied migrations 0001_core" in out


def test_serve_ingest_migrates_its_own_fresh_embedded_database(state_dir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TALENT_")}
    env.update(TALENT_HOME=str(state_dir), TALENT_INGEST_TOKEN=TOKEN)
    proc = _talent(["serve-ingest", "--port", str(port)], env)
    try:
        wait_healthy(f"http://127.0.0.1:{port}", proc)
        response = httpx.post(f"http://127.0.0.1:{port}/v1/candidates", json=_record(1), headers=HEADERS, timeout=10)
        assert response.status_code == 202, response.text
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=60)
    assert "applied migrations 0001_core" in out
    time.sleep(0.2)
    left = [
        " ".join(p.info["cmdline"] or [])
        for p in psutil.process_iter(["cmdline"])
        if str(state_dir) in " ".join(p.info["cmdline"] or [])
    ]
    assert left == []
