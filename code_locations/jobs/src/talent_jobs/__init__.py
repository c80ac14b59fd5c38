"""The jobs team's code location: ingestion, normalization and vectors of job openings."""
