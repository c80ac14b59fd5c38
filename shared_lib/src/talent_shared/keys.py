"""Asset keys and which location owns each.

The owner map is the cross-team contract: only the owner defines an ``@asset`` for a key, the
others refer to it through the stubs in :mod:`talent_shared.stubs`. The workspace contract test
checks every location against this table.
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

RAW_CANDIDATES = dg.AssetKey("raw_candidates")
NORMALIZED_CANDIDATES = dg.AssetKey("normalized_candidates")
CANDIDATE_VECTORS = dg.AssetKey("candidate_vectors")
RAW_JOBS = dg.AssetKey("raw_jobs")
NORMALIZED_JOBS = dg.AssetKey("normalized_jobs")
JOB_VECTORS = dg.AssetKey("job_vectors")
MATCHES = dg.AssetKey("matches")

OWNERS: dict[str, tuple[dg.AssetKey, ...]] = {
    "candidates": (RAW_CANDIDATES, NORMALIZED_CANDIDATES, CANDIDATE_VECTORS),
    "jobs": (RAW_JOBS, NORMALIZED_JOBS, JOB_VECTORS),
    "matching": (MATCHES,),
}

LOCATIONS: tuple[str, ...] = tuple(OWNERS)


@dataclass(frozen=True)
class EntityKeys:
    raw: dg.AssetKey
    normalized: dg.AssetKey
    vectors: dg.AssetKey

    def __iter__(self):
        return iter((self.raw, self.normalized, self.vectors))


ENTITY_KEYS: dict[str, EntityKeys] = {
    "candidate": EntityKeys(RAW_CANDIDATES, NORMALIZED_CANDIDATES, CANDIDATE_VECTORS),
    "job": EntityKeys(RAW_JOBS, NORMALIZED_JOBS, JOB_VECTORS),
}


def owner_of(key: dg.AssetKey) -> str:
    for location, keys in OWNERS.items():
        if key in keys:
            return location
    raise KeyError(f"no location owns {key.to_user_string()}")
