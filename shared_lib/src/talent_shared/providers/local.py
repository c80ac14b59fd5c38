"""Deterministic local providers: no key, no network, same interface as OpenAI.

The extractor reads skills with the taxonomy, years and seniority with a few patterns; the
embedder hashes words and skills into a fixed number of dimensions (signed feature hashing), so
profiles that share title words and skills land close together. Token counts come from the
offline encodings and are priced at zero, so the ledger shows what OpenAI would have been sent.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from talent_shared.llm.encodings import count_tokens
from talent_shared.providers.base import Profile, Seniority, Usage, explanation_messages, extraction_messages
from talent_shared.taxonomy import TAXONOMY_VERSION, canonical_skill, skills_in_text

if TYPE_CHECKING:  # numpy is imported where vectors are made, not when definitions load
    import numpy as np

    from talent_shared.prompts import Prompt

_YEARS = re.compile(r"(\d{1,2}(?:\.\d)?)\s*\+?\s*(?:years?|yrs?)\b", re.IGNORECASE)
_LEVEL_ORDER: tuple[Seniority, ...] = ("intern", "junior", "mid", "senior", "lead", "principal")
_SENIORITY_FILE = Path(__file__).resolve().parent.parent / "data" / "seniority.tsv"


@lru_cache(maxsize=1)
def _seniority_words() -> list[tuple[str, re.Pattern[str]]]:
    """(level, whole-word pattern) in the data file's order: every trade's words for its levels
    (apprentice, journeyman, foreman, sous chef, charge nurse), kept as data so that widening them
    to another trade is an edit of that file."""
    rules = []
    for line in _SENIORITY_FILE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            level, phrase = line.split("\t")
            rules.append((level.strip(), re.compile(rf"(?<![\w-]){re.escape(phrase.strip())}\.?(?![\w-])", re.I)))
    return rules


_WORD = re.compile(r"[a-z][a-z+#.]*[a-z+#]|[a-z]")
_STOP_WORDS = (
    "a an and the of to in for with on at by as is are be we you our your their this that from or "
    "who will have has years year experience looking seeking role team work"
)
_STOP = frozenset(_STOP_WORDS.split())
# A full stop that does not end a sentence: after a dotted abbreviation (M.A., B.Sc., Ph.D., U.S.) or
# a short form of a word that goes before a name or a title (Sr. Welder, Dr. Alvarez, St. Luke's).
_ABBREVIATION = re.compile(
    r"(?:\b[a-z]{1,3}(?:\.[a-z]{1,3})+|\b(?:sr|jr|dr|mr|mrs|ms|prof|st|mt|approx|vs|inc|ltd|corp|dept))$", re.I
)
_FULL_STOP = re.compile(r"\.(?=\s|$)|(?<=[a-z]{2})\.(?=[A-Z][a-z])")  # "exam.Then" too: a missing space


def messages_tokens(messages: list[dict[str, str]], model: str = "gpt-4o") -> int:
    """Prompt tokens of chat messages as OpenAI bills them: content plus ~3 per message and 3 to prime
    the reply (OpenAI cookbook, "How to count tokens with tiktoken")."""
    return sum(count_tokens(m["content"], model) + 3 for m in messages) + 3


def _seniority(title: str, years: float, text: str = "") -> Seniority:
    by_years: Seniority = "senior" if years >= 8 else "mid" if years >= 3 else "junior"
    for level, pattern in _seniority_words():
        if level == "entry":
            continue
        if pattern.search(title):
            if level.startswith("floor-"):
                floor = _LEVEL_ORDER.index(level.removeprefix("floor-"))  # type: ignore[arg-type]
                return _LEVEL_ORDER[max(floor, _LEVEL_ORDER.index(by_years))]
            return level  # type: ignore[return-value]
    if years == 0 and any(p.search(text) for level, p in _seniority_words() if level == "entry"):
        return "intern"  # says it is starting out: the lowest level, not the "unknown" of no evidence
    return by_years


def first_sentence(text: str) -> str:
    """The text up to its first full stop, on its first line: the title of a record without one.
    A stop inside a number (3.5) or a name (Node.js) or after an abbreviation does not end it, so
    "M.A. in museum studies" is not the title "M"."""
    line = text.split("\n", 1)[0]
    for stop in _FULL_STOP.finditer(line):
        if not _ABBREVIATION.search(line, 0, stop.start()):
            return line[: stop.start()]
    return line


def _years(explicit: float | None, text: str) -> float:
    if explicit is not None:
        return float(explicit)
    found = [float(m.group(1)) for m in _YEARS.finditer(text)]
    return min(max(found), 70.0) if found else 0.0


class LocalLLM:
    """Rule-based profile extraction and template explanations."""

    name = "local"
    model = "rules-v1"
    # 4: a title's sentence ends at a full stop only (not inside M.A., Sr., 3.5); 3: a trainee word
    # wins, foreman senior; 2: seniority words from data/seniority.tsv
    prompt_version = f"rules-4+taxonomy-{TAXONOMY_VERSION}"

    def extract_profile(self, prompt: Prompt, text: str, hints: dict) -> tuple[Profile, Usage]:
        listed = {s for s in (canonical_skill(x) for x in hints.get("skills", [])) if s}
        skills = sorted(listed | skills_in_text(text))
        title = (hints.get("title") or first_sentence(text))[:120].strip() or "unknown"
        years = _years(hints.get("years"), text)
        remote = bool(hints.get("remote")) or bool(re.search(r"\bremote\b", text, re.IGNORECASE))
        profile = Profile(
            title=title,
            skills=skills,
            seniority=_seniority(title, years, text),
            years_experience=years,
            location=hints.get("location"),
            remote=remote,
        )
        usage = Usage(
            self.name,
            self.model,
            "chat",
            messages_tokens(extraction_messages(prompt, text)),
            count_tokens(profile.model_dump_json(), "gpt-4o"),
        )
        return profile, usage

    def explain_match(
        self, prompt: Prompt, candidate: Profile, job: Profile, overlap: Sequence[str]
    ) -> tuple[str, Usage]:
        if overlap:
            shown = ", ".join(list(overlap)[:5])
            text = f"Shares {len(overlap)} of the role's skills ({shown}); {candidate.years_experience:g} years against {job.years_experience:g} asked."
        else:
            text = f"Similar profile to '{job.title}' but no listed skill in common."
        return text, Usage(
            self.name,
            self.model,
            "chat",
            messages_tokens(explanation_messages(prompt, candidate, job)),
            count_tokens(text, "gpt-4o"),
        )


class LocalEmbedder:
    """Signed feature hashing of title words, body words and skills, L2-normalised."""

    name = "local"
    model = "hashing-v1"

    def __init__(self, dim: int):
        self.dim = dim

    def _index(self, token: str) -> tuple[int, float]:
        digest = hashlib.blake2b(token.encode(), digest_size=8).digest()
        value = int.from_bytes(digest, "little")
        return value % self.dim, 1.0 if (value >> 63) & 1 else -1.0

    def _vector(self, text: str) -> np.ndarray:
        import numpy as np

        vec = np.zeros(self.dim, dtype=np.float32)
        head, _, rest = text.partition(". ")
        skills = text.partition("skills:")[2]
        for weight, part, prefix in ((1.5, head, "t:"), (0.5, rest, "w:")):
            for word in _WORD.findall(part.lower()):
                if word not in _STOP:
                    i, sign = self._index(prefix + word)
                    vec[i] += sign * weight
        for skill in (s.strip(" .") for s in skills.split(",")):
            if skill:
                i, sign = self._index("s:" + skill)
                vec[i] += sign * 2.0
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, Usage]:
        import numpy as np

        matrix = np.vstack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dim), np.float32)
        tokens = sum(count_tokens(t, "text-embedding-3-small") for t in texts)
        return matrix, Usage(self.name, self.model, "embeddings", tokens)
