"""The lexical signal: a record's own words as a fixed-size, L2-normalised hashed term vector.

Matching fuses it with the dense embedding (``talent_matching.score``). It needs no corpus
statistics on purpose: BM25's IDF changes whenever a record arrives, so a pair scored today would
score differently tomorrow and the incremental cross-join would no longer equal a recompute from
scratch. Instead the weights are fixed: sublinear term frequency (``1 + ln tf``), generic words
(a fixed stop list of English and of resume/posting boilerplate) dropped, a fixed table of
abbreviations folded onto one term (k8s -> kubernetes, PG -> postgresql, torch -> pytorch, ...),
and adjacent-word pairs at half weight so "network engineer" and "network sales" differ. Terms are
signed-hashed (blake2b) into ``DIM`` buckets: the dot product of two vectors estimates the cosine
of their sparse term vectors (collision noise has mean 0, standard deviation ~1/sqrt(DIM)).

Bump ``LEXICAL_VERSION`` with any change here: it is part of the vectors' code version.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import re
from collections import Counter
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

LEXICAL_VERSION = "lex-1"
DIM = 512
BIGRAM_WEIGHT = 0.5

_TOKEN = re.compile(r"[a-z0-9][a-z0-9+#]*(?:[./-][a-z0-9+#]+)*")

_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "the",
        "of",
        "to",
        "in",
        "for",
        "with",
        "on",
        "at",
        "by",
        "as",
        "is",
        "are",
        "be",
        "been",
        "was",
        "were",
        "we",
        "you",
        "our",
        "your",
        "their",
        "they",
        "them",
        "this",
        "that",
        "these",
        "those",
        "from",
        "or",
        "who",
        "will",
        "have",
        "has",
        "had",
        "i",
        "me",
        "my",
        "im",
        "i'm",
        "it",
        "its",
        "it's",
        "he",
        "she",
        "his",
        "her",
        "not",
        "no",
        "but",
        "so",
        "if",
        "than",
        "then",
        "there",
        "here",
        "into",
        "over",
        "under",
        "about",
        "also",
        "very",
        "more",
        "most",
        "much",
        "many",
        "any",
        "some",
        "each",
        "all",
        "can",
        "could",
        "would",
        "should",
        "may",
        "might",
        "must",
        "do",
        "does",
        "did",
        "done",
        "just",
        "only",
        "other",
        "such",
        "via",
        "per",
        "etc",
        "years",
        "year",
        "yrs",
        "yr",
        "experience",
        "experienced",
        "looking",
        "seeking",
        "role",
        "roles",
        "team",
        "teams",
        "work",
        "worked",
        "working",
        "job",
        "position",
        "company",
        "join",
        "us",
        "new",
        "good",
        "strong",
        "great",
        "plus",
        "nice",
        "skills",
        "skill",
        "required",
        "requirements",
        "responsibilities",
        "responsible",
        "including",
        "include",
        "includes",
        "using",
        "use",
        "used",
        "day",
        "days",
        "time",
        "now",
        "ago",
    ]
)

# one term per concept where writers use several spellings; a fixed table, like the taxonomy's aliases
SYNONYMS: dict[str, str] = {
    "k8s": "kubernetes",
    "kube": "kubernetes",
    "pg": "postgresql",
    "postgres": "postgresql",
    "psql": "postgresql",
    "torch": "pytorch",
    "golang": "go",
    "js": "javascript",
    "ts": "typescript",
    "reactjs": "react",
    "react.js": "react",
    "nodejs": "node",
    "node.js": "node",
    "py": "python",
    "python3": "python",
    "tf": "tensorflow",
    "sklearn": "scikit-learn",
    "ml": "machine-learning",
    "ai": "machine-learning",
    "ci": "ci/cd",
    "cicd": "ci/cd",
    "gcp": "google-cloud",
    "amazon": "aws",
    "dev": "developer",
    "devs": "developer",
    "developers": "developer",
    "engineers": "engineer",
    "eng": "engineer",
    "sr": "senior",
    "sr.": "senior",
    "jr": "junior",
    "jr.": "junior",
    "swift-ui": "swiftui",
    "ios-developer": "ios",
    "mac": "macos",
    "sre": "site-reliability",
    "reliability": "site-reliability",
    "db": "database",
    "databases": "database",
    "dba": "database-administrator",
    "etl": "data-pipelines",
    "pipelines": "pipeline",
    "apis": "api",
    "microservice": "microservices",
    "analytics": "analytics",
    "analyst": "analytics",
    "analysts": "analytics",
    "scientist": "data-science",
    "science": "science",
    "nurse": "nursing",
    "rn": "nursing",
}


def terms(text: str) -> Counter[str]:
    """The weighted-by-count terms of a text: folded words and adjacent pairs of kept words."""
    words = []
    for raw in _TOKEN.findall(text.lower()):
        word = raw.strip("./-")
        word = SYNONYMS.get(word, word)
        if word and word not in _STOP and not word.isdigit():
            words.append(word)
    counts: Counter[str] = Counter(words)
    counts.update(f"{a}_{b}" for a, b in itertools.pairwise(words))
    return counts


def _bucket(term: str) -> tuple[int, float]:
    value = int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little")
    return value % DIM, 1.0 if (value >> 63) & 1 else -1.0


def vector(text: str) -> np.ndarray:
    """The unit-length (or zero) hashed term vector of ``text``, float32, shape ``(DIM,)``."""
    import numpy as np

    vec = np.zeros(DIM, dtype=np.float64)
    for term, count in terms(text).items():
        i, sign = _bucket(term)
        weight = 1.0 + math.log(count)
        vec[i] += sign * (weight * BIGRAM_WEIGHT if "_" in term else weight)
    norm = float(np.linalg.norm(vec))
    return (vec / norm if norm else vec).astype(np.float32)
