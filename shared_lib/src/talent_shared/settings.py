"""Settings read from ``TALENT_*`` environment variables.

One object, built once per process, so a location, the CLI and the tests agree on where the
database, the landing zone and the providers are without passing paths around.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _default_home() -> Path:
    return Path(os.environ.get("TALENT_HOME") or Path.cwd() / ".local").resolve()


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TALENT_", extra="ignore")

    home: Path = Field(
        default_factory=_default_home, description="Local state: database, Dagster home, landing folder."
    )
    database_url: str | None = Field(
        default=None, description="Postgres URL; unset means the embedded server under home."
    )
    landing: str | None = Field(
        default=None, description="Landing zone: a folder or s3://bucket/prefix; unset means home/landing."
    )
    s3_endpoint_url: str | None = Field(
        default=None, description="S3-compatible endpoint (tests, MinIO); unset means AWS."
    )

    llm_provider: Literal["local", "openai"] = "local"
    # local: all-MiniLM-L6-v2 on onnxruntime (384-d); hashing: the feature-hashing test embedder
    embedding_provider: Literal["local", "hashing", "openai"] = "local"
    llm_model: str = "gpt-4o-mini"
    embedding_model: str = "text-embedding-3-small"
    embedding_dim: int = Field(default=384, ge=8, le=2000)
    openai_api_key: SecretStr | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    openai_base_url: str | None = None

    top_k: int = Field(default=10, ge=1, le=100)
    executor: Literal["in_process", "k8s"] = "in_process"
    sensor_interval_seconds: int = Field(default=30, ge=1)
    max_records_per_tick: int = Field(default=5000, ge=1)
    batch_size: int = Field(
        default=2000, ge=1, description="Records per arrival batch (one Dagster partition; talent_shared.batches)."
    )
    max_attempts: int = Field(default=3, ge=1, description="Attempts at one record's stage before it is quarantined.")
    max_runs_per_tick: int = Field(default=8, ge=1, description="Runs one reconciler tick may request.")
    daily_budget_usd: float = Field(default=25.0, ge=0)
    ingest_token: SecretStr | None = Field(default=None, description="Bearer token the webhook accepts.")
    ingest_hmac_secret: SecretStr | None = Field(
        default=None, description="Webhook signing secret (Standard Webhooks, whsec_<base64>)."
    )
    ingest_pool_size: int = Field(default=8, ge=1, le=100, description="Webhook: pooled database connections.")
    ingest_queue: int = Field(default=32, ge=0, description="Webhook: requests that may wait for a connection.")
    ingest_queue_timeout_seconds: float = Field(
        default=1.0, gt=0, description="Webhook: longest wait for a connection before a 503."
    )
    ingest_statement_timeout_ms: int = Field(
        default=5000,
        ge=0,
        description="Webhook: statement_timeout of its connections, in ms (0: the database role's own).",
    )

    @property
    def state_dir(self) -> Path:
        return self.home

    @property
    def pgdata(self) -> Path:
        return self.home / "pgdata"

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def landing_location(self) -> str:
        return self.landing or str(self.home / "landing")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
