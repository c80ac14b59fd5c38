"""The lexical signal: a record's own words as a fixed-size, L2-normalised hashed term vector.

Matching fuses it with the dense embedding (``talent_matching.score``). It needs no corpus
statistics on purpose: BM25's IDF changes whenever a record arrives, so a pair scored today would
score differently tomorrow and the incremental cross-join would no longer equal a recompute from
scratch. Instead the weights are fixed: sublinear term frequency (``1 + ln tf``) times the word's
rarity in general English (``rarity``: an IDF that does not depend on this corpus, and knows no
trade, so "lineworker" or "balayage" weigh like "kubernetes"), generic words (a fixed stop list of
English and of resume/posting boilerplate) dropped, words stemmed (Snowball English), a fixed table of abbreviations
folded onto one term (``data/abbreviations.tsv``: k8s -> kubernetes, lineman -> lineworker, ...),
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
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

LEXICAL_VERSION = "lex-2+wordfreq-3.1.1+snowball-3.1.1"  # 2: word rarity, stems, abbreviations as data
DIM = 512
BIGRAM_WEIGHT = 0.5
ZIPF_TOP, RARITY_FLOOR, RARITY_CAP = 7.0, 0.5, 6.0  # rarity = ZIPF_TOP - Zipf frequency, clipped

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

# one term per concept where writers use several spellings: a fixed table, like the taxonomy's aliases,
# kept as data (data/abbreviations.tsv) so widening it to another trade is an edit of that file
_ABBREVIATIONS = Path(__file__).parent / "data" / "abbreviations.tsv"


def _read_synonyms() -> dict[str, str]:
    table: dict[str, str] = {}
    for line in _ABBREVIATIONS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            written, term = line.split("\t")
            table[written.strip()] = term.strip()
    return table


SYNONYMS: dict[str, str] = _read_synonyms()
_CANONICAL = frozenset(SYNONYMS.values())


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    """The word's English stem (Snowball: nurses, nursing -> nurs; loading -> load): a trade-blind
    rule, so no table has to list every trade's inflections. Folded terms stay as the table says."""
    if word in _CANONICAL or not word.isalpha():
        return word
    return _stemmer().stemWord(word)


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=1 << 16)
def rarity(term: str) -> float:
    """How much a word says, from its frequency in general English (``wordfreq``'s Zipf scale, a
    fixed table shipped with the package, never this corpus): "experience" or "manage" little,
    "journeyman", "balayage" or "kubernetes" much. Corpus-free like the rest of the vector, so a
    pair's score does not move when other records arrive."""
    from wordfreq import zipf_frequency

    zipf = zipf_frequency(term.replace("-", " ").replace("_", " "), "en")
    return min(RARITY_CAP, max(RARITY_FLOOR, ZIPF_TOP - zipf))


def _words(text: str) -> list[tuple[str, str]]:
    """(term, word) for each kept word: its stem, and the folded word it was written as."""
    out = []
    for raw in _TOKEN.findall(text.lower()):
        word = raw.strip("./-")
        word = SYNONYMS.get(word, word)
        if word and word not in _STOP and not word.isdigit():
            out.append((_stem(word), word))
    return out


def terms(text: str) -> Counter[str]:
    """The weighted-by-count terms of a text: stems of folded words and adjacent pairs of them."""
    words = [term for term, _ in _words(text)]
    counts: Counter[str] = Counter(words)
    counts.update(f"{a}_{b}" for a, b in itertools.pairwise(words))
    return counts


def _rarities(text: str) -> dict[str, float]:
    """Each term's rarity in this text: a stem weighs like the commonest form it was written in
    here (a pair like the mean of its two words), so the vector depends on this text alone."""
    words = _words(text)
    out: dict[str, float] = {}
    for term, word in words:
        out[term] = min(out.get(term, RARITY_CAP), rarity(word))
    for (a, _), (b, _) in itertools.pairwise(words):
        out[f"{a}_{b}"] = (out[a] + out[b]) / 2
    return out


def term_weights(text: str) -> dict[str, float]:
    """Each term's weight before hashing (not normalised): the exact sparse vector that ``vector``
    hashes, which the benchmarks compare it with."""
    rarities = _rarities(text)
    out = {}
    for term, count in terms(text).items():
        weight = (1.0 + math.log(count)) * rarities[term]
        out[term] = weight * BIGRAM_WEIGHT if "_" in term else weight
    return out


def _bucket(term: str, dim: int = DIM) -> tuple[int, float]:
    value = int.from_bytes(hashlib.blake2b(term.encode(), digest_size=8).digest(), "little")
    return value % dim, 1.0 if (value >> 63) & 1 else -1.0


def vector(text: str, dim: int = DIM) -> np.ndarray:
    """The unit-length (or zero) hashed term vector of ``text``, float32, shape ``(dim,)``; the
    stored one has ``DIM`` buckets."""
    import numpy as np

    vec = np.zeros(dim, dtype=np.float64)
    for term, weight in term_weights(text).items():
        i, sign = _bucket(term, dim)
        vec[i] += sign * weight
    norm = float(np.linalg.norm(vec))
    return (vec / norm if norm else vec).astype(np.float32)
