"""LLM cost tooling: the estimator, the ledger exporter for Prometheus and the Grafana dashboards as code.

``talent_platform.cost.estimate`` prices a deploy, a backfill or N new records (``talent cost
estimate``); ``talent_platform.cost.exporter.serve`` runs the long-lived exporter (``talent cost
exporter``); ``python -m talent_platform.cost.dashboards DIR`` writes the dashboard JSON committed
under ``helm/platform/dashboards``. Nothing is imported eagerly. Budget enforcement is runtime and
stays in ``talent_shared.cost`` (``budget``, ``offline``).
"""
