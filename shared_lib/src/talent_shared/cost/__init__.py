"""LLM cost at run time: daily budgets per code location and the guards that keep work under them
(:mod:`talent_shared.cost.budget`), and the offline cost of a partition they fall back on
(:mod:`talent_shared.cost.offline`).

The tooling (the estimator behind ``talent cost estimate``, the Prometheus exporter and the Grafana
dashboards) lives in ``talent_platform.cost``.
"""
