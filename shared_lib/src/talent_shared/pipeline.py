"""The entity pipeline each ingesting location builds: raw -> normalized -> vectors, plus its sensor.

The mechanism lives here once; the candidates and jobs locations call :func:`entity_pipeline`
with what is theirs (keys, partitions, how a record reads as text). ``raw_*`` is materialized by
the ingestion sensor itself (runless events carrying the content hash as data version), because a
run over many partitions can only give them all one data version; the two downstream assets run
in single-run backfills over whatever partitions automation requests at once.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import dagster as dg

from talent_shared.automation import input_or_code_changed
from talent_shared.compute import op_tags
from talent_shared.ingest.sensor import RAW_CODE_VERSION, build_ingest_sensor
from talent_shared.providers.factory import embedding_code_version, llm_code_version
from talent_shared.records import Entity

if TYPE_CHECKING:
    from talent_shared.llm.meter import Meter
    from talent_shared.profiles import ExtractionInput

RUN_COST_TAG = "talent/llm_cost_usd"  # = talent_shared.llm.meter.RUN_COST_TAG, kept import-free here

# Asset bodies import the database and provider modules when they run, not when the code server
# loads definitions: health probes wait on that load (dagster-on-kubernetes notes §5).

NORMALIZE_LOGIC_VERSION = "normalize-1"
EMBED_LOGIC_VERSION = "embed-2"  # 2: the record's own words embedded, plus the lexical vector


@dataclass(frozen=True)
class EntityKeys:
    raw: dg.AssetKey
    normalized: dg.AssetKey
    vectors: dg.AssetKey


def normalized_code_version() -> str:
    return f"{NORMALIZE_LOGIC_VERSION}:{llm_code_version()}"


def vectors_code_version() -> str:
    from talent_shared.lexical import LEXICAL_VERSION  # stdlib only: cheap to import

    return f"{EMBED_LOGIC_VERSION}+{LEXICAL_VERSION}:{embedding_code_version()}"


def usage_metadata(meter: "Meter") -> dict[str, Any]:
    """A materialization's LLM metadata: calls, tokens by type, cost, cache hits and savings, errors.

    ``llm_cost_usd`` is what this step paid (sum of its ledger rows); ``llm_run_cost_usd`` is the
    whole run so far, also put on the run as the ``talent/llm_cost_usd`` tag (see ``Meter.tag_run``).
    """
    return meter.metadata()


def _run_metered(
    context: dg.AssetExecutionContext, work: Callable[[Any, list[str], "Meter"], Any]
) -> dg.MaterializeResult:
    """An LLM asset's step over its partitions: budget preflight, the work, its metered result."""
    from talent_shared.cost.budget import preflight
    from talent_shared.db import connect
    from talent_shared.llm.meter import Meter

    ids = list(context.partition_keys)
    with Meter.for_asset(context) as meter:
        preflight(context, meter, len(ids))
        with connect() as conn:
            work(conn, ids, meter)
        return metered_step(context, meter, len(ids))


def metered_step(
    context: dg.AssetExecutionContext, meter: "Meter", records: int, extra: dict[str, Any] | None = None
) -> dg.MaterializeResult:
    """The result an LLM asset returns: its own usage as metadata, the run's total as run tags."""
    tags = meter.tag_run(context.instance)
    metadata: dict[str, Any] = {"records": records, **usage_metadata(meter), **(extra or {})}
    metadata["llm_run_cost_usd"] = float(tags[RUN_COST_TAG])
    # the step's summary on stdout: what the UI shows in the step's captured logs
    print(
        f"{context.asset_key.to_user_string()}: {records} records,"
        f" {metadata.get('llm_calls', 0)} LLM calls, run cost ${metadata['llm_run_cost_usd']:.6f}",
        flush=True,
    )
    return dg.MaterializeResult(metadata=metadata)


def entity_pipeline(
    entity: Entity,
    keys: EntityKeys,
    partitions: dg.DynamicPartitionsDefinition,
    to_input: "ExtractionInput",
    *,
    group: str,
) -> tuple[list[dg.AssetSpec | dg.AssetsDefinition], dg.SensorDefinition]:
    raw = dg.AssetSpec(
        keys.raw,
        partitions_def=partitions,
        code_version=RAW_CODE_VERSION,
        group_name=group,
        kinds={"postgres"},
        description=f"The validated {entity} record; materialized by the ingestion sensor, data version = content hash.",
    )

    @dg.asset(
        key=keys.normalized,
        deps=[keys.raw],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        code_version=normalized_code_version(),
        automation_condition=input_or_code_changed(),
        op_tags=op_tags("small", pool="llm"),
        group_name=group,
        kinds={"postgres", "openai"},
        description=f"Structured {entity} profile (skills, seniority, years, title, location, remote).",
    )
    def _normalized(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from talent_shared.profiles import normalize
        from talent_shared.providers.factory import llm_provider

        return _run_metered(
            context,
            lambda conn, ids, meter: normalize(
                conn, entity, ids, llm_provider(), to_input, NORMALIZE_LOGIC_VERSION, meter=meter
            ),
        )

    @dg.asset(
        key=keys.vectors,
        deps=[keys.normalized],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        code_version=vectors_code_version(),
        automation_condition=input_or_code_changed(),
        op_tags=op_tags("medium", pool="llm"),
        group_name=group,
        kinds={"pgvector"},
        description=f"Embedding of each {entity} profile in pgvector.",
    )
    def _vectors(context: dg.AssetExecutionContext) -> dg.MaterializeResult:
        from talent_shared.providers.factory import embedding_provider
        from talent_shared.vectors import embed

        return _run_metered(
            context,
            lambda conn, ids, meter: embed(conn, entity, ids, embedding_provider(), meter=meter, to_input=to_input),
        )

    sensor = build_ingest_sensor(entity, keys.raw, partitions)
    return [raw, _normalized, _vectors], sensor
