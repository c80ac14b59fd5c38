"""Issue 22, item 3: on a labelled set outside software (``heldout-blind``), normalization on the
production path (the OpenAI provider, its requests sent over HTTP by the official client) ranks at
least as well as the local default (the rule extractor), top-1 and top-3, in both directions.

Both runs go through the pipeline's own functions (``benchmarks.quality``: parse and store,
``normalize``, ``embed``, ``run_matching``) on fresh databases of the test server, with the same
local embedder, so they differ by the normalization alone. The OpenAI answers are the set's
recordings (``tests/data/openai/heldout-blind``: written by a model following the production
prompt, not captured from the API; see the README there), served by a real HTTP server on
localhost that answers 404 to any request it has no recording for: a prompt, taxonomy, schema or
record change fails this test instead of reusing stale answers. The benchmark holds the figures.
"""

from __future__ import annotations

from benchmarks.quality import DIRECTIONS, PRODUCTION_SETS, SETS, Labelled, run_production, run_set

SET = "heldout-blind"


def test_production_path_ranks_at_least_as_well_as_the_local_default(pg_url: str) -> None:
    data = Labelled.load(SET, SETS[SET])
    local, *_ = run_set(pg_url, data, passes_wanted=1)
    production, _, _, ledger = run_production(pg_url, data, PRODUCTION_SETS[SET], passes_wanted=1)

    # every record was normalized by one real HTTP exchange, metered as an OpenAI call
    records = len(data.candidates) + len(data.jobs)
    assert ledger["http_requests"] == ledger["calls"] == records
    assert ledger["cost"] > 0
    for direction in DIRECTIONS:
        top1, top3, _ = production[("pipeline", direction)]
        local_top1, local_top3, _ = local[("pipeline", direction)]
        assert top1 >= local_top1, f"{direction}: production top-1 {top1:.1f}% < local {local_top1:.1f}%"
        assert top3 >= local_top3, f"{direction}: production top-3 {top3:.1f}% < local {local_top3:.1f}%"
