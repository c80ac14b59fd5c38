"""The candidates team's code location: ingestion, normalization and vectors of candidates."""
