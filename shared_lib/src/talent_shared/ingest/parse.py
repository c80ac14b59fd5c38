"""Turn landed bytes into records or rejections, one line at a time.

Everything that can be wrong with a file is a :class:`Rejection` with the line it is on (1 for a
``.json`` file), never an exception: one bad line must not hold back the good ones beside it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from talent_shared.records import Entity, RawRecord, RecordRejected, parse_record

MAX_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class Accepted:
    line: int
    record: RawRecord


@dataclass(frozen=True)
class Rejection:
    line: int | None
    reason: str
    excerpt: str = ""


def _excerpt(text: str) -> str:
    # Enough to find the line again; never the whole record (it may hold personal data).
    return text[:80]


def parse_value(entity: Entity, line: int, value: Any) -> Accepted | Rejection:
    try:
        return Accepted(line, parse_record(entity, value))
    except RecordRejected as exc:
        return Rejection(line, exc.reason)


def parse_bytes(entity: Entity, name: str, data: bytes) -> Iterator[Accepted | Rejection]:
    if len(data) > MAX_FILE_BYTES:
        yield Rejection(None, f"file: larger than {MAX_FILE_BYTES} bytes")
        return
    if not data.strip():
        yield Rejection(None, "file: empty")
        return
    if name.endswith(".jsonl"):
        for number, raw_line in enumerate(data.split(b"\n"), start=1):
            if raw_line.strip():
                yield _parse_text(entity, number, raw_line)
    else:
        yield _parse_text(entity, 1, data)


def _parse_text(entity: Entity, line: int, raw: bytes) -> Accepted | Rejection:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Rejection(line, f"encoding: not UTF-8 (byte {exc.start})")
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        return Rejection(line + exc.lineno - 1, f"json: {exc.msg} at column {exc.colno}", _excerpt(text))
    except (ValueError, RecursionError) as exc:  # NaN/Infinity, a 4,300-digit integer, deep nesting
        return Rejection(line, f"json: {str(exc)[:120] or type(exc).__name__}")
    problem = _unstorable(value)
    if problem:
        return Rejection(line, problem)
    return parse_value(entity, line, value)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


def _unstorable(value: Any, path: str = "record") -> str | None:
    """What valid JSON Postgres' jsonb still refuses: NUL characters and lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            return f"{path}: contains a NUL character"
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return f"{path}: contains an unpaired surrogate"
    elif isinstance(value, dict):
        for key, item in value.items():
            problem = _unstorable(key, path) or _unstorable(item, key if path == "record" else f"{path}.{key}")
            if problem:
                return problem
    elif isinstance(value, list):
        for index, item in enumerate(value):
            problem = _unstorable(item, f"{path}.{index}")
            if problem:
                return problem
    return None
