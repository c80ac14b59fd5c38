"""The entity pipeline as a building block each ingesting team configures: raw -> normalized -> vectors.

The mechanism lives here once; what makes a team's pipeline its own lives in that team's location,
in ``defs/pipeline/defs.yaml`` (a Dagster component declaration of :class:`EntityPipeline`) and
the files beside it: the prompt, its version, the record reader, the logic versions, the compute
profile of each asset, the sensor's settings, and the embedding model it expects (which must be the
deployment's, see :mod:`talent_shared.embedding`). Code versions are built from the team's own
values, so one team's prompt edit makes only its own partitions stale.

Records are rows, partitions are arrival batches (``talent_shared.partitions``). The location's one
sensor (``talent_shared.reconciler.entity_reconciler``) takes the arrivals, materializes ``raw_*``
itself (a runless event per batch it wrote to, carrying the batch's content version) and, in the
same tick, requests a run of the two downstream assets for each batch with stale records, and each step processes only those
records (``talent_shared.lineage``), each on its own: one record's failure is recorded against it and
its batch completes.

Code servers load the declaration with :func:`load_pipeline`, which is what ``dg``'s defs-folder
loader does minus its discovery of every installed component library (``dagster_aws``'s alone
takes ~2.5 s, and health probes wait on the definitions import); a test checks both give the same
definitions.
"""

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import dagster as dg

from talent_shared.compute import STEP_RETRY, op_tags
from talent_shared.compute import Profile as ComputeProfile
from talent_shared.cost.offline import READER_METADATA
from talent_shared.embedding import EmbeddingContract
from talent_shared.ingest.sensor import RAW_CODE_VERSION, SensorSettings
from talent_shared.keys import ENTITY_KEYS, EntityKeys, owner_of
from talent_shared.partitions import PARTITIONS_BY_ENTITY
from talent_shared.prompts import Prompt, prompt_metadata
from talent_shared.providers.factory import llm_code_version
from talent_shared.records import Entity
from talent_shared.resources import EmbedderResource, LLMResource, MeterResource, PostgresResource

if TYPE_CHECKING:
    from talent_shared.lineage import Stage
    from talent_shared.llm.meter import Meter
    from talent_shared.profiles import ExtractionInput, Processed

RUN_COST_TAG = "talent/llm_cost_usd"  # = talent_shared.llm.meter.RUN_COST_TAG, kept import-free here

# Asset bodies import the database and provider modules when they run, not when the code server
# loads definitions: health probes wait on that load.

COMPONENT_TYPE = "talent_shared.pipeline.EntityPipeline"


class ComputeProfiles(dg.Model):
    """The resources each step pod gets (``talent_shared.compute.PROFILES``)."""

    normalized: ComputeProfile = "small"
    vectors: ComputeProfile = "medium"


class Sensor(dg.Model):
    """The ingestion sensor's settings; unset values follow ``TALENT_SENSOR_INTERVAL_SECONDS`` and
    ``TALENT_MAX_RECORDS_PER_TICK``."""

    minimum_interval_seconds: int | None = None
    max_records_per_tick: int | None = None


class Embedding(dg.Model):
    """What the team embeds is its own (``logic_version``); the model is the deployment's contract and
    may only be named here to make the expectation explicit (loading fails when it disagrees)."""

    logic_version: str
    model: str | None = None
    dim: int | None = None


class EntityPipeline(dg.Component, dg.Model, dg.Resolvable):
    """One team's entity pipeline: ``raw_*`` (sensor), ``normalized_*`` (LLM), ``*_vectors`` (embeddings)."""

    entity: Literal["candidate", "job"]
    prompt_file: str = "prompt.txt"
    prompt_version: str
    reader: str  # 'module:function' turning a raw record into (text, hints)
    normalize_version: str
    embedding: Embedding
    compute: ComputeProfiles = ComputeProfiles()
    sensor: Sensor = Sensor()

    def build_defs(self, context: dg.ComponentLoadContext) -> dg.Definitions:
        return self.spec(context.path).definitions()

    def spec(self, folder: Path) -> "PipelineSpec":
        keys = ENTITY_KEYS[self.entity]
        location = owner_of(keys.raw)
        contract = EmbeddingContract.deployed()
        contract.check_declared(location, self.embedding.model, self.embedding.dim)
        for setting, value in self.sensor.model_dump().items():
            if value is not None and value < 1:
                raise ValueError(f"the {location} pipeline's sensor.{setting} must be at least 1, not {value}")
        module, _, name = self.reader.partition(":")
        try:
            reader = getattr(importlib.import_module(module), name, None) if module and name else None
        except ImportError:
            reader = None
        if not callable(reader):
            raise ValueError(f"the {location} pipeline's reader {self.reader!r} is not a 'module:function' that exists")
        return PipelineSpec(
            entity=self.entity,
            location=location,
            keys=keys,
            partitions=PARTITIONS_BY_ENTITY[self.entity],
            prompt=Prompt.from_file(folder / self.prompt_file, self.prompt_version),
            reader=reader,
            reader_ref=self.reader,
            normalize_version=self.normalize_version,
            embed_version=self.embedding.logic_version,
            contract=contract,
            compute=self.compute,
            sensor=SensorSettings(self.sensor.minimum_interval_seconds, self.sensor.max_records_per_tick),
        )


