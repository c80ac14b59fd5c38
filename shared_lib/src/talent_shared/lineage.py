"""Record-level lineage: per record and stage, what it consumed, at which code version, with what result.

Dagster sees arrival batches (``talent_shared.partitions``); whether a *record* needs work is a
question for these rows, answered in SQL. A record is stale for a stage when its row is
``pending`` (new, or its input changed), ``failed`` (retried while attempts remain), or when it was
processed at another code version than the stage's current one. Everything stored is therefore, at
any time, one of: done at current versions, in flight (a live run covers its batch), quarantined
with its reason, or stale, and the reconciler (``talent_shared.reconciler``) requests what is stale.
None of this reads a clock.

Code-version staleness is kept per batch (``talent.batch_stages``) so a deploy's change is found by
comparing one row per batch, and the reconciler's question "which batches have work?" reads two
small indexes instead of every record.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import psycopg

Stage = Literal["normalized", "vectors"]
STAGES: tuple[Stage, ...] = ("normalized", "vectors")
NEXT: dict[Stage, Stage | None] = {"normalized": "vectors", "vectors": None}


# A vectors row is workable once its record's profile is done.
READY = """AND EXISTS (SELECT 1 FROM talent.record_stages n WHERE n.entity = s.entity
    AND n.stage = 'normalized' AND n.record_id = s.record_id AND n.status = 'done')"""


@dataclass(frozen=True)
class Todo:
    """A record a step must process: its batch and how many attempts it already had at these versions."""

    record_id: str
    partition_key: str
    attempts: int


@dataclass
class Outcome:
    """What a step did to one record; written by :func:`record_outcomes`."""

    record_id: str
    input_version: str | None
    output_version: str | None = None
    error: str | None = None  # set: the attempt failed, with this reason
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: Decimal = Decimal(0)


def open_stage_rows(conn: psycopg.Connection, entity: str, rows: Iterable[tuple[str, str]], *, new: bool) -> None:
    """Stored records (record id, batch) need normalizing: new ones get a pending row per stage, a
    changed one's normalization becomes pending again (its vectors follow if its profile changes)."""
    rows = list(rows)
    if not rows:
        return
    with conn.cursor() as cur:
        stages: tuple[Stage, ...] = STAGES if new else ("normalized",)
        cur.executemany(
            """
            INSERT INTO talent.record_stages (entity, stage, record_id, partition_key, status)
            VALUES (%s, %s, %s, %s, 'pending')
            ON CONFLICT (entity, stage, record_id) DO UPDATE
            SET status = 'pending', attempts = 0, reason = NULL, updated_at = now()
            """,
            [(entity, stage, rid, key) for rid, key in rows for stage in stages],
        )
        if new:
            cur.executemany(
                """
                INSERT INTO talent.batch_stages (entity, stage, partition_key) VALUES (%s, %s, %s)
                ON CONFLICT DO NOTHING
                """,
                sorted({(entity, stage, key) for _, key in rows for stage in STAGES}),
            )


def todo(
    conn: psycopg.Connection, entity: str, stage: Stage, partition_keys: Sequence[str], code_version: str
) -> list[Todo]:
    """The records of these batches that ``stage`` must (re)process at ``code_version``, in arrival order."""
    # a record's vectors wait for its profile: only records whose normalization is done are todo
    ready = "" if stage == "normalized" else READY
    rows = conn.execute(
        f"""
        SELECT s.record_id, s.partition_key,
               CASE WHEN s.status = 'pending' OR s.code_version IS DISTINCT FROM %(code)s THEN 0
                    ELSE s.attempts END
        FROM talent.record_stages s
        JOIN talent.raw_records r ON r.entity = s.entity AND r.record_id = s.record_id
        WHERE s.entity = %(entity)s AND s.stage = %(stage)s AND s.partition_key = ANY(%(keys)s)
          AND (s.status IN ('pending', 'failed') OR s.code_version IS DISTINCT FROM %(code)s) {ready}
        ORDER BY r.ordinal
        """,
        {"entity": entity, "stage": stage, "keys": list(partition_keys), "code": code_version},
    ).fetchall()
    return [Todo(*row) for row in rows]


