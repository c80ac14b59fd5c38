"""LLM and embedding providers behind one interface: local by default, OpenAI in production."""

from talent_shared.providers.base import EmbeddingProvider, LLMProvider, Profile, Usage
from talent_shared.providers.factory import embedding_provider, llm_provider

__all__ = ["EmbeddingProvider", "LLMProvider", "Profile", "Usage", "embedding_provider", "llm_provider"]
