"""Specs of assets another location owns, for use as dependencies.

A location that depends on another team's asset declares it with the same key and partitions as
the owner; only the owner defines the executable asset, and the
workspace merges the two. The contract test checks these against the owners.
"""

from __future__ import annotations

import dagster as dg

from talent_shared.keys import CANDIDATE_VECTORS, JOB_VECTORS
from talent_shared.partitions import candidates_partitions, jobs_partitions

candidate_vectors_stub = dg.AssetSpec(
    CANDIDATE_VECTORS,
    partitions_def=candidates_partitions,
    group_name="candidates",
    description="Owned by the candidates location.",
)
job_vectors_stub = dg.AssetSpec(
    JOB_VECTORS,
    partitions_def=jobs_partitions,
    group_name="jobs",
    description="Owned by the jobs location.",
)
