"""Build the providers from explicit values; ``TALENT_LLM_PROVIDER``/``TALENT_EMBEDDING_PROVIDER`` pick them.

Assets get their providers from the ``llm`` and ``embedder`` resources (``talent_shared.resources``),
which call the ``make_*`` functions here; the CLI, the benchmarks and the tests call the
settings-based wrappers. Either way one function decides what a configuration builds.
"""

from __future__ import annotations

from talent_shared.providers.base import EmbeddingProvider, LLMProvider
from talent_shared.settings import Settings, get_settings


def _openai_client(api_key: str | None, base_url: str | None):  # -> openai.OpenAI
    import openai

    if not api_key:
        raise RuntimeError("TALENT_LLM_PROVIDER=openai needs OPENAI_API_KEY (from a Kubernetes Secret)")
    return openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=3)


def _api_key(settings: Settings) -> str | None:
    return settings.openai_api_key.get_secret_value() if settings.openai_api_key else None


def llm_version(provider: str, model: str) -> str:
    """What an LLM asset's code version must change with on the provider's side: provider, model and
    the provider's own handling of answers. The prompt's version is the asset owner's to add.

    Kept free of the ``openai`` import so loading definitions stays quick.
    """
    if provider == "openai":
        from talent_shared.providers.base import OPENAI_PROVIDER_VERSION

        return f"openai:{model}:{OPENAI_PROVIDER_VERSION}"
    from talent_shared.providers.local import LocalLLM

    return f"local:{LocalLLM.model}:{LocalLLM.prompt_version}"


def embedder_model(provider: str, model: str) -> str:
    """The model an embedder runs (without importing it: definitions load quickly)."""
    if provider == "openai":
        return model
    return "hashing-v1" if provider == "hashing" else "all-MiniLM-L6-v2-int8"


def make_llm(
    provider: str, model: str, *, api_key: str | None = None, base_url: str | None = None, client=None
) -> LLMProvider:
    """The extractor a configuration names; ``client`` (an ``openai.OpenAI``) replaces the one built here."""
    if provider == "openai":
        from talent_shared.providers.openai_provider import OpenAILLM

        return OpenAILLM(client or _openai_client(api_key, base_url), model)
    from talent_shared.providers.local import LocalLLM

    return LocalLLM()


def make_embedder(
    provider: str, model: str, dim: int, *, api_key: str | None = None, base_url: str | None = None, client=None
) -> EmbeddingProvider:
    if provider == "openai":
        from talent_shared.providers.openai_provider import OpenAIEmbedder

        return OpenAIEmbedder(client or _openai_client(api_key, base_url), model, dim)
    if provider == "hashing":
        from talent_shared.providers.local import LocalEmbedder

        return LocalEmbedder(dim)
    from talent_shared.providers.minilm import MiniLMEmbedder

    return MiniLMEmbedder(dim)


def llm_code_version(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return llm_version(settings.llm_provider, settings.llm_model)


def embedding_model_name(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return embedder_model(settings.embedding_provider, settings.embedding_model)


def embedding_code_version(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return f"{settings.embedding_provider}:{embedding_model_name(settings)}:{settings.embedding_dim}"


def llm_provider(settings: Settings | None = None, *, client=None) -> LLMProvider:
    """The configured extractor; ``client`` (an ``openai.OpenAI``) replaces the one built from settings."""
    settings = settings or get_settings()
    return make_llm(
        settings.llm_provider,
        settings.llm_model,
        api_key=_api_key(settings),
        base_url=settings.openai_base_url,
        client=client,
    )


def embedding_provider(settings: Settings | None = None, *, client=None) -> EmbeddingProvider:
    settings = settings or get_settings()
    return make_embedder(
        settings.embedding_provider,
        settings.embedding_model,
        settings.embedding_dim,
        api_key=_api_key(settings),
        base_url=settings.openai_base_url,
        client=client,
    )
