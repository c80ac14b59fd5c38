"""The ``lexical`` benchmark's re-scoring is only worth its numbers if it is the matcher's own
arithmetic: on a labelled set its stored-vector re-scoring gives the pipeline's rankings (the suite
raises otherwise), its stored-size hashing gives the stored variant's metrics, and its exact cosine
is a cosine (1 for a text with itself, 0 without a shared word)."""

from __future__ import annotations

import pytest

from benchmarks.lexical import EXACT, exact_cosines, rescore_set
from benchmarks.quality import SETS, Labelled, run_set
from talent_shared.lexical import DIM


def test_rescoring_reproduces_the_pipeline_on_a_labelled_set(pg_url: str) -> None:
    data = Labelled.load("professions", SETS["professions"])
    results = rescore_set(pg_url, data, dims=(DIM,))
    pipeline, *_ = run_set(pg_url, data, passes_wanted=1)
    stored = results[f"hashed {DIM} (stored)"]
    assert stored[("pipeline", "c->j")] == pipeline[("pipeline", "c->j")]
    assert stored[("pipeline", "j->c")] == pipeline[("pipeline", "j->c")]
    assert results[f"hashed {DIM:,}"] == stored  # the same bucket count: the same arithmetic
    assert set(results) == {f"hashed {DIM} (stored)", f"hashed {DIM:,}", EXACT}


def test_the_exact_cosine_is_a_cosine() -> None:
    texts = ["Licensed pest control technician, rodent exclusion", "Scene shop carpenter, sets and steel frames"]
    cos = exact_cosines(texts, [*texts, "balayage salon"])
    assert cos[0, 0] == pytest.approx(1.0, abs=2e-3) and cos[1, 1] == pytest.approx(1.0, abs=2e-3)
    assert cos[0, 1] == 0.0 and cos[0, 2] == 0.0 and cos[1, 2] == 0.0
