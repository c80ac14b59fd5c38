"""The response cache: the same input to the same model under the same prompt never pays twice.

``talent.llm_cache`` rows are keyed by ``sha256(prompt_version, model, input_hash)``. The model is
the *requested* one (``gpt-4o-mini``), so a snapshot change on OpenAI's side does not empty the
cache; a prompt or taxonomy change does, through the prompt version. ``cost_usd`` is what the
response cost when it was bought: a hit records it as ``saved_usd`` in the ledger.

Which providers are cached is ``TALENT_LLM_CACHE``: ``auto`` (default: billable providers only;
the local providers are deterministic and free, so caching them would only copy vectors into
JSON), ``on`` (every provider) or ``off``.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from psycopg.types.json import Jsonb

if TYPE_CHECKING:
    import psycopg


def cache_enabled(provider: str) -> bool:
    mode = os.environ.get("TALENT_LLM_CACHE", "auto").strip().lower()
    if mode in ("off", "0", "false", "no"):
        return False
    if mode in ("on", "1", "true", "yes"):
        return True
    return provider != "local"


def cache_key(prompt_version: str, model: str, input_hash: str) -> str:
    return hashlib.sha256("\x1f".join((prompt_version, model, input_hash)).encode()).hexdigest()


class ResponseCache:
    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def get(self, key: str) -> tuple[Any, Decimal] | None:
        row = self.conn.execute(
            "SELECT response, cost_usd FROM talent.llm_cache WHERE cache_key = %s", (key,)
        ).fetchone()
        return (row[0], Decimal(row[1])) if row else None

    def get_many(self, keys: Sequence[str]) -> dict[str, tuple[Any, Decimal]]:
        if not keys:
            return {}
        rows = self.conn.execute(
            "SELECT cache_key, response, cost_usd FROM talent.llm_cache WHERE cache_key = ANY(%s)", (list(keys),)
        ).fetchall()
        return {k: (r, Decimal(c)) for k, r, c in rows}

    def put_many(self, rows: Sequence[tuple[str, str, str, str, Any, Decimal]]) -> None:
        """(key, prompt_version, model, input_hash, response, cost_usd) rows; first writer wins."""
        if not rows:
            return
        with self.conn.cursor() as cur:
            cur.executemany(
                """
                INSERT INTO talent.llm_cache (cache_key, prompt_version, model, input_hash, response, cost_usd)
                VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (cache_key) DO NOTHING
                """,
                [(k, pv, m, h, Jsonb(json.loads(json.dumps(resp))), cost) for k, pv, m, h, resp, cost in rows],
            )

    def put(self, key: str, prompt_version: str, model: str, input_hash: str, response: Any, cost: Decimal) -> None:
        self.put_many([(key, prompt_version, model, input_hash, response, cost)])
