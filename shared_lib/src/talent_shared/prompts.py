"""Prompts as files owned by the team whose asset sends them.

A location keeps its prompt as a text file beside its pipeline declaration and gives it a version.
The version the code sees is that declared version plus a hash of the file and the taxonomy
version, so an edit that forgets to bump the declared version still changes the asset's code
version (and only that asset's): a prompt edit is a code change, never silent.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from talent_shared.taxonomy import TAXONOMY_VERSION


@dataclass(frozen=True)
class Prompt:
    """A system prompt and the version that goes into code versions and cache keys.

    ``template`` may name ``{skills}``: the taxonomy's canonical skill names, so a prompt can ask
    for the shared vocabulary without copying it.
    """

    template: str
    version: str

    @classmethod
    def from_file(cls, path: Path, declared_version: str) -> Prompt:
        try:
            template = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise FileNotFoundError(f"prompt file {path} cannot be read: {exc}") from exc
        if not template:
            raise ValueError(f"prompt file {path} is empty")
        return cls.of(template, declared_version)

    @classmethod
    def of(cls, template: str, declared_version: str) -> Prompt:
        digest = hashlib.sha256(template.encode()).hexdigest()[:8]
        return cls(template, f"{declared_version}+{digest}+taxonomy-{TAXONOMY_VERSION}")

    @property
    def text(self) -> str:
        if "{skills}" not in self.template:
            return self.template
        from talent_shared.taxonomy import SKILLS

        return self.template.replace("{skills}", ", ".join(SKILLS))


# The prompt an LLM asset sends travels with its definition, as definition metadata: the cost
# estimate counts the tokens of the prompt about to be deployed by reading the definitions it
# loads (and the UI shows each asset's prompt and version).
PROMPT_METADATA = "talent/prompt"
PROMPT_VERSION_METADATA = "talent/prompt_version"


def prompt_metadata(prompt: Prompt) -> dict[str, str]:
    return {PROMPT_METADATA: prompt.template, PROMPT_VERSION_METADATA: prompt.version}


def prompt_from_metadata(metadata: Mapping[str, object]) -> Prompt | None:
    """The prompt :func:`prompt_metadata` put on a definition, or ``None`` for an asset without one."""
    template, version = (
        metadata_text(metadata.get(PROMPT_METADATA)),
        metadata_text(metadata.get(PROMPT_VERSION_METADATA)),
    )
    if template is None or version is None:
        return None
    return Prompt(template, version)


def metadata_text(value: object) -> str | None:
    """A definition metadata value as text: Dagster wraps what it was given in a ``MetadataValue``."""
    value = getattr(value, "value", value)
    return None if value is None else str(value)
