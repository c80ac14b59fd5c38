"""What earlier runs stored, read only where a run needs it.

``talent.match_inputs`` holds the vector version each entity was last matched with (and the K-th
entry of its list, see ``features``); ``talent.matches`` each entity's top K. A run asks the
database for the difference between the vector tables and what was consumed: one query that
compares, in the database, the rows written since the last run's snapshot (every row after a new
score, cross-join version or K) and sends back only the differing ids, and nothing more when
nothing changed. Then it reads the stored rows of the few entities whose lists the change can
reach, never every row: one new record must not cost as much as all of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import psycopg

from talent_matching.features import LISTS

# score, similarity, skill overlap, experience fit, lexical, seniority fit
Entry = tuple[float, float, float, float, float, float]
ENTITIES = ("candidate", "job")


@dataclass
class Delta:
    """Per entity type, the ids whose vector is new or changed since it was last consumed (or that
    were consumed with another score, cross-join or K), and the consumed ids now without a vector
    or profile; sorted in code-point order."""

    changed: dict[str, list[str]] = field(default_factory=lambda: {e: [] for e in ENTITIES})
    removed: dict[str, list[str]] = field(default_factory=lambda: {e: [] for e in ENTITIES})

    def __bool__(self) -> bool:
        return any(self.changed.values()) or any(self.removed.values())


def changes(conn: psycopg.Connection, stamp: str, since: str | None = None) -> Delta:
    """The join of the vector tables (with a profile: an entity without one is not matched) and
    ``match_inputs``, done in the database: only the differing ids come back.

    ``since`` (a transaction id, :func:`watermark`) limits the comparison to the rows written by
    transactions not below it and the ids noted as deleted since (migration 0011): the same answer
    as the whole comparison when ``since`` is the watermark of the last run that matched with
    ``stamp``, at the cost of what changed rather than of everything stored.
    """
    live_where = "" if since is None else "WHERE v.record_id IN (SELECT record_id FROM recent WHERE entity = {entity})"
    recent = (
        ""
        if since is None
        else """
        recent AS (
            SELECT 'candidate' AS entity, record_id FROM talent.candidate_vectors WHERE txid >= %(since)s::xid8
            UNION SELECT 'job', record_id FROM talent.job_vectors WHERE txid >= %(since)s::xid8
            UNION SELECT entity, record_id FROM talent.profiles
                WHERE entity IN ('candidate', 'job') AND txid >= %(since)s::xid8
            UNION SELECT entity, record_id FROM talent.match_recheck WHERE txid >= %(since)s::xid8
        ),"""
    )
    consumed = (
        "talent.match_inputs"
        if since is None
        else "(SELECT * FROM talent.match_inputs WHERE (entity, record_id) IN (SELECT * FROM recent))"
    )
    rows = conn.execute(
        f"""
        WITH {recent}
        live AS (
            SELECT 'candidate' AS entity, v.record_id, v.data_version
            FROM talent.candidate_vectors v
            JOIN talent.profiles p ON p.entity = 'candidate' AND p.record_id = v.record_id
            {live_where.format(entity="'candidate'")}
            UNION ALL
            SELECT 'job', v.record_id, v.data_version
            FROM talent.job_vectors v
            JOIN talent.profiles p ON p.entity = 'job' AND p.record_id = v.record_id
            {live_where.format(entity="'job'")}
        )
        SELECT coalesce(l.entity, m.entity), coalesce(l.record_id, m.record_id), l.record_id IS NULL
        FROM live l FULL JOIN {consumed} m ON m.entity = l.entity AND m.record_id = l.record_id
        WHERE m.data_version IS DISTINCT FROM l.data_version || %(stamp)s
        """,
        {"stamp": stamp, "since": since},
    ).fetchall()
    delta = Delta()
    for entity, record_id, gone in rows:
        (delta.removed if gone else delta.changed)[entity].append(record_id)
    for ids in (*delta.changed.values(), *delta.removed.values()):
        ids.sort()
    return delta


def watermark(conn: psycopg.Connection, stamp: str) -> str | None:
    """Where the last run that matched with ``stamp`` left off (its snapshot's xmin), or ``None``
    when the whole comparison is needed: no run yet, another stamp, a table truncated since."""
    row = conn.execute("SELECT stamp, snapshot_xmin::text FROM talent.match_watermark").fetchone()
    return row[1] if row is not None and row[0] == stamp else None


def snapshot_xmin(conn: psycopg.Connection) -> str:
    """The xmin of the current transaction's snapshot: every transaction below it had finished, so
    a REPEATABLE READ run saw every row they wrote (the next run's ``since``)."""
    (xmin,) = conn.execute("SELECT pg_snapshot_xmin(pg_current_snapshot())::text").fetchone()  # type: ignore[misc]
    return xmin


def owners(conn: psycopg.Connection, entity: str, members: Sequence[str]) -> set[str]:
    """The entities of ``entity`` whose stored list holds any of ``members`` (of the other side)."""
    if not members:
        return set()
    own, rank, other = LISTS[entity]
    rows = conn.execute(
        f"SELECT DISTINCT {own} FROM talent.matches WHERE {other} = ANY(%s) AND {rank} IS NOT NULL",
        (list(members),),
    ).fetchall()
    return {r for (r,) in rows}


@dataclass
class Row:
    candidate: str
    job: str
    entry: Entry
    candidate_rank: int | None
    job_rank: int | None
    candidate_version: str
    job_version: str
    explanation: str | None


@dataclass
class Stored:
    """The stored rows of some candidates and jobs: every row with one of them on either side."""

    rows: list[Row]

    def lists(self, entity: str, ids: Iterable[str]) -> dict[str, dict[str, Entry]]:
        """The stored lists of ``ids`` (loaded ones), each best first by its stored ranks."""
        wanted = set(ids)
        ranked: dict[str, list[tuple[int, str, Entry]]] = {i: [] for i in wanted}
        for r in self.rows:
            if entity == "candidate" and r.candidate in wanted and r.candidate_rank is not None:
                ranked[r.candidate].append((r.candidate_rank, r.job, r.entry))
            elif entity == "job" and r.job in wanted and r.job_rank is not None:
                ranked[r.job].append((r.job_rank, r.candidate, r.entry))
        return {i: {other: entry for _, other, entry in sorted(items)} for i, items in ranked.items()}


def load_rows(conn: psycopg.Connection, candidates: Sequence[str], jobs: Sequence[str]) -> Stored:
    """Every stored row with one of ``candidates`` or one of ``jobs`` in it (both indexed)."""
    if not candidates and not jobs:
        return Stored([])
    rows = conn.execute(
        "SELECT candidate_id, job_id, score, similarity, skill_overlap, experience_fit, lexical, seniority_fit,"
        " candidate_rank, job_rank, candidate_version, job_version, explanation FROM talent.matches"
        " WHERE candidate_id = ANY(%s) OR job_id = ANY(%s)",
        (list(candidates), list(jobs)),
    ).fetchall()
    return Stored(
        [
            Row(c, j, (s, sim, ov, fit, lex, sen), cr, jr, cv, jv, t)
            for c, j, s, sim, ov, fit, lex, sen, cr, jr, cv, jv, t in rows
        ]
    )


def write(
    conn: psycopg.Connection,
    *,
    touched: Mapping[str, Sequence[str]],
    rows: Sequence[tuple],
    consumed: Sequence[tuple[str, str, str, float, str | None]],
    floors: Sequence[tuple[str, str, float, str | None]],
    removed: Mapping[str, Sequence[str]],
    mark: tuple[str, str] | None = None,
) -> int:
    """Replace every row of the ``touched`` entities with ``rows``; record what was consumed
    (``(entity, id, version, floor score, floor id)``), the new floors of untouched entities whose
    lists moved, what is gone and, with ``mark`` (stamp, snapshot xmin), where the next run's
    comparison starts (:func:`watermark`). Returns the number of rows deleted."""
    with conn.cursor() as cur:
        cur.execute(
            "DELETE FROM talent.matches WHERE candidate_id = ANY(%s) OR job_id = ANY(%s)",
            (list(touched["candidate"]), list(touched["job"])),
        )
        deleted = cur.rowcount
        with cur.copy(
            "COPY talent.matches (candidate_id, job_id, score, candidate_rank, job_rank, similarity, skill_overlap,"
            " experience_fit, lexical, seniority_fit, candidate_version, job_version, explanation) FROM STDIN"
        ) as copy:
            for row in rows:
                copy.write_row(row)
        cur.execute(
            "DELETE FROM talent.match_inputs WHERE (entity = 'candidate' AND record_id = ANY(%s))"
            " OR (entity = 'job' AND record_id = ANY(%s))",
            (list(removed["candidate"]), list(removed["job"])),
        )
        cur.execute(
            """
            INSERT INTO talent.match_inputs (entity, record_id, data_version, floor_score, floor_id)
            SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::float8[], %s::text[])
            ON CONFLICT (entity, record_id) DO UPDATE SET data_version = EXCLUDED.data_version,
                floor_score = EXCLUDED.floor_score, floor_id = EXCLUDED.floor_id
            """,
            _columns(consumed, 5),
        )
        cur.execute(
            """
            UPDATE talent.match_inputs i SET floor_score = f.score, floor_id = f.other
            FROM unnest(%s::text[], %s::text[], %s::float8[], %s::text[]) AS f (entity, record_id, score, other)
            WHERE i.entity = f.entity AND i.record_id = f.record_id
            """,
            _columns(floors, 4),
        )
        if mark is not None:
            stamp, xmin = mark
            cur.execute(
                "INSERT INTO talent.match_watermark (stamp, snapshot_xmin) VALUES (%s, %s::xid8)"
                " ON CONFLICT (singleton) DO UPDATE SET stamp = EXCLUDED.stamp,"
                " snapshot_xmin = EXCLUDED.snapshot_xmin, updated_at = now()",
                (stamp, xmin),
            )
            # the rechecks this run's snapshot saw are done; later ones stay for the next run
            cur.execute("DELETE FROM talent.match_recheck WHERE txid < %s::xid8", (xmin,))
    return deleted


def _columns(rows: Sequence[tuple], width: int) -> list[list]:
    """Rows as columns, for ``unnest``: one statement whatever the number of rows."""
    return [list(column) for column in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]
