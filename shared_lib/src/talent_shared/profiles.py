"""Normalization: raw records to structured profiles, in batches, through the metered LLM client."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import psycopg
from psycopg.types.json import Jsonb

from talent_shared.providers.base import LLMProvider, Profile, Usage

if TYPE_CHECKING:
    from talent_shared.llm.meter import Meter
    from talent_shared.prompts import Prompt

# (payload) -> (text for the model, hints from structured fields)
ExtractionInput = Callable[[dict], tuple[str, dict]]


def load_payloads(conn: psycopg.Connection, entity: str, ids: Sequence[str]) -> dict[str, dict]:
    rows = conn.execute(
        "SELECT record_id, payload FROM talent.raw_records WHERE entity = %s AND record_id = ANY(%s)",
        (entity, list(ids)),
    ).fetchall()
    return dict(rows)


def load_profiles(conn: psycopg.Connection, entity: str, ids: Sequence[str] | None = None) -> dict[str, Profile]:
    if ids is None:
        rows = conn.execute("SELECT record_id, profile FROM talent.profiles WHERE entity = %s", (entity,)).fetchall()
    else:
        rows = conn.execute(
            "SELECT record_id, profile FROM talent.profiles WHERE entity = %s AND record_id = ANY(%s)",
            (entity, list(ids)),
        ).fetchall()
    return {rid: Profile.model_validate(p) for rid, p in rows}


def normalize(
    conn: psycopg.Connection,
    entity: str,
    ids: Sequence[str],
    llm: LLMProvider,
    to_input: ExtractionInput,
    code_version: str,
    *,
    prompt: Prompt,
    meter: Meter | None = None,
) -> tuple[dict[str, str], list[Usage]]:
    """Extract and store profiles with the owning team's ``prompt``; returns each record's profile data
    version and the calls' usage.

    Every call goes through :class:`~talent_shared.llm.client.MeteredLLM`, one ledger row per record
    (its partition key on the row). Without a ``meter`` (tests, ad-hoc use) the rows are written in
    ``conn``'s own transaction under an ad-hoc run id.
    """
    from talent_shared.llm.client import MeteredLLM
    from talent_shared.llm.meter import Meter

    own_meter = meter is None
    meter = meter or Meter(conn=conn)
    metered = llm if isinstance(llm, MeteredLLM) else MeteredLLM(llm, meter)
    try:
        return _normalize(conn, prompt, entity, ids, metered, to_input, code_version)
    finally:
        if own_meter:
            meter.close()


def _normalize(
    conn: psycopg.Connection,
    prompt: Prompt,
    entity: str,
    ids: Sequence[str],
    llm,
    to_input: ExtractionInput,
    code_version: str,
) -> tuple[dict[str, str], list[Usage]]:
    payloads = load_payloads(conn, entity, ids)
    missing = sorted(set(ids) - set(payloads))
    if missing:
        raise LookupError(f"{len(missing)} {entity} partitions have no stored record (first: {missing[0]})")
    versions: dict[str, str] = {}
    usages: list[Usage] = []
    rows = []
    for record_id in ids:
        text, hints = to_input(payloads[record_id])
        profile, usage = llm.extract_profile(prompt, text, hints, partition=record_id)
        usages.append(usage)
        body = profile.model_dump(mode="json")
        version = hashlib.sha256(profile.model_dump_json().encode()).hexdigest()[:32]
        versions[record_id] = version
        rows.append((entity, record_id, Jsonb(body), version, code_version))
    with conn.cursor() as cur:
        cur.executemany(
            """
            INSERT INTO talent.profiles (entity, record_id, profile, data_version, code_version)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (entity, record_id) DO UPDATE SET profile = EXCLUDED.profile,
                data_version = EXCLUDED.data_version, code_version = EXCLUDED.code_version, updated_at = now()
            """,
            rows,
        )
    return versions, usages
