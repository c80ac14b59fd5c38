"""How a job record reads: the text the extractor sees and the hints its fields give."""

from __future__ import annotations


def job_input(payload: dict) -> tuple[str, dict]:
    text = "\n".join(p for p in (payload["title"], payload["description"]) if p)
    hints = {
        "title": payload["title"],
        "skills": [*payload.get("required_skills", []), *payload.get("nice_to_have_skills", [])],
        "years": payload.get("min_years_experience"),
        "location": payload.get("location"),
        "remote": payload.get("remote", False),
    }
    return text, hints
