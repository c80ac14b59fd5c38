"""The contract between the talent teams.

Every location imports from here and never from another location: asset keys, partitions,
record models, Postgres access, providers and the ``talent`` command line live in one place so
that a change to the contract is one reviewed diff, not three drifting copies.
"""
