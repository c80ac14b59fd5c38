"""Normalization: raw records to structured profiles, one record at a time, through the metered LLM client."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg
from psycopg.types.json import Jsonb

from talent_shared.lineage import Outcome
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


@dataclass
class Processed:
    """What a stage did to the records it was given: each one's outcome, in order, and the usage."""

    outcomes: list[Outcome] = field(default_factory=list)
    usages: list[Usage] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def versions(self) -> dict[str, str]:
        return {o.record_id: o.output_version for o in self.outcomes if o.error is None and o.output_version}

    @property
    def failed(self) -> dict[str, str]:
        return {o.record_id: o.error for o in self.outcomes if o.error is not None}


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
    attempts: dict[str, int] | None = None,
    max_attempts: int | None = None,
) -> Processed:
    """Extract and store profiles with the owning team's ``prompt``, one record at a time: a record
    whose call fails is recorded as failed (quarantined after ``max_attempts``) and the others go on.
    Each record's result goes to the lineage (``talent_shared.lineage``) in ``conn``'s transaction.

    Every call goes through :class:`~talent_shared.llm.client.MeteredLLM`, one ledger row per record
    (the record id on the row). Without a ``meter`` (tests, ad-hoc use) the rows are written in
    ``conn``'s own transaction under an ad-hoc run id. The day's budget running out
    (:class:`~talent_shared.llm.meter.BudgetExceeded`) is not the record's fault: what was done is
    kept and the error is raised, leaving the rest pending.
    """
    from talent_shared.llm.client import MeteredLLM
    from talent_shared.llm.meter import Meter

    own_meter = meter is None
    meter = meter or Meter(conn=conn)
    metered = llm if isinstance(llm, MeteredLLM) else MeteredLLM(llm, meter)
    try:
        return _normalize(conn, prompt, entity, ids, metered, to_input, code_version, meter, attempts, max_attempts)
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
    meter: Meter,
    attempts: dict[str, int] | None,
    max_attempts: int | None,
) -> Processed:
    from talent_shared import lineage
    from talent_shared.llm.meter import BudgetExceeded
    from talent_shared.settings import get_settings

    payloads = load_payloads(conn, entity, ids)
    hashes: dict[str, str] = dict(
        conn.execute(
            "SELECT record_id, content_hash FROM talent.raw_records WHERE entity = %s AND record_id = ANY(%s)",
            (entity, list(ids)),
        ).fetchall()
    )
    done = Processed()
    rows = []
    stopped: BaseException | None = None
    for record_id in ids:
        outcome = lineage.Outcome(record_id, hashes.get(record_id))
        done.outcomes.append(outcome)
        if record_id not in payloads:
            outcome.error = "no stored record"
            continue
        before = (meter.totals.cost_usd, meter.totals.input_tokens, meter.totals.output_tokens)
        try:
            text, hints = to_input(payloads[record_id])
            profile, usage = llm.extract_profile(prompt, text, hints, partition=record_id)
        except BudgetExceeded as exc:
            done.outcomes.pop()  # not attempted: it stays pending
            stopped = exc
            break
        except Exception as exc:  # this record's failure, not its neighbours'
            outcome.error = f"{type(exc).__name__}: {exc}"
            _spent(outcome, meter, before)
            continue
        _spent(outcome, meter, before)
        done.usages.append(usage)
        body = profile.model_dump(mode="json")
        outcome.output_version = hashlib.sha256(profile.model_dump_json().encode()).hexdigest()[:32]
        rows.append((entity, record_id, Jsonb(body), outcome.output_version, code_version))
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
    done.counts = lineage.record_outcomes(
        conn,
        entity,
        "normalized",
        done.outcomes,
        code_version=code_version,
        run_id=meter.context.run_id,
        attempts=attempts or {},
        max_attempts=max_attempts or get_settings().max_attempts,
    )
    if stopped is not None:
        conn.commit()  # what was done is kept
        raise stopped
    return done


def _spent(outcome, meter: Meter, before: tuple) -> None:
    """What the meter counted since ``before``: this record's tokens and cost."""
    outcome.cost_usd = meter.totals.cost_usd - before[0]
    outcome.input_tokens = meter.totals.input_tokens - before[1]
    outcome.output_tokens = meter.totals.output_tokens - before[2]
