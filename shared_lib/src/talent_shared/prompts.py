"""Prompts as files owned by the team whose asset sends them.

A location keeps its prompt as a text file beside its pipeline declaration and gives it a version.
The version the code sees is that declared version plus a hash of the file and the taxonomy
version, so an edit that forgets to bump the declared version still changes the asset's code
version (and only that asset's): a prompt edit is a code change, never silent.
"""

from __future__ import annotations

import hashlib
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


# The prompt each LLM asset sends, registered by the definitions that own the asset when they load:
# the cost estimate counts the tokens of the prompt that is about to be deployed.
BY_ASSET: dict[str, Prompt] = {}


def register(asset_key: str, prompt: Prompt) -> Prompt:
    BY_ASSET[asset_key] = prompt
    return prompt
