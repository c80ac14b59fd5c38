"""The resources a location binds: no secret in their configuration, code versions that agree with
the definitions', and the database found when the run starts, not when the definitions load."""

from __future__ import annotations

import json
from collections.abc import Iterator

import dagster as dg
import pytest

from talent_shared.providers.factory import embedding_code_version, llm_code_version
from talent_shared.resources import EmbedderResource, PostgresResource, deployment_resources
from talent_shared.settings import Settings, get_settings

SECRET_URL = "postgresql://talent_candidates:s3cr3t-pw@db.internal:5432/talent"
SECRET_KEY = "sk-test-not-a-real-key-0123456789"


@pytest.fixture
def production_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("TALENT_DATABASE_URL", SECRET_URL)
    monkeypatch.setenv("OPENAI_API_KEY", SECRET_KEY)
    monkeypatch.setenv("TALENT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("TALENT_EMBEDDING_PROVIDER", "openai")
    monkeypatch.setenv("TALENT_EMBEDDING_DIM", "1536")
    get_settings.cache_clear()
    yield Settings()
    get_settings.cache_clear()


def test_no_secret_is_resource_configuration(production_env: Settings) -> None:
    """What Dagster shows of a resource (its config, in the UI and the run's config) names neither
    the database password nor the OpenAI key; both are read in the run's own process."""
    resources = deployment_resources(production_env)
    shown = json.dumps({name: r.model_dump() for name, r in resources.items()}, default=str)
    assert "s3cr3t-pw" not in shown and SECRET_KEY not in shown
    assert resources["postgres"].get_url() == SECRET_URL  # type: ignore[attr-defined]


def test_resource_code_versions_are_the_definitions(production_env: Settings) -> None:
    resources = deployment_resources(production_env)
    assert resources["llm"].code_version == llm_code_version(production_env)  # type: ignore[attr-defined]
    assert resources["embedder"].code_version == embedding_code_version(production_env)  # type: ignore[attr-defined]
    assert resources["embedder"].contract().code_version == embedding_code_version(production_env)  # type: ignore[attr-defined]


def test_the_database_is_found_when_the_run_starts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Definitions load before a test (or a pod) sets its environment: the URL is not frozen then."""
    postgres = PostgresResource()
    monkeypatch.setenv("TALENT_DATABASE_URL", SECRET_URL)
    get_settings.cache_clear()
    try:
        assert postgres.get_url() == SECRET_URL
        assert PostgresResource(url="postgresql://other/db").get_url() == "postgresql://other/db"
    finally:
        get_settings.cache_clear()


def test_an_asset_gets_the_resource_a_test_gives(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    @dg.asset
    def uses(embedder: EmbedderResource) -> None:
        seen.append(embedder.code_version)

    with dg.instance_for_test() as instance:
        given = {"embedder": EmbedderResource(provider="hashing", dim=64)}
        assert dg.materialize([uses], resources=given, instance=instance).success
    assert seen == ["hashing:hashing-v1:64"]
