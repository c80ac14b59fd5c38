"""How a candidate record reads: the text the extractor sees and the hints its fields give."""

from __future__ import annotations


def candidate_input(payload: dict) -> tuple[str, dict]:
    text = "\n".join(p for p in (payload.get("headline"), payload["resume_text"]) if p)
    hints = {
        "title": payload.get("headline"),
        "skills": payload.get("skills", []),
        "years": payload.get("years_experience"),
        "location": payload.get("location"),
    }
    return text, hints
