"""The skills taxonomy: canonical skill names and the phrases that mean them.

Shared by the rule-based extractor (which finds these phrases in text) and the OpenAI extractor
(whose structured output is mapped back onto these names), so both produce the same vocabulary and
skill overlap can be compared across providers. Extend it here; ``TAXONOMY_VERSION`` feeds the
code versions of the assets that depend on it.
"""

from __future__ import annotations

import re
from functools import lru_cache

TAXONOMY_VERSION = "1"

# canonical name -> aliases (lower case). The canonical name itself always matches.
SKILLS: dict[str, tuple[str, ...]] = {
    # software and data
    "python": ("python3", "py"),
    "java": (),
    "javascript": ("js", "ecmascript"),
    "typescript": ("ts",),
    "go": ("golang",),
    "rust": (),
    "c++": ("cpp",),
    "sql": ("postgresql", "postgres", "mysql", "t-sql"),
    "react": ("react.js", "reactjs"),
    "node.js": ("nodejs", "node"),
    "kubernetes": ("k8s",),
    "docker": ("containers",),
    "aws": ("amazon web services",),
    "terraform": (),
    "ci/cd": ("continuous integration", "continuous delivery"),
    "machine learning": ("ml", "deep learning"),
    "data analysis": ("data analytics", "analytics"),
    "statistics": ("statistical modeling",),
    "etl": ("data pipelines", "data engineering"),
    "linux": (),
    "api design": ("rest apis", "rest api", "graphql"),
    "system design": ("distributed systems",),
    # healthcare
    "patient care": ("bedside care", "patient assessment"),
    "medication administration": ("administering medication", "medication management"),
    "iv therapy": ("iv insertion", "intravenous therapy"),
    "bls": ("basic life support", "cpr"),
    "acls": ("advanced cardiac life support",),
    "electronic health records": ("ehr", "epic", "emr"),
    "wound care": (),
    "triage": (),
    "critical care": ("icu", "intensive care"),
    "pediatrics": ("paediatrics", "pediatric"),
    # finance and accounting
    "gaap": ("us gaap",),
    "ifrs": (),
    "financial reporting": ("financial statements",),
    "reconciliation": ("account reconciliation", "bank reconciliation", "reconciliations"),
    "accounts payable": ("ap",),
    "accounts receivable": ("ar",),
    "tax preparation": ("tax returns", "taxation", "tax"),
    "auditing": ("audit", "audits", "internal audit"),
    "excel": ("microsoft excel", "spreadsheets"),
    "budgeting": ("forecasting", "financial planning"),
    "payroll": (),
    "bookkeeping": ("general ledger",),
    # sales and marketing
    "crm": ("salesforce", "hubspot"),
    "lead generation": ("prospecting", "cold calling"),
    "negotiation": ("negotiating",),
    "account management": ("client relationships", "key accounts"),
    "b2b sales": ("enterprise sales", "saas sales"),
    "pipeline management": ("sales pipeline",),
    "digital marketing": ("seo", "sem", "social media marketing"),
    "content writing": ("copywriting",),
    # education
    "lesson planning": ("lesson plans",),
    "classroom management": (),
    "curriculum development": ("curriculum design",),
    "student assessment": ("grading", "assessments"),
    "special education": ("sen", "iep"),
    "mathematics": ("math", "maths", "algebra"),
    "literacy": ("reading instruction", "phonics"),
    "science education": ("science teaching",),
    # culinary and hospitality
    "food safety": ("haccp", "servsafe", "food hygiene"),
    "menu planning": ("menu development",),
    "knife skills": (),
    "pastry": ("baking", "patisserie"),
    "line cooking": ("line cook", "grill", "saute"),
    "kitchen management": ("kitchen operations", "inventory control"),
    "customer service": ("guest service", "hospitality"),
    # trades and logistics
    "electrical wiring": ("wiring", "electrical installation"),
    "forklift operation": ("forklift",),
    "inventory management": ("stock control", "warehouse management"),
    "logistics": ("supply chain", "shipping"),
    "project management": ("pmp", "agile", "scrum"),
    "team leadership": ("people management", "leadership", "mentoring"),
    "communication": ("presentation skills", "public speaking"),
    "graphic design": ("figma", "adobe photoshop", "illustrator"),
    "ux design": ("user research", "wireframing", "prototyping"),
    "recruiting": ("talent acquisition", "sourcing"),
    "employment law": ("labor law",),
    "contract law": ("contracts", "legal drafting"),
}

_SHORT_ALIASES_NEED_CASE = {"ap", "ar", "ts", "py", "sen", "ml", "go", "node", "tax", "ehr", "emr"}


@lru_cache(maxsize=1)
def _alias_index() -> dict[str, str]:
    index: dict[str, str] = {}
    for canonical, aliases in SKILLS.items():
        index[canonical] = canonical
        for alias in aliases:
            index[alias] = canonical
    return index


@lru_cache(maxsize=1)
def _pattern() -> re.Pattern[str]:
    phrases = sorted(_alias_index(), key=len, reverse=True)
    return re.compile(r"(?<![\w+#.])(" + "|".join(re.escape(p) for p in phrases) + r")(?![\w+#])", re.IGNORECASE)


def canonical_skill(name: str) -> str | None:
    """The canonical name of a listed skill, or None when the taxonomy does not know it."""
    return _alias_index().get(name.strip().lower())


def skills_in_text(text: str) -> set[str]:
    """Canonical skills mentioned in free text.

    Very short aliases ("AP", "Go", "ML") only count when written in capitals or as listed in a
    skills field, so that "go to the store" does not make a Go developer.
    """
    found: set[str] = set()
    for match in _pattern().finditer(text):
        phrase = match.group(1)
        lowered = phrase.lower()
        if lowered in _SHORT_ALIASES_NEED_CASE and not (phrase.isupper() or (phrase[0].isupper() and lowered == "go")):
            continue
        found.add(_alias_index()[lowered])
    return found
