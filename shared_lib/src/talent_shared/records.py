"""Raw record models: exactly what ``contracts/raw_*.schema.json`` accept.

Strict pydantic models (no coercion: ``"5"`` is not a number, ``1`` is not a string) with unknown
fields kept, as the contracts say. ``format: date-time`` is an annotation in JSON Schema 2020-12,
not an assertion, so ``updated_at`` accepts any string, as the contract does. The contract test in
``tests/`` compares these models with a JSON Schema validator on a corpus of edge cases.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, ValidationError

Entity = Literal["candidate", "job"]
ENTITIES: tuple[Entity, ...] = ("candidate", "job")

RecordId = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
Skill = Annotated[StrictStr, Field(min_length=1, max_length=100)]
Years = Annotated[float, Field(ge=0, le=70, strict=True, allow_inf_nan=False)]


class _Record(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    id: RecordId
    updated_at: StrictStr | None = None

    def canonical_json(self) -> str:
        """Key-sorted JSON of what was received: the input to the content hash."""
        return json.dumps(
            self.model_dump(mode="json", exclude_unset=True), sort_keys=True, ensure_ascii=False, separators=(",", ":")
        )

    def content_hash(self) -> str:
        """The record's data version: equal content, equal hash, whatever the key order or source."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:32]


class RawCandidate(_Record):
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]
    resume_text: Annotated[StrictStr, Field(min_length=1, max_length=100_000)]
    email: Annotated[StrictStr, Field(max_length=320)] | None = None
    headline: Annotated[StrictStr, Field(max_length=300)] | None = None
    location: Annotated[StrictStr, Field(max_length=200)] | None = None
    skills: Annotated[list[Skill], Field(max_length=200)] | None = None
    years_experience: Years | None = None


class RawJob(_Record):
    title: Annotated[StrictStr, Field(min_length=1, max_length=300)]
    description: Annotated[StrictStr, Field(min_length=1, max_length=100_000)]
    company: Annotated[StrictStr, Field(max_length=200)] | None = None
    location: Annotated[StrictStr, Field(max_length=200)] | None = None
    required_skills: Annotated[list[Skill], Field(max_length=200)] | None = None
    nice_to_have_skills: Annotated[list[Skill], Field(max_length=200)] | None = None
    min_years_experience: Years | None = None
    remote: StrictBool | None = None


MODELS: dict[Entity, type[_Record]] = {"candidate": RawCandidate, "job": RawJob}
RawRecord = RawCandidate | RawJob


class RecordRejected(ValueError):
    """A record the contract does not accept; ``reason`` names the field."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _reason(error: ValidationError) -> str:
    parts = []
    for item in error.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in item["loc"]) or "record"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def parse_record(entity: Entity, value: Any) -> RawRecord:
    """Validate one decoded JSON value against the entity's contract.

    JSON ``null`` is not a valid value for an optional field in the contracts (their types are
    not nullable), so explicit nulls are rejected rather than read as "absent".
    """
    if not isinstance(value, dict):
        raise RecordRejected(
            f"record: expected a JSON object, got {type(value).__name__ if value is not None else 'null'}"
        )
    nulls = sorted(k for k, v in value.items() if v is None and k in MODELS[entity].model_fields)
    if nulls:
        raise RecordRejected("; ".join(f"{k}: must not be null" for k in nulls))
    try:
        return MODELS[entity].model_validate(value)  # type: ignore[return-value]
    except ValidationError as exc:
        raise RecordRejected(_reason(exc)) from None
