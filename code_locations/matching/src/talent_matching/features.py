"""One side's scoring features, read lean, with each entity's stored K-th entry.

A run with one new candidate scores it against every job, so it reads every job's features: at
tens of thousands of rows the per-row work decides the run's time and memory. Vectors come in
pgvector's binary form as raw bytes and become one array in a single ``np.frombuffer`` (the text
form costs a float parse per component, a ``Vector`` per row a few microseconds each); profiles
give only the three fields the score reads, straight from the JSON (``Side.from_fields``, the
values ``Side.build`` takes from a validated ``Profile``, which cost ~30 µs a row). Rows are put in
id order by code point, Python's string order: ``top_k`` breaks ties by position and ``_merge`` by
id, and the two must agree whatever the database's collation.

The K-th entry of each entity's stored list (its *floor*, kept in ``match_inputs``) comes in the
same query: a changed record of the other side can only enter an untouched list if it is not
below it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import psycopg
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

from talent_matching.score import Side
from talent_shared.lexical import DIM as LEXICAL_DIM

TABLES = {"candidate": "candidate_vectors", "job": "job_vectors"}
OTHER = {"candidate": "job", "job": "candidate"}
# an entity's stored list in talent.matches: its own column, its rank column, the other side's column
LISTS = {"candidate": ("candidate_id", "candidate_rank", "job_id"), "job": ("job_id", "job_rank", "candidate_id")}
CHUNK = 4096  # rows turned into arrays at a time (bounds the per-row objects alive at once)


@dataclass
class Floors:
    """Per entity of a side (aligned with its ``Side``), the K-th entry of its stored list.

    ``score`` is the stored (rounded) score, ``-inf`` when the list is shorter than K (anything
    enters it) and ``+inf`` for entities whose lists are recomputed anyway (nothing is collected
    for them); ``ids`` the other side's id at rank K, which breaks a tie with an equal score.
    """

    score: np.ndarray  # float64
    ids: list[str | None]

    def closed(self, ids: Sequence[str], index: dict[str, int]) -> Floors:
        """These floors with ``ids`` at ``+inf``."""
        score = self.score.copy()
        score[[index[i] for i in ids if i in index]] = np.inf
        return Floors(score, self.ids)


@dataclass
class Features:
    """A side's ``Side`` and ``Floors``; ``complete`` when it holds every entity of that side."""

    side: Side
    floors: Floors
    complete: bool

    def __post_init__(self) -> None:
        self.index = {rid: i for i, rid in enumerate(self.side.ids)}

    def subset(self, ids: Sequence[str]) -> Side:
        """The rows of ``ids`` that are here, in this side's (id) order."""
        return self.side.take(sorted(self.index[i] for i in set(ids) if i in self.index))

    def has(self, ids: Sequence[str]) -> bool:
        return all(i in self.index for i in ids)


class _Raw(Loader):
    """A column's binary value as bytes, left for one ``np.frombuffer`` over all rows."""

    format = Format.BINARY

    def load(self, data) -> bytes:
        return bytes(data)


def load_features(conn: psycopg.Connection, entity: str, ids: Sequence[str] | None = None) -> Features:
    """Every entity of the side (``ids`` None) or those of ``ids``, with a vector and a profile."""
    if ids is not None and not ids:
        return Features(*_Columns.concat([]).side(entity), complete=False)
    where = "" if ids is None else "WHERE v.record_id = ANY(%(ids)s)"
    # no ORDER BY: sorting rows this wide cost more than the rest of the query (spilling to disk
    # at 20k rows); they are put in code-point order here, which is also what the order must be
    query = f"""
        SELECT v.record_id, v.data_version, v.embedding, v.lexical, p.profile->>'skills',
               (p.profile->>'years_experience')::float8, p.profile->>'seniority', i.floor_score, i.floor_id
        FROM talent.{TABLES[entity]} v
        JOIN talent.profiles p ON p.entity = %(entity)s AND p.record_id = v.record_id
        LEFT JOIN talent.match_inputs i ON i.entity = %(entity)s AND i.record_id = v.record_id
        {where}
    """
    info = conn.adapters.types.get("vector") or TypeInfo.fetch(conn, "vector")
    if info is None:
        raise psycopg.ProgrammingError("the vector type does not exist: run the migrations")
    parts: list[_Columns] = []
    with conn.cursor(binary=True) as cur:
        cur.adapters.register_loader(info.oid, _Raw)
        cur.execute(query, {"entity": entity, "ids": None if ids is None else list(ids)})
        while rows := cur.fetchmany(CHUNK):
            parts.append(_Columns.of(rows))
    return Features(*_Columns.concat(parts).sorted().side(entity), complete=ids is None)


