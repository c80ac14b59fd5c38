"""Writes of the ingestion path: accepted records, rejects, and what was read.

A record is stored only when its content hash differs from the stored one, and every such write
opens its record's lineage (``talent_shared.lineage``) in the same transaction: what is stored is
stale until a run processes it, whatever happens to the sensor's tick or its events afterwards. An
unchanged record costs nothing downstream.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

import psycopg

from talent_shared.ingest.parse import Accepted, Rejection


def store_accepted(
    conn: psycopg.Connection,
    entity: str,
    source: str,
    accepted: Iterable[Accepted],
    *,
    touched: set[str] | None = None,
    batch_size: int | None = None,
) -> int:
    """Store records whose content changed; returns how many changed.

    A new record takes the next arrival number of its entity and with it its batch (the Dagster
    partition it belongs to for good, ``talent_shared.partitions``); a changed one keeps its batch. Both
    get their normalization opened in the lineage (``talent_shared.lineage``), in this transaction,
    so what is stored is stale until processed. ``touched`` collects the batches written.
    """
    from talent_shared import lineage
    from talent_shared.partitions import batch_size as configured_batch_size

    size = batch_size or configured_batch_size()
    latest: dict[str, tuple] = {}
    for a in accepted:  # a record twice in one source: its last line wins
        latest[a.record.id] = (a.record.id, a.record.content_hash(), a.record.canonical_json(), source, a.line)
    if not latest:
        return 0
    known: dict[str, str] = dict(
        conn.execute(
            "SELECT record_id, content_hash FROM talent.raw_records WHERE entity = %s AND record_id = ANY(%s)",
            (entity, list(latest)),
        ).fetchall()
    )
    new = [row for rid, row in latest.items() if rid not in known]
    changed = [row for rid, row in latest.items() if rid in known and known[rid] != row[1]]
    inserted: list[tuple[str, str]] = []
    updated: list[tuple[str, str]] = []
    with conn.cursor() as cur:
        for record_id, content_hash, payload, src, line in new:
            cur.execute(
                f"""
                WITH o AS (SELECT nextval('talent.{entity}_ordinal') AS n)
                INSERT INTO talent.raw_records
                    (entity, record_id, content_hash, payload, source, line, ordinal, partition_key)
                SELECT %s, %s, %s, %s::jsonb, %s, %s, o.n, 'b' || lpad((o.n / %s)::text, 6, '0') FROM o
                ON CONFLICT (entity, record_id) DO UPDATE
                SET content_hash = EXCLUDED.content_hash, payload = EXCLUDED.payload,
                    source = EXCLUDED.source, line = EXCLUDED.line,
                    seq = nextval('talent.raw_records_seq'), stored_at = now()
                WHERE raw_records.content_hash <> EXCLUDED.content_hash
                RETURNING record_id, partition_key, (xmax = 0) AS inserted
                """,
                (entity, record_id, content_hash, payload, src, line, size),
            )
            for rid, key, was_inserted in cur.fetchall():
                (inserted if was_inserted else updated).append((rid, key))
        for record_id, content_hash, payload, src, line in changed:
            cur.execute(
                """
                UPDATE talent.raw_records
                SET content_hash = %s, payload = %s::jsonb, source = %s, line = %s,
                    seq = nextval('talent.raw_records_seq'), stored_at = now()
                WHERE entity = %s AND record_id = %s AND content_hash <> %s
                RETURNING record_id, partition_key
                """,
                (content_hash, payload, src, line, entity, record_id, content_hash),
            )
            updated.extend(cur.fetchall())
    lineage.open_stage_rows(conn, entity, inserted, new=True)
    lineage.open_stage_rows(conn, entity, updated, new=False)
    if touched is not None:
        touched.update(key for _, key in inserted + updated)
    return len(inserted) + len(updated)


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


def batch_versions(conn: psycopg.Connection, entity: str, partition_keys: Iterable[str]) -> dict[str, str]:
    """Batch -> the data version of its records as stored: a hash over (record id, content hash) of
    every record in it, so the raw partition's version changes exactly when one of its records does."""
    rows = conn.execute(
        """
        SELECT partition_key, md5(string_agg(record_id || ':' || content_hash, ',' ORDER BY record_id)), count(*)
        FROM talent.raw_records WHERE entity = %s AND partition_key = ANY(%s) GROUP BY partition_key
        """,
        (entity, sorted(set(partition_keys))),
    ).fetchall()
    return {key: version for key, version, _ in rows}


@dataclass(frozen=True)
class InboxCursor:
    """Where a reader is in the inbox's commit order: the writer's transaction id, then the row id."""

    txid: int = 0
    id: int = 0


def inbox_after(
    conn: psycopg.Connection, entity: str, cursor: InboxCursor | int, limit: int
) -> list[tuple[InboxCursor, object]]:
    """Inbox rows past ``cursor`` in commit order: only rows whose writing transactions have all
    finished (below this snapshot's xmin) are returned, so a row that commits late is never passed
    over by a row committed before it (migration 0008). A long-open writer holds back what follows."""
    if isinstance(cursor, int):
        cursor = InboxCursor(0, cursor)
    rows = conn.execute(
        """
        SELECT txid::text::bigint, id, payload FROM talent.inbox
        WHERE entity = %s AND (txid, id) > (%s::text::xid8, %s)
          AND txid < pg_snapshot_xmin(pg_current_snapshot())
        ORDER BY txid, id LIMIT %s
        """,
        (entity, str(cursor.txid), cursor.id, limit),
    ).fetchall()
    return [(InboxCursor(txid, row_id), payload) for txid, row_id, payload in rows]


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
