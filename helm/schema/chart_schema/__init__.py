"""Pydantic models of the two charts' values, from which each chart's values.schema.json is
generated (as the official Dagster chart generates its own, helm/dagster/schema): `python -m
chart_schema` from helm/schema writes them, `--check` fails when a committed schema differs."""