def record_outcomes(
    conn: psycopg.Connection,
    entity: str,
    stage: Stage,
    outcomes: Sequence[Outcome],
    *,
    code_version: str,
    run_id: str | None,
    attempts: dict[str, int],
    max_attempts: int,
) -> dict[str, int]:
    """Write each record's result; a done record whose output changed opens the next stage. Returns
    counts by status written (done, failed, quarantined)."""
    counts = {"done": 0, "failed": 0, "quarantined": 0}
    done_rows, failed_rows, reopened = [], [], []
    for o in outcomes:
        tried = attempts.get(o.record_id, 0) + 1
        if o.error is None:
            done_rows.append(
                (
                    o.input_version,
                    code_version,
                    o.output_version,
                    run_id,
                    tried,
                    o.input_tokens,
                    o.output_tokens,
                    o.cost_usd,
                    entity,
                    stage,
                    o.record_id,
                )
            )
            counts["done"] += 1
        else:
            status = "quarantined" if tried >= max_attempts else "failed"
            failed_rows.append(
                (
                    status,
                    o.input_version,
                    code_version,
                    run_id,
                    tried,
                    o.error[:500],
                    o.input_tokens,
                    o.output_tokens,
                    o.cost_usd,
                    entity,
                    stage,
                    o.record_id,
                )
            )
            counts[status] += 1
    nxt = NEXT[stage]
    quarantined = [r[-1] for r in failed_rows if r[0] == "quarantined"]
    with conn.cursor() as cur:
        if quarantined and nxt is not None:
            # what waits on a quarantined record is quarantined with it, so its batch can close
            cur.execute(
                """
                UPDATE talent.record_stages SET status = 'quarantined', reason = %s, updated_at = now()
                WHERE entity = %s AND stage = %s AND record_id = ANY(%s) AND status IN ('pending', 'failed')
                """,
                (f"{stage} quarantined", entity, nxt, quarantined),
            )
        if done_rows and nxt is not None:
            # the next stage is pending where this stage's output is not what it last consumed
            ids = [r[-1] for r in done_rows]
            outputs = [r[2] for r in done_rows]
            reopened = cur.execute(
                """
                UPDATE talent.record_stages s SET status = 'pending', attempts = 0, reason = NULL, updated_at = now()
                FROM unnest(%s::text[], %s::text[]) AS o(record_id, output_version)
                WHERE s.entity = %s AND s.stage = %s AND s.record_id = o.record_id
                  AND (s.input_version IS DISTINCT FROM o.output_version OR s.status = 'quarantined')
                  AND s.status <> 'pending'
                RETURNING s.record_id
                """,
                (ids, outputs, entity, nxt),
            ).fetchall()
        if done_rows:
            cur.executemany(
                """
                UPDATE talent.record_stages SET status = 'done', input_version = %s, code_version = %s,
                    output_version = %s, run_id = %s, attempts = %s, reason = NULL, input_tokens = %s,
                    output_tokens = %s, cost_usd = %s, updated_at = now()
                WHERE entity = %s AND stage = %s AND record_id = %s
                """,
                done_rows,
            )
        if failed_rows:
            cur.executemany(
                """
                UPDATE talent.record_stages SET status = %s, input_version = %s, code_version = %s, run_id = %s,
                    attempts = %s, reason = %s, input_tokens = input_tokens + %s,
                    output_tokens = output_tokens + %s, cost_usd = cost_usd + %s, updated_at = now()
                WHERE entity = %s AND stage = %s AND record_id = %s
                """,
                failed_rows,
            )
    counts["reopened_next"] = len(reopened)
    return counts


def close_batches(
    conn: psycopg.Connection, entity: str, stage: Stage, partition_keys: Sequence[str], code_version: str
) -> None:
    """A batch whose every record was attempted at ``code_version`` is at that code version: a deploy
    that changes it makes the batch stale again, one row to compare."""
    conn.execute(
        """
        UPDATE talent.batch_stages b SET code_version = %(code)s, updated_at = now()
        WHERE b.entity = %(entity)s AND b.stage = %(stage)s AND b.partition_key = ANY(%(keys)s)
          AND b.code_version IS DISTINCT FROM %(code)s
          AND NOT EXISTS (
              SELECT 1 FROM talent.record_stages s
              WHERE s.entity = b.entity AND s.stage = b.stage AND s.partition_key = b.partition_key
                AND (s.status = 'pending' OR (s.status <> 'quarantined' AND s.code_version IS DISTINCT FROM %(code)s))
          )
        """,
        {"entity": entity, "stage": stage, "keys": list(partition_keys), "code": code_version},
    )


def output_version(conn: psycopg.Connection, entity: str, stage: Stage, partition_keys: Sequence[str]) -> str | None:
    """The data version of a stage's batch: a hash of each record's output and status, so it changes
    exactly when one of its records' results does (Dagster's catalog shows it; staleness is ours)."""
    row = conn.execute(
        """
        SELECT md5(string_agg(record_id || ':' || coalesce(output_version, '') || ':' || status, ','
                              ORDER BY record_id))
        FROM talent.record_stages WHERE entity = %s AND stage = %s AND partition_key = ANY(%s)
        """,
        (entity, stage, list(partition_keys)),
    ).fetchone()
    return row[0] if row else None


def batch_size_of(conn: psycopg.Connection, entity: str, partition_keys: Sequence[str]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM talent.raw_records WHERE entity = %s AND partition_key = ANY(%s)",
        (entity, list(partition_keys)),
    ).fetchone()
    return int(row[0]) if row else 0