@dataclass(frozen=True)
class PipelineSpec:
    """A loaded :class:`EntityPipeline`: everything its assets, sensor and the cost tools need."""

    entity: Entity
    location: str
    keys: EntityKeys
    partitions: dg.DynamicPartitionsDefinition
    prompt: Prompt
    reader: "ExtractionInput"
    normalize_version: str
    embed_version: str
    contract: EmbeddingContract
    compute: ComputeProfiles = field(default_factory=ComputeProfiles)
    sensor: SensorSettings = field(default_factory=SensorSettings)
    reader_ref: str = ""  # the reader as declared ('module:function'), carried on the assets' metadata

    @property
    def normalized_code_version(self) -> str:
        return f"{self.normalize_version}:{self.prompt.version}:{llm_code_version()}"

    @property
    def vectors_code_version(self) -> str:
        from talent_shared.lexical import LEXICAL_VERSION  # stdlib only: cheap to import

        return f"{self.embed_version}+{LEXICAL_VERSION}:{self.contract.code_version}"

    def llm_assets(self) -> list[tuple[str, str]]:
        """(asset key, code version) of this pipeline's LLM assets, as the budget gate prices them."""
        return [
            (self.keys.normalized.to_user_string(), self.normalized_code_version),
            (self.keys.vectors.to_user_string(), self.vectors_code_version),
        ]

    def prompts(self) -> dict[str, Prompt]:
        """The prompt each of this pipeline's LLM assets sends, by asset key (for token counts)."""
        return {self.keys.normalized.to_user_string(): self.prompt}

    def definitions(self) -> dg.Definitions:
        from talent_shared.reconciler import entity_reconciler, stranded_check
        from talent_shared.resources import deployment_resources

        return dg.Definitions(
            assets=entity_pipeline(self),
            asset_checks=[stranded_check(self.location, self.keys.vectors)],
            sensors=[entity_reconciler(self)],
            resources=deployment_resources(),
        )


def load_pipeline(folder: Path) -> PipelineSpec:
    """The :class:`EntityPipeline` declared in ``folder/defs.yaml``, loaded."""
    import yaml

    path = folder / "defs.yaml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    if doc.get("type") != COMPONENT_TYPE:
        raise ValueError(f"{path}: type must be {COMPONENT_TYPE}, not {doc.get('type')!r}")
    component = EntityPipeline.from_attributes_dict(attributes=doc.get("attributes") or {})
    return component.spec(folder)


def usage_metadata(meter: "Meter") -> dict[str, Any]:
    """A materialization's LLM metadata: calls, tokens by type, cost, cache hits and savings, errors.

    ``llm_cost_usd`` is what this step paid (sum of its ledger rows); ``llm_run_cost_usd`` is the
    whole run so far, also put on the run as the ``talent/llm_cost_usd`` tag (see ``Meter.tag_run``).
    """
    return meter.metadata()


