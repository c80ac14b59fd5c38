"""Versions of the matching logic, kept free of heavy imports so definitions load quickly.

Bump ``SCORE_VERSION`` with any change to ``score.py``, ``CROSSJOIN_VERSION`` with any change to
``crossjoin.py`` and ``EXPLAIN_PROMPT_VERSION`` with a deliberate change to ``prompts/explain.txt``:
they make up the code version of ``matches``, so a change re-runs it.
"""

EXPLAIN_PROMPT_VERSION = "explain-1"  # prompts/explain.txt; its hash is added (talent_shared.prompts)
SCORE_VERSION = "hybrid-3"  # 3: relevance times a seniority and years gate; lexical weighs most
# 2: + lexical term, two-way seniority fit, new weights
CROSSJOIN_VERSION = "crossjoin-4"  # 4: the explanations of a candidate's top three end with reasons.py's
# 3: incremental runs read only what changed; recompute once: lists the
# crossjoin-2 incremental path could leave wrong (a lowered score kept ahead, a list short after a removal)
