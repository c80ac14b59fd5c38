"""The Dagster resources every location's assets and sensors run with: the database, the LLM, the
embedder, the LLM meter and the landing zone.

Assets ask for them by parameter (``postgres: PostgresResource``) and each location's
``Definitions`` binds one set, built by :func:`deployment_resources` from the deployment's
``TALENT_*`` settings: the one place the environment is read for what a step uses. A test passes
its own instances to ``dg.materialize(..., resources=...)``. Secrets are not configuration: the
database URL (it carries the password in production) and the OpenAI key are read from the
environment in the run's own process, as ``dg.EnvVar`` would, so they never appear in the UI, a
run's config or its tags; unlike ``dg.EnvVar`` an unset URL means the embedded local server.

What a definition *is* (its code versions, partitions, executor, sensor intervals) is read when
the definitions load, before any resource exists; those values come from the same settings, and
the ``code_version`` properties here keep the two in agreement.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Literal

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:
    import psycopg

    from talent_shared.embedding import EmbeddingContract
    from talent_shared.ingest.sources import LandingZone
    from talent_shared.llm.meter import Meter
    from talent_shared.providers.base import EmbeddingProvider, LLMProvider
    from talent_shared.settings import Settings


class PostgresResource(dg.ConfigurableResource):
    """The platform database (psycopg 3, pgvector types registered, ``search_path`` = ``talent``)."""

    url: str | None = Field(
        default=None,
        description="Postgres URL; unset means TALENT_DATABASE_URL, else the embedded server under TALENT_HOME,"
        " read in the run's own process (the URL carries the password: it stays out of the config).",
    )

    def get_url(self) -> str:
        from talent_shared.db.connection import database_url

        return self.url or database_url()

    @contextmanager
    def connect(self, *, autocommit: bool = False) -> Iterator[psycopg.Connection]:
        from talent_shared.db import connect

        with connect(self.get_url(), autocommit=autocommit) as conn:
            yield conn


_KEY = "OpenAI key; unset means OPENAI_API_KEY, read in the run's own process (from a Kubernetes Secret)."


def _env_key() -> str | None:
    return os.environ.get("OPENAI_API_KEY") or None


class LandingZoneResource(dg.ConfigurableResource):
    """Where records are dropped: a folder, or ``s3://bucket/prefix`` (credentials from the pod's
    IAM role or the environment, as boto3 finds them)."""

    location: str = Field(description="A folder or s3://bucket/prefix, with candidates/ and jobs/ beneath it.")
    s3_endpoint_url: str | None = Field(default=None, description="An S3-compatible endpoint; unset means AWS.")

    def zone(self) -> LandingZone:
        from talent_shared.ingest.sources import landing_zone

        return landing_zone(self.location, endpoint_url=self.s3_endpoint_url)


class LLMResource(dg.ConfigurableResource):
    """The extraction and explanation model: the local rules or OpenAI."""

    provider: Literal["local", "openai"] = "local"
    model: str = "gpt-4o-mini"
    api_key: str | None = Field(default=None, description=_KEY)
    base_url: str | None = None

    @property
    def code_version(self) -> str:
        from talent_shared.providers.factory import llm_version

        return llm_version(self.provider, self.model)

    def provider_for_step(self) -> LLMProvider:
        from talent_shared.providers.factory import make_llm

        return make_llm(self.provider, self.model, api_key=self.api_key or _env_key(), base_url=self.base_url)


class EmbedderResource(dg.ConfigurableResource):
    """The deployment's embedding model (``talent_shared.embedding``: one contract for every location)."""

    provider: Literal["local", "hashing", "openai"] = "local"
    model: str = "text-embedding-3-small"
    dim: int = 384
    api_key: str | None = Field(default=None, description=_KEY)
    base_url: str | None = None

    @property
    def code_version(self) -> str:
        from talent_shared.providers.factory import embedder_model

        return f"{self.provider}:{embedder_model(self.provider, self.model)}:{self.dim}"

    def contract(self) -> EmbeddingContract:
        from talent_shared.embedding import EmbeddingContract
        from talent_shared.providers.factory import embedder_model

        return EmbeddingContract(self.provider, embedder_model(self.provider, self.model), self.dim)

    def provider_for_step(self) -> EmbeddingProvider:
        from talent_shared.providers.factory import make_embedder

        return make_embedder(
            self.provider, self.model, self.dim, api_key=self.api_key or _env_key(), base_url=self.base_url
        )


class MeterResource(dg.ConfigurableResource):
    """The LLM usage ledger: one meter per step execution, on its own autocommit connection to the
    platform database (a step that rolls back keeps the record of the calls it paid for)."""

    postgres: PostgresResource

    def for_asset(self, context: dg.AssetExecutionContext) -> Meter:
        from talent_shared.llm.meter import Meter

        return Meter.for_asset(context, url=self.postgres.get_url())


def deployment_resources(settings: Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    """The resources a location binds, from the deployment's ``TALENT_*`` settings (no secret among
    them: the database URL and the OpenAI key are read when a run starts, see the fields)."""
    from talent_shared.settings import get_settings

    s = settings or get_settings()
    postgres = PostgresResource()
    return {
        "postgres": postgres,
        "llm": LLMResource(provider=s.llm_provider, model=s.llm_model, base_url=s.openai_base_url),
        "embedder": EmbedderResource(
            provider=s.embedding_provider, model=s.embedding_model, dim=s.embedding_dim, base_url=s.openai_base_url
        ),
        "meter": MeterResource(postgres=postgres),
        "landing": LandingZoneResource(location=s.landing_location, s3_endpoint_url=s.s3_endpoint_url),
    }