def _run_stage(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    meter_resource: MeterResource,
    spec: PipelineSpec,
    stage: "Stage",
    code_version: str,
    work: Callable[..., "Processed"],
) -> dg.MaterializeResult:
    """A stage's step over its batches: the records that are stale for it (``lineage.todo``), budget
    preflight for those, the work one record at a time, and the counts as metadata. Batches are
    locked for the step (a second run of the same batch waits, then finds nothing to do)."""
    from talent_shared import lineage
    from talent_shared.cost.budget import preflight
    from talent_shared.llm.meter import BudgetExceeded
    from talent_shared.settings import get_settings

    keys = list(context.partition_keys)
    with meter_resource.for_asset(context) as meter, postgres.connect() as conn:
        for key in sorted(keys):
            conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (f"talent:{spec.entity}:{stage}:{key}",))
        try:
            todo = lineage.todo(conn, spec.entity, stage, keys, code_version)
            conn.commit()
            ids = [t.record_id for t in todo]
            processed = None
            if ids:
                preflight(context, meter, len(ids))
                try:
                    processed = work(
                        conn,
                        ids,
                        meter,
                        attempts={t.record_id: t.attempts for t in todo},
                        max_attempts=get_settings().max_attempts,
                    )
                except BudgetExceeded as exc:
                    raise dg.Failure(description=f"LLM budget: {exc}", allow_retries=False) from exc
            lineage.close_batches(conn, spec.entity, stage, keys, code_version)
            conn.commit()
            version = lineage.output_version(conn, spec.entity, stage, keys)
        finally:
            conn.rollback()
            conn.execute("SELECT pg_advisory_unlock_all()")
        counts = processed.counts if processed else {}
        extra = {
            "batches": len(keys),
            "processed": counts.get("done", 0),
            "failed": counts.get("failed", 0),
            "quarantined": counts.get("quarantined", 0),
            "skipped": lineage.batch_size_of(conn, spec.entity, keys) - len(ids),
        }
        if processed is not None and processed.failed:
            first_id, first_reason = next(iter(processed.failed.items()))
            if not processed.versions:
                # nothing went through: an outage or a refusal of everything, not a bad record; the
                # outcomes are recorded (attempts count) and the run shows failed, without retries
                raise dg.Failure(
                    description=f"every {spec.entity} record of this step failed (first: {first_id}: {first_reason})",
                    metadata=extra,
                    allow_retries=False,
                )
            context.log.warning(
                f"{len(processed.failed)} {spec.entity} records failed this step (first: {first_id});"
                " the rest of the batch completed"
            )
        return metered_step(context, meter, len(ids), extra, data_version=version if len(keys) == 1 else None)


def metered_step(
    context: dg.AssetExecutionContext,
    meter: "Meter",
    records: int,
    extra: dict[str, Any] | None = None,
    *,
    data_version: str | None = None,
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
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(data_version) if data_version else None)


def entity_pipeline(spec: PipelineSpec) -> list[dg.AssetSpec | dg.AssetsDefinition]:
    entity, keys, partitions, group = spec.entity, spec.keys, spec.partitions, spec.location
    reader = {READER_METADATA: spec.reader_ref} if spec.reader_ref else {}
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
        backfill_policy=dg.BackfillPolicy.multi_run(1),
        code_version=spec.normalized_code_version,
        op_tags=op_tags(spec.compute.normalized, pool="llm"),
        retry_policy=STEP_RETRY,
        group_name=group,
        kinds={"postgres", "openai"},
        metadata={**prompt_metadata(spec.prompt), **reader},
        description=f"Structured {entity} profile (skills, seniority, years, title, location, remote) of each record.",
    )
    def _normalized(
        context: dg.AssetExecutionContext, postgres: PostgresResource, llm: LLMResource, meter: MeterResource
    ) -> dg.MaterializeResult:
        from talent_shared.profiles import normalize

        code = spec.normalized_code_version
        return _run_stage(
            context,
            postgres,
            meter,
            spec,
            "normalized",
            code,
            lambda conn, ids, step_meter, **kw: normalize(
                conn,
                entity,
                ids,
                llm.provider_for_step(),
                spec.reader,
                code,
                prompt=spec.prompt,
                meter=step_meter,
                **kw,
            ),
        )

    @dg.asset(
        key=keys.vectors,
        deps=[keys.normalized],
        partitions_def=partitions,
        backfill_policy=dg.BackfillPolicy.multi_run(1),
        code_version=spec.vectors_code_version,
        op_tags=op_tags(spec.compute.vectors, pool="llm"),
        retry_policy=STEP_RETRY,
        group_name=group,
        kinds={"pgvector"},
        metadata=reader,
        description=f"Embedding of each {entity} profile in pgvector.",
    )
    def _vectors(
        context: dg.AssetExecutionContext, postgres: PostgresResource, embedder: EmbedderResource, meter: MeterResource
    ) -> dg.MaterializeResult:
        from talent_shared.vectors import embed

        code = spec.vectors_code_version
        return _run_stage(
            context,
            postgres,
            meter,
            spec,
            "vectors",
            code,
            lambda conn, ids, step_meter, **kw: embed(
                conn,
                entity,
                ids,
                embedder.provider_for_step(),
                meter=step_meter,
                to_input=spec.reader,
                code_version=code,
                **kw,
            ),
        )

    return [raw, _normalized, _vectors]
