"""Imported by the run workers' forkserver (``code_server.PRELOAD``): loads what the steps would
otherwise load in every run worker, once, before the fork. wordfreq reads its English frequency
table on its first lookup, which each run's vectors and matches steps paid again."""

from wordfreq import zipf_frequency

zipf_frequency("the", "en")
