"""Choose the providers from settings: one switch, ``TALENT_LLM_PROVIDER``/``TALENT_EMBEDDING_PROVIDER``."""

from __future__ import annotations

from talent_shared.providers.base import EmbeddingProvider, LLMProvider
from talent_shared.settings import Settings, get_settings


def _openai_client(settings: Settings):  # -> openai.OpenAI
    import openai

    if settings.openai_api_key is None:
        raise RuntimeError("TALENT_LLM_PROVIDER=openai needs OPENAI_API_KEY (from a Kubernetes Secret)")
    return openai.OpenAI(
        api_key=settings.openai_api_key.get_secret_value(), base_url=settings.openai_base_url, max_retries=3
    )


def llm_code_version(settings: Settings | None = None) -> str:
    """What an LLM asset's code version must change with on the provider's side: provider, model and
    the provider's own handling of answers. The prompt's version is the asset owner's to add.

    Kept free of the ``openai`` import so loading definitions stays quick.
    """
    settings = settings or get_settings()
    if settings.llm_provider == "openai":
        from talent_shared.providers.base import OPENAI_PROVIDER_VERSION

        return f"openai:{settings.llm_model}:{OPENAI_PROVIDER_VERSION}"
    from talent_shared.providers.local import LocalLLM

    return f"local:{LocalLLM.model}:{LocalLLM.prompt_version}"


def embedding_model_name(settings: Settings | None = None) -> str:
    """The model the configured embedder runs (without importing it: definitions load quickly)."""
    settings = settings or get_settings()
    if settings.embedding_provider == "openai":
        return settings.embedding_model
    return "hashing-v1" if settings.embedding_provider == "hashing" else "all-MiniLM-L6-v2-int8"


def embedding_code_version(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    return f"{settings.embedding_provider}:{embedding_model_name(settings)}:{settings.embedding_dim}"


def llm_provider(settings: Settings | None = None, *, client=None) -> LLMProvider:
    """The configured extractor; ``client`` (an ``openai.OpenAI``) replaces the one built from settings."""
    settings = settings or get_settings()
    if settings.llm_provider == "openai":
        from talent_shared.providers.openai_provider import OpenAILLM

        return OpenAILLM(client or _openai_client(settings), settings.llm_model)
    from talent_shared.providers.local import LocalLLM

    return LocalLLM()


def embedding_provider(settings: Settings | None = None, *, client=None) -> EmbeddingProvider:
    settings = settings or get_settings()
    if settings.embedding_provider == "openai":
        from talent_shared.providers.openai_provider import OpenAIEmbedder

        return OpenAIEmbedder(client or _openai_client(settings), settings.embedding_model, settings.embedding_dim)
    if settings.embedding_provider == "hashing":
        from talent_shared.providers.local import LocalEmbedder

        return LocalEmbedder(settings.embedding_dim)
    from talent_shared.providers.minilm import MiniLMEmbedder

    return MiniLMEmbedder(settings.embedding_dim)
