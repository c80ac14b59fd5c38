"""Writes of the ingestion path: accepted records, rejects, and what was read.

A record is stored only when its content hash differs from the stored one, and every such write
takes a new ``seq``; sensors report raw materializations for the rows past their cursor. So an
unchanged record costs nothing downstream, and a tick that died before its cursor was saved is
replayed from the old cursor (same data versions, so nothing downstream re-runs).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

from talent_shared.ingest.parse import Accepted, Rejection


@dataclass(frozen=True)
class StoredRecord:
    record_id: str
    content_hash: str
    seq: int
    source: str
    line: int | None


def store_accepted(conn: psycopg.Connection, entity: str, source: str, accepted: Iterable[Accepted]) -> int:
    """Upsert records whose content changed; returns how many changed."""
    rows = [(entity, a.record.id, a.record.content_hash(), a.record.canonical_json(), source, a.line) for a in accepted]
    if not rows:
        return 0
    changed = 0
    with conn.cursor() as cur:
        for row in rows:
            cur.execute(
                """
                INSERT INTO talent.raw_records (entity, record_id, content_hash, payload, source, line)
                VALUES (%s, %s, %s, %s::jsonb, %s, %s)
                ON CONFLICT (entity, record_id) DO UPDATE
                SET content_hash = EXCLUDED.content_hash, payload = EXCLUDED.payload,
                    source = EXCLUDED.source, line = EXCLUDED.line,
                    seq = nextval('talent.raw_records_seq'), stored_at = now()
                WHERE raw_records.content_hash <> EXCLUDED.content_hash
                """,
                row,
            )
            changed += cur.rowcount
    return changed


def store_rejections(conn: psycopg.Connection, entity: str, source: str, rejections: Iterable[Rejection]) -> int:
    rows = [(entity, source, r.line, r.reason, r.excerpt) for r in rejections]
    if rows:
        with conn.cursor() as cur:
            cur.executemany(
                """
                INSERT INTO talent.rejects (entity, source, line, reason, excerpt)
                VALUES (%s, %s, %s, %s, %s)
                ON CONFLICT (entity, source, line, reason) DO NOTHING
                """,
                rows,
            )
    return len(rows)


def known_fingerprints(conn: psycopg.Connection, entity: str) -> dict[str, str]:
    rows = conn.execute("SELECT source, fingerprint FROM talent.ingested_sources WHERE entity = %s", (entity,))
    return dict(rows.fetchall())


def mark_read(conn: psycopg.Connection, entity: str, source: str, fingerprint: str) -> None:
    conn.execute(
        """
        INSERT INTO talent.ingested_sources (entity, source, fingerprint) VALUES (%s, %s, %s)
        ON CONFLICT (entity, source) DO UPDATE SET fingerprint = EXCLUDED.fingerprint, read_at = now()
        """,
        (entity, source, fingerprint),
    )


def records_after(conn: psycopg.Connection, entity: str, seq: int, limit: int) -> list[StoredRecord]:
    rows = conn.execute(
        """
        SELECT record_id, content_hash, seq, source, line FROM talent.raw_records
        WHERE entity = %s AND seq > %s ORDER BY seq LIMIT %s
        """,
        (entity, seq, limit),
    ).fetchall()
    return [StoredRecord(*row) for row in rows]


def inbox_after(conn: psycopg.Connection, entity: str, inbox_id: int, limit: int) -> list[tuple[int, object]]:
    return conn.execute(
        "SELECT id, payload FROM talent.inbox WHERE entity = %s AND id > %s ORDER BY id LIMIT %s",
        (entity, inbox_id, limit),
    ).fetchall()


def write_inbox(conn: psycopg.Connection, entity: str, payload: dict, idempotency_key: str) -> bool:
    """Insert a producer's record; False when that key was already received."""
    cur = conn.execute(
        """
        INSERT INTO talent.inbox (entity, payload, idempotency_key) VALUES (%s, %s::jsonb, %s)
        ON CONFLICT (entity, idempotency_key) DO NOTHING
        """,
        (entity, json.dumps(payload), idempotency_key),
    )
    return cur.rowcount == 1
