"""What a provider must do, and the structured profile both providers produce.

The profile schema is the one the OpenAI extractor asks for with structured outputs and the one
the rule-based extractor fills, so matching never needs to know which provider ran.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Protocol

from pydantic import BaseModel, Field

from talent_shared.taxonomy import TAXONOMY_VERSION, canonical_skill

if TYPE_CHECKING:  # numpy costs a noticeable share of a definitions import, which probes wait on
    import numpy as np

    from talent_shared.prompts import Prompt

# What the OpenAI provider itself does to an answer (structured output parsed into Profile, skills
# mapped onto the taxonomy). The prompts are the locations' own (talent_shared.prompts).
# 2: the record's own fields (listed skills, stated years, remote, location) join the answer.
OPENAI_PROVIDER_VERSION = f"structured-2+taxonomy-{TAXONOMY_VERSION}"

Seniority = Literal["intern", "junior", "mid", "senior", "lead", "principal"]


class Profile(BaseModel):
    """A normalized candidate or job: the input to embedding and to the hybrid score."""

    title: str = Field(description="Job title, or the candidate's current or target title.")
    skills: list[str] = Field(description="Canonical skills from the taxonomy, sorted.")
    seniority: Seniority
    years_experience: float = Field(ge=0, le=70, description="Candidate's years, or the job's minimum.")
    location: str | None = None
    remote: bool = False

    def embedding_text(self) -> str:
        """The text both embedders see: title and skills dominate, as they do for a recruiter."""
        skills = ", ".join(self.skills)
        remote = " remote" if self.remote else ""
        return f"{self.title}. {self.seniority}{remote}. skills: {skills}."


@dataclass(frozen=True)
class Usage:
    """Token counts of one call, as the provider reported them (or counted offline locally)."""

    provider: str
    model: str
    operation: Literal["chat", "embeddings"]
    input_tokens: int
    output_tokens: int = 0
    cached_tokens: int = 0


class BilledCallError(RuntimeError):
    """The provider answered (and billed ``usage``) but the answer is unusable: a refusal, a truncated
    or invalid structured output. The metered client records the call as ``billed_error``."""

    def __init__(self, message: str, usage: Usage):
        super().__init__(message)
        self.usage = usage


class LLMProvider(Protocol):
    name: str
    model: str
    prompt_version: str

    def extract_profile(self, prompt: Prompt, text: str, hints: dict) -> tuple[Profile, Usage]: ...

    def explain_match(
        self, prompt: Prompt, candidate: Profile, job: Profile, overlap: Sequence[str]
    ) -> tuple[str, Usage]: ...


class EmbeddingProvider(Protocol):
    name: str
    model: str
    dim: int

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, Usage]: ...


def extraction_messages(prompt: Prompt, text: str) -> list[dict[str, str]]:
    """The chat messages an extraction sends (the OpenAI provider sends them; the local one counts them)."""
    return [{"role": "system", "content": prompt.text}, {"role": "user", "content": text}]


def explanation_messages(prompt: Prompt, candidate: Profile, job: Profile) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": prompt.text},
        {"role": "user", "content": f"Candidate: {candidate.model_dump_json()}\nJob: {job.model_dump_json()}"},
    ]


def with_record_fields(profile: Profile, hints: dict) -> Profile:
    """An extracted profile with what the record's own fields state: its listed skills join the
    extracted ones, a stated years value and location win, and remote holds if either says so.

    The model reads only the record's text; the fields are what the source system knows for sure
    (a posting's ``min_years_experience``, a candidate's ``skills``), and the local extractor has
    always used them. Without this, a field the text does not repeat never reached the score."""
    listed = {s for s in (canonical_skill(x) for x in hints.get("skills") or []) if s}
    extracted = {s for s in (canonical_skill(x) for x in profile.skills) if s}
    update: dict = {"skills": sorted(extracted | listed), "remote": profile.remote or bool(hints.get("remote"))}
    if hints.get("years") is not None:
        update["years_experience"] = min(max(float(hints["years"]), 0.0), 70.0)
    if hints.get("location"):
        update["location"] = hints["location"]
    return profile.model_copy(update=update)
