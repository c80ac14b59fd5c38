"""The contract between the talent teams.

Every location imports from here and never from another location: asset keys, partitions,
record models, Postgres access, providers and what every code server runs live in one place so
that a change to the contract is one reviewed diff, not three drifting copies. The tooling (the
``talent`` command line, the local platform, the webhook, the cost estimator, exporter and
dashboards) lives in ``talent_platform``, which this package never imports.
"""
