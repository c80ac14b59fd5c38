"""The three reasons a recruiter reads beside a candidate's top matches, stored with the match.

They end the explanation the cross-join stores for each candidate's first three matches
(``crossjoin._explain``), after the LLM's sentence and the score's parts, so they travel with it
through incremental runs exactly as the explanation does, and cost no LLM call.

A score is a sum of parts times a gate (``score.py``); a recruiter needs to know which of them made
this job rank here, in words: the skills the two share, whether the level fits, and the words of
the job's title that the candidate shares (weighted by their rarity, like the lexical term, so
"journeyman" is named before "technician"), plus how alike the two read overall. Each reason
carries the share of the score it stands for; the three largest are kept, largest first.

Reasons are a function of the pair alone (its score's parts and the two profiles), so an
incremental run stores exactly what a recompute would. Matching may read profiles but not the raw
records, so the words come from the profiles' titles and skills, not from the postings' text.
"""

from __future__ import annotations

from collections.abc import Sequence

from talent_matching.score import LEVELS, UNDER, W_EXPERIENCE, W_LEXICAL, W_SENIORITY, W_SIM, W_SKILLS
from talent_shared import lexical
from talent_shared.providers.base import Profile

REASONS = 3  # reasons kept per match
MARKER = "Reasons: "  # where they start in the stored explanation (talent_platform.cli splits there)


def _unknown(candidate: Profile) -> bool:
    """No years and no level word: the score treats the level as unknown (see ``score.py``)."""
    return candidate.years_experience == 0 and candidate.seniority == "junior"


def _title_words(profile: Profile) -> dict[str, str]:
    """Stem -> the word as written, over the title and the skill names."""
    out: dict[str, str] = {}
    for text in (profile.title, *profile.skills):
        for term, word in lexical._words(text):
            out.setdefault(term, word)
    return out


def _a(level: str) -> str:
    return f"an {level}" if level[0] in "aeiou" else f"a {level}"


def _years(n: float) -> str:
    return f"{n:g} year" + ("" if n == 1 else "s")


def reasons(
    candidate: Profile,
    job: Profile,
    similarity: float,
    overlap: float,
    fit: float,
    lexical_sim: float,
    seniority: float,
) -> list[dict]:
    """Up to ``REASONS`` reasons, largest share of the score first: ``{"kind", "share", "text"}``."""
    gate = 1 - W_SENIORITY * (1 - seniority) - W_EXPERIENCE * (1 - fit)
    relevance = W_SIM * max(similarity, 0) + W_SKILLS * overlap + W_LEXICAL * max(lexical_sim, 0)
    found: list[tuple[float, str, str]] = []

    shared_skills = sorted(set(candidate.skills) & set(job.skills))
    if job.skills:
        listed = ", ".join(shared_skills) if shared_skills else "none"
        text = f"has {len(shared_skills)} of the job's {len(job.skills)} listed skills: {listed}"
    else:
        text = "the job lists no skills the taxonomy knows"
    found.append((W_SKILLS * overlap * gate, "skills", text))

    mine, theirs = _title_words(candidate), _title_words(job)
    shared = sorted(set(mine) & set(theirs), key=lambda t: (-lexical.rarity(theirs[t]), t))
    if shared:
        quoted = ", ".join(f'"{theirs[t]}"' for t in shared[:3])
        text = f"shares the words that set the job apart: {quoted}"
    else:
        match = max(lexical_sim, 0)
        some = "shares words with the posting" if match >= 0.1 else "shares few words with the posting"
        text = f"{some} (word match {match:.2f}), none of its title's"
    found.append((W_LEXICAL * max(lexical_sim, 0) * gate, "words", text))

    found.append((W_SIM * max(similarity, 0) * gate, "meaning", f"reads alike overall (meaning {similarity:.2f})"))

    asked = f", {_years(job.years_experience)} asked" if job.years_experience else ""
    if _unknown(candidate):
        text = f"level not stated: neither raised nor lowered for {_a(job.seniority)} job"
    elif seniority >= 1:
        years = _years(candidate.years_experience)
        text = f"level fits: {candidate.seniority} for {_a(job.seniority)} job ({years}{asked})"
    else:
        side = "over" if LEVELS[candidate.seniority] > LEVELS[job.seniority] else "under"
        text = (
            f"{side}-qualified: {candidate.seniority} for {_a(job.seniority)} job"
            f" ({_years(candidate.years_experience)}{asked}), {100 * (1 - gate):.0f}% off the score"
        )
    # a mismatch: what the gate took; a fit: what one level off would have taken
    found.append((relevance * (1 - gate if seniority < 1 else W_SENIORITY * UNDER), "level", text))

    found.sort(key=lambda r: (-r[0], r[1]))
    return [{"kind": kind, "share": round(share, 4), "text": text} for share, kind, text in found[:REASONS]]


def text(candidate: Profile, job: Profile, entry: Sequence[float]) -> str:
    """The reasons as the explanation's last sentence: `` Reasons: first; second; third.`` (no
    reason's text holds "; ", so ``talent matches --explain`` splits them back)."""
    _, similarity, overlap, fit, lexical_sim, seniority = entry
    found = reasons(candidate, job, similarity, overlap, fit, lexical_sim, seniority)
    return f" {MARKER}{'; '.join(r['text'] for r in found)}." if found else ""
