"""LLM cost observability: the ledger exporter for Prometheus and the Grafana dashboards as code.

``talent_shared.cost.exporter.serve`` runs the long-lived exporter (``talent cost exporter``);
``python -m talent_shared.cost.dashboards DIR`` writes the dashboard JSON committed under
``helm/platform/dashboards``. Nothing is imported eagerly: the dashboards need the ``platform``
extra (grafana-foundation-sdk), the exporter does not.
"""
