"""Dynamic partitions: one key per arrival batch of an entity, never one per record.

A record joins the open batch of its entity when it is first stored and keeps it
(``ingest.store.store_accepted``: the batch is its arrival number over :func:`batch_size`); the number of partitions per asset is the number of records over
the batch size, so it stays bounded whatever the record count. Both the owning location and
``matching`` (through the stubs) use these same objects so that a partition added by a sensor in one
process is the partition everyone else sees.
"""

from __future__ import annotations

import dagster as dg

candidates_partitions = dg.DynamicPartitionsDefinition(name="candidate_batches")
jobs_partitions = dg.DynamicPartitionsDefinition(name="job_batches")

PARTITIONS_BY_ENTITY: dict[str, dg.DynamicPartitionsDefinition] = {
    "candidate": candidates_partitions,
    "job": jobs_partitions,
}


def batch_size() -> int:
    """Records per batch (``TALENT_BATCH_SIZE``). With the default, 10 million records make 5,000
    partitions per asset; changing it affects only records stored afterwards."""
    from talent_shared.settings import get_settings

    return get_settings().batch_size
