"""Dynamic partitions: one key per record, named after the entity.

Both the owning location and ``matching`` (through the stubs) use these same objects so that a
partition added by a sensor in one process is the partition everyone else sees.
"""

from __future__ import annotations

import dagster as dg

candidates_partitions = dg.DynamicPartitionsDefinition(name="candidates")
jobs_partitions = dg.DynamicPartitionsDefinition(name="jobs")

PARTITIONS_BY_ENTITY: dict[str, dg.DynamicPartitionsDefinition] = {
    "candidate": candidates_partitions,
    "job": jobs_partitions,
}
