"""LLM and embedding calls: offline token counting, metering, pricing and the response cache."""
