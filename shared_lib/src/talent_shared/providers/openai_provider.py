"""OpenAI providers: structured-output extraction and ``text-embedding-3-*`` embeddings.

The client is the official ``openai`` one; tests give it an ``httpx`` transport with recorded
payloads rather than replacing the class. Skills the model returns are mapped onto the taxonomy
so its profiles speak the same vocabulary as the local extractor's.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import openai

from talent_shared.providers.base import OPENAI_PROMPT_VERSION, Profile, Usage
from talent_shared.taxonomy import SKILLS, canonical_skill

PROMPT_VERSION = OPENAI_PROMPT_VERSION

SYSTEM_PROMPT = (
    "You turn a {entity} record into a structured profile for job matching. "
    "Use only these canonical skill names: {skills}. "
    "years_experience is the candidate's total years, or the job's minimum years. "
    "seniority is one of intern, junior, mid, senior, lead, principal."
)


def _usage(model: str, operation: str, usage: object | None) -> Usage:
    if usage is None:
        return Usage("openai", model, operation, 0)  # type: ignore[arg-type]
    details = getattr(usage, "prompt_tokens_details", None)
    cached = int(getattr(details, "cached_tokens", 0) or 0) if details else 0
    return Usage(
        "openai",
        model,
        operation,  # type: ignore[arg-type]
        input_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        output_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cached_tokens=cached,
    )


class OpenAILLM:
    name = "openai"
    prompt_version = PROMPT_VERSION

    def __init__(self, client: openai.OpenAI, model: str):
        self.client = client
        self.model = model

    def extract_profile(self, entity: str, text: str, hints: dict) -> tuple[Profile, Usage]:
        response = self.client.chat.completions.parse(
            model=self.model,
            messages=[
                {"role": "system", "content": SYSTEM_PROMPT.format(entity=entity, skills=", ".join(SKILLS))},
                {"role": "user", "content": text},
            ],
            response_format=Profile,
            temperature=0,
        )
        parsed = response.choices[0].message.parsed
        if parsed is None:
            raise ValueError(f"the model refused or returned no profile: {response.choices[0].message.refusal!r}")
        skills = sorted({s for s in (canonical_skill(x) for x in parsed.skills) if s})
        profile = parsed.model_copy(update={"skills": skills, "location": parsed.location or hints.get("location")})
        return profile, _usage(response.model, "chat", response.usage)

    def explain_match(self, candidate: Profile, job: Profile, overlap: Sequence[str]) -> tuple[str, Usage]:
        response = self.client.chat.completions.create(
            model=self.model,
            messages=[
                {"role": "system", "content": "In one sentence, tell a recruiter why this candidate fits this job."},
                {"role": "user", "content": f"Candidate: {candidate.model_dump_json()}\nJob: {job.model_dump_json()}"},
            ],
            max_tokens=80,
            temperature=0,
        )
        return (response.choices[0].message.content or "").strip(), _usage(response.model, "chat", response.usage)


class OpenAIEmbedder:
    name = "openai"

    def __init__(self, client: openai.OpenAI, model: str, dim: int):
        self.client = client
        self.model = model
        self.dim = dim

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, Usage]:
        if not texts:
            return np.zeros((0, self.dim), np.float32), Usage("openai", self.model, "embeddings", 0)
        response = self.client.embeddings.create(model=self.model, input=list(texts), dimensions=self.dim)
        rows = sorted(response.data, key=lambda d: d.index)
        matrix = np.asarray([r.embedding for r in rows], dtype=np.float32)
        return matrix, _usage(response.model, "embeddings", response.usage)