def stale_batches(
    conn: psycopg.Connection, entity: str, code_versions: dict[Stage, str], max_attempts: int
) -> dict[str, int]:
    """Batch -> records with work for any stage: records with an open row (pending, or failed with
    attempts left), and every record of a batch last processed at another code version. Reads the
    open-rows index and one row per batch, never every record."""
    rows = conn.execute(
        f"""
        SELECT s.partition_key, count(DISTINCT s.record_id) FROM talent.record_stages s
        WHERE s.entity = %(entity)s AND (s.status = 'pending' OR (s.status = 'failed' AND s.attempts < %(max)s))
          AND (s.stage = 'normalized' OR ({READY.removeprefix("AND ")}))
        GROUP BY s.partition_key
        """,
        {"entity": entity, "max": max_attempts},
    ).fetchall()
    out: dict[str, int] = dict(rows)
    behind: set[str] = set()
    for stage, code in code_versions.items():
        behind.update(
            key
            for (key,) in conn.execute(
                """
                SELECT partition_key FROM talent.batch_stages
                WHERE entity = %s AND stage = %s AND code_version IS DISTINCT FROM %s
                """,
                (entity, stage, code),
            )
        )
    if behind:
        for key, size in conn.execute(
            """
            SELECT partition_key, count(*) FROM talent.raw_records
            WHERE entity = %s AND partition_key = ANY(%s) GROUP BY partition_key
            """,
            (entity, sorted(behind)),
        ):
            out[key] = max(out.get(key, 0), size)
    return out


def counts(conn: psycopg.Connection, entity: str, code_versions: dict[Stage, str]) -> dict[str, dict[str, int]]:
    """Stage -> records by state: done (at the current code version), stale, failed, quarantined."""
    out: dict[str, dict[str, int]] = {}
    for stage, code in code_versions.items():
        row = conn.execute(
            """
            SELECT count(*) FILTER (WHERE status = 'done' AND code_version = %(code)s),
                   count(*) FILTER (WHERE status = 'pending'
                                    OR (status IN ('done', 'quarantined') AND code_version IS DISTINCT FROM %(code)s)),
                   count(*) FILTER (WHERE status = 'failed'),
                   count(*) FILTER (WHERE status = 'quarantined' AND code_version = %(code)s)
            FROM talent.record_stages WHERE entity = %(entity)s AND stage = %(stage)s
            """,
            {"entity": entity, "stage": stage, "code": code},
        ).fetchone()
        assert row is not None
        out[stage] = dict(zip(("done", "stale", "failed", "quarantined"), row, strict=True))
    return out


def stale_records(conn: psycopg.Connection, entity: str, stage: Stage, code_version: str) -> list[str]:
    """Every record ``stage`` would process now at ``code_version`` (what a deploy estimate prices)."""
    rows = conn.execute(
        """
        SELECT record_id FROM talent.record_stages
        WHERE entity = %s AND stage = %s AND (status IN ('pending', 'failed') OR code_version IS DISTINCT FROM %s)
        ORDER BY record_id
        """,
        (entity, stage, code_version),
    ).fetchall()
    return [r for (r,) in rows]


def story(conn: psycopg.Connection, entity: str, record_id: str) -> dict | None:
    """One record's lineage: its stored version and batch, each stage's row, and what matching consumed."""
    raw = conn.execute(
        """
        SELECT content_hash, partition_key, ordinal, source, line, stored_at FROM talent.raw_records
        WHERE entity = %s AND record_id = %s
        """,
        (entity, record_id),
    ).fetchone()
    if raw is None:
        return None
    content_hash, partition_key, ordinal, source, line, stored_at = raw
    stages = {}
    for row in conn.execute(
        """
        SELECT stage, status, input_version, code_version, output_version, run_id, attempts, reason,
               input_tokens, output_tokens, cost_usd, updated_at
        FROM talent.record_stages WHERE entity = %s AND record_id = %s ORDER BY stage
        """,
        (entity, record_id),
    ):
        stage, *rest = row
        keys = (
            "status",
            "input_version",
            "code_version",
            "output_version",
            "run_id",
            "attempts",
            "reason",
            "input_tokens",
            "output_tokens",
            "cost_usd",
            "updated_at",
        )
        item = dict(zip(keys, rest, strict=True))
        item["cost_usd"] = float(item["cost_usd"])
        item["updated_at"] = item["updated_at"].isoformat()
        stages[stage] = item
    matched = conn.execute(
        "SELECT data_version FROM talent.match_inputs WHERE entity = %s AND record_id = %s", (entity, record_id)
    ).fetchone()
    return {
        "entity": entity,
        "record_id": record_id,
        "content_hash": content_hash,
        "batch": partition_key,
        "ordinal": ordinal,
        "source": source,
        "line": line,
        "stored_at": stored_at.isoformat(),
        "stages": stages,
        "matched_version": matched[0] if matched else None,
    }
