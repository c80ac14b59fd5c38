"""Versions of the matching logic, kept free of heavy imports so definitions load quickly.

Bump ``SCORE_VERSION`` with any change to ``score.py`` and ``CROSSJOIN_VERSION`` with any change to
``crossjoin.py``: they make up the code version of ``matches``, so a change re-runs it.
"""

SCORE_VERSION = "hybrid-2"  # 2: + lexical term, two-way seniority fit, new weights
CROSSJOIN_VERSION = "crossjoin-2"  # 2: reads the lexical vectors, writes the new components