@dataclass
class _Columns:
    ids: list[str]
    versions: list[str]
    vectors: np.ndarray
    lexical: np.ndarray
    skills: list[list[str]]
    years: list[float]
    seniority: list[str]
    floor: np.ndarray
    floor_ids: list[str | None]

    @classmethod
    def of(cls, rows: list) -> _Columns:
        ids, versions, embeddings, lexical, skills, years, seniority, floor, floor_ids = zip(*rows, strict=True)
        lex = np.zeros((len(rows), LEXICAL_DIM), np.float32)
        present = [i for i, v in enumerate(lexical) if v is not None]  # none before the lexical signal
        if present:
            lex[present] = _vectors([lexical[i] for i in present])
        return cls(
            list(ids),
            list(versions),
            _vectors(embeddings),
            lex,
            json.loads(f"[{','.join(skills)}]"),  # one parse for the chunk, not one per row
            list(years),
            list(seniority),
            np.asarray([-np.inf if f is None else f for f in floor], dtype=np.float64),
            list(floor_ids),
        )

    def sorted(self) -> _Columns:
        """In id order by code point (numpy compares str by code point, as Python does)."""
        order = np.argsort(np.asarray(self.ids, dtype=str), kind="stable").tolist()
        if order == list(range(len(order))):
            return self
        return _Columns(
            [self.ids[i] for i in order],
            [self.versions[i] for i in order],
            self.vectors[order],
            self.lexical[order],
            [self.skills[i] for i in order],
            [self.years[i] for i in order],
            [self.seniority[i] for i in order],
            self.floor[order],
            [self.floor_ids[i] for i in order],
        )

    def side(self, entity: str) -> tuple[Side, Floors]:
        side = Side.from_fields(
            self.ids, self.versions, self.vectors, self.skills, self.years, self.seniority, self.lexical,
            candidates=entity == "candidate",
        )  # fmt: skip
        return side, Floors(self.floor, self.floor_ids)

    @classmethod
    def concat(cls, parts: list[_Columns]) -> _Columns:
        if not parts:
            empty = np.zeros(0, np.float64)
            return cls(
                [], [], np.zeros((0, 1), np.float32), np.zeros((0, LEXICAL_DIM), np.float32), [], [], [], empty, []
            )
        if len(parts) == 1:
            return parts[0]
        return cls(
            [i for p in parts for i in p.ids],
            [v for p in parts for v in p.versions],
            np.concatenate([p.vectors for p in parts]),
            np.concatenate([p.lexical for p in parts]),
            [s for p in parts for s in p.skills],
            [y for p in parts for y in p.years],
            [s for p in parts for s in p.seniority],
            np.concatenate([p.floor for p in parts]),
            [i for p in parts for i in p.floor_ids],
        )


def _vectors(values: Sequence[bytes]) -> np.ndarray:
    """pgvector's binary values (a 2-byte dimension, 2 unused bytes, big-endian float32s) as one
    (n, dim) float32 array: the 4-byte header is one more column, dropped."""
    dim = len(values[0]) // 4 - 1
    raw = np.frombuffer(b"".join(values), dtype=">f4").reshape(len(values), dim + 1)
    return raw[:, 1:].astype(np.float32)
