"""Imported by the run workers' forkserver (``code_server.PRELOAD``): loads what the steps would
otherwise load in every run worker, once, before the fork. wordfreq reads its English frequency
table on its first lookup, which each run's vectors and matches steps paid again; tiktoken builds
each encoding on its first token count, which every metered step pays (the ledger counts tokens,
the local providers included)."""

from wordfreq import zipf_frequency

from talent_shared.llm.encodings import preload

zipf_frequency("the", "en")
preload()
