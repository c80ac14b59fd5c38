"""Dagster definitions declared as components: `pipeline/defs.yaml` is this team's entity pipeline."""
