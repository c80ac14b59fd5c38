"""Tooling around the code locations: what the platform image and developers install, no code server.

The ``talent`` command line (:mod:`talent_platform.cli`), the platform on one machine
(:mod:`talent_platform.local`, what ``make dev`` runs), the webhook receiver
(:mod:`talent_platform.webhook`), synthetic records (:mod:`talent_platform.seed`) and the LLM cost
tooling (:mod:`talent_platform.cost`: the estimator, the Prometheus exporter, the Grafana
dashboards). It builds on ``talent_shared`` and may load the code locations' definitions; neither
``talent_shared`` nor a code location ever imports it (import-linter contracts in the root
``pyproject.toml``).
"""
