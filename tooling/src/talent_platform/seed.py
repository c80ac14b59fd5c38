"""Synthetic candidates and jobs in the contract, deterministic for a seed (demos and benchmarks).

Records are drawn from a handful of professions, each with its titles and skills, so that a
candidate has jobs that really fit it and others that do not; names and emails are invented.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# how many records between two calls of a progress callback
CHUNK = 1000


@dataclass(frozen=True)
class Profession:
    key: str
    titles: tuple[str, ...]
    skills: tuple[str, ...]
    duties: tuple[str, ...]


PROFESSIONS: tuple[Profession, ...] = (
    Profession(
        "software",
        ("Backend Engineer", "Software Engineer", "Platform Engineer", "Python Developer"),
        ("Python", "SQL", "Kubernetes", "Docker", "AWS", "Go", "Terraform", "CI/CD", "REST APIs", "Linux"),
        ("built and ran services", "designed data pipelines", "automated deployments", "owned on-call"),
    ),
    Profession(
        "frontend",
        ("Frontend Engineer", "React Developer", "UI Engineer"),
        ("JavaScript", "TypeScript", "React", "Node.js", "Figma", "GraphQL"),
        ("shipped accessible interfaces", "built a design system", "improved page performance"),
    ),
    Profession(
        "data",
        ("Data Scientist", "Data Analyst", "Machine Learning Engineer"),
        ("Python", "SQL", "Machine Learning", "Statistics", "Data Analysis", "ETL", "Excel"),
        ("trained forecasting models", "built dashboards", "ran A/B tests"),
    ),
    Profession(
        "nursing",
        ("Registered Nurse", "ICU Nurse", "Pediatric Nurse", "Charge Nurse"),
        ("Patient Care", "Medication Administration", "IV Therapy", "BLS", "ACLS", "EHR", "Wound Care", "Triage"),
        ("cared for patients on a busy ward", "administered medication", "coordinated with physicians"),
    ),
    Profession(
        "accounting",
        ("Staff Accountant", "Senior Accountant", "Bookkeeper", "Financial Analyst"),
        (
            "GAAP",
            "Reconciliation",
            "Accounts Payable",
            "Accounts Receivable",
            "Excel",
            "Tax Preparation",
            "Auditing",
            "Payroll",
        ),
        ("closed the books monthly", "prepared financial statements", "supported the annual audit"),
    ),
    Profession(
        "sales",
        ("Account Executive", "Sales Representative", "Business Development Manager"),
        (
            "CRM",
            "Salesforce",
            "Lead Generation",
            "Negotiation",
            "Account Management",
            "B2B Sales",
            "Pipeline Management",
        ),
        ("exceeded quota", "built a pipeline from cold outreach", "managed key accounts"),
    ),
    Profession(
        "teaching",
        ("Primary School Teacher", "Math Teacher", "Special Education Teacher", "Science Teacher"),
        (
            "Lesson Planning",
            "Classroom Management",
            "Curriculum Development",
            "Student Assessment",
            "Special Education",
            "Mathematics",
            "Literacy",
        ),
        ("taught mixed-ability classes", "designed a new curriculum", "mentored new teachers"),
    ),
    Profession(
        "culinary",
        ("Line Cook", "Sous Chef", "Pastry Chef", "Head Chef"),
        ("Food Safety", "Menu Planning", "Knife Skills", "Pastry", "Line Cooking", "Kitchen Management"),
        ("ran the grill station", "designed seasonal menus", "kept HACCP records"),
    ),
    Profession(
        "logistics",
        ("Warehouse Associate", "Logistics Coordinator", "Supply Chain Analyst"),
        ("Forklift", "Inventory Management", "Logistics", "Excel", "Project Management"),
        ("managed inbound shipments", "cut picking errors", "planned delivery routes"),
    ),
)

FIRST = (
    "Ana",
    "Ben",
    "Chen",
    "Dara",
    "Eli",
    "Fatima",
    "Gus",
    "Hana",
    "Ivan",
    "Jade",
    "Kofi",
    "Lena",
    "Mo",
    "Nia",
    "Omar",
    "Priya",
)
LAST = ("Silva", "Okafor", "Novak", "Kim", "Larsen", "Haddad", "Moreau", "Tanaka", "Reyes", "Byrne", "Costa", "Ivanova")
CITIES = ("Lisbon", "Berlin", "Austin", "Toronto", "Manchester", "Dublin", "Remote")
SENIOR = (("Junior", 1, 2), ("", 3, 6), ("Senior", 7, 15))


def _candidate(rng: random.Random, n: int, seed: int) -> dict:
    prof = rng.choice(PROFESSIONS)
    level, lo, hi = rng.choice(SENIOR)
    years = rng.randint(lo, hi)
    title = f"{level} {rng.choice(prof.titles)}".strip()
    skills = rng.sample(prof.skills, k=min(len(prof.skills), rng.randint(3, 6)))
    first, last = rng.choice(FIRST), rng.choice(LAST)
    duties = "; ".join(rng.sample(prof.duties, k=min(2, len(prof.duties))))
    return {
        "id": f"c-{seed}-{n:06d}",
        "name": f"{first} {last}",
        "email": f"{first}.{last}.{n}@example.com".lower(),
        "headline": title,
        "location": rng.choice(CITIES),
        "resume_text": f"{title} with {years} years of experience. I {duties}. Skilled in {', '.join(skills)}.",
        "skills": skills,
        "years_experience": years,
    }


def _job(rng: random.Random, n: int, seed: int) -> dict:
    prof = rng.choice(PROFESSIONS)
    level, lo, _ = rng.choice(SENIOR)
    title = f"{level} {rng.choice(prof.titles)}".strip()
    required = rng.sample(prof.skills, k=min(len(prof.skills), rng.randint(2, 4)))
    nice = [s for s in prof.skills if s not in required][:2]
    city = rng.choice(CITIES)
    return {
        "id": f"j-{seed}-{n:06d}",
        "title": title,
        "company": f"{rng.choice(LAST)} {rng.choice(('Health', 'Labs', 'Foods', 'Logistics', 'Partners', 'Schools'))}",
        "location": city,
        "description": f"We are hiring a {title}. You will {rng.choice(prof.duties)}. Must know {', '.join(required)}.",
        "required_skills": required,
        "nice_to_have_skills": nice,
        "min_years_experience": lo,
        "remote": city == "Remote",
    }


def generate(
    candidates: int, jobs: int, seed: int = 0, *, advance: Callable[[int], None] | None = None
) -> tuple[list[dict], list[dict]]:
    """``advance(n)`` is told every ``CHUNK`` records made (``talent seed`` shows it)."""
    rng = random.Random(seed)
    made: tuple[list[dict], list[dict]] = ([], [])
    for out, make, count in ((made[0], _candidate, candidates), (made[1], _job, jobs)):
        for i in range(count):
            out.append(make(rng, i, seed))
            if advance is not None and (i + 1) % CHUNK == 0:
                advance(CHUNK)
        if advance is not None and count % CHUNK:
            advance(count % CHUNK)
    return made


def write(
    out: Path,
    candidates: list[dict],
    jobs: list[dict],
    *,
    per_file: int = 250,
    prefix: str = "seed",
    advance: Callable[[int], None] | None = None,
) -> list[Path]:
    """``advance(n)`` is told the records of each file written."""
    written = []
    for folder, records in (("candidates", candidates), ("jobs", jobs)):
        target = out / folder
        target.mkdir(parents=True, exist_ok=True)
        for start in range(0, len(records), per_file):
            path = target / f"{prefix}-{start // per_file:04d}.jsonl"
            chunk = records[start : start + per_file]
            path.write_text("".join(json.dumps(r) + "\n" for r in chunk))
            written.append(path)
            if advance is not None:
                advance(len(chunk))
    return written
