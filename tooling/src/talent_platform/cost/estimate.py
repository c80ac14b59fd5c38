"""Estimating LLM cost before it is spent: a deploy, a backfill, or N new records.

**Deploy** (``talent cost estimate``): load ``talent_<loc>.definitions.defs`` for the three locations
(what is about to be deployed), read each asset's ``code_version``, and compare it with the code
version each record was last processed at for that stage (the record lineage,
``talent_shared.lineage``; exact, one row per record). A record whose version differs is stale
(cause ``code``); its downstream stage is stale too (cause ``dependencies``: the reconciler re-runs a
record's vectors when its profile changes). ``matches`` is unpartitioned and incremental: it re-runs
once and explains the top ``EXPLAIN_TOP`` jobs of every candidate whose vector changes. Records
never processed are listed as ``missing`` but not charged: the reconciler processes them whether or
not anything is deployed. The units counted as ``partitions`` below are records.

**Cost of one partition** of an asset, first found of:

1. ``observed``: the ledger's mean cost per partition-materialization of that asset at the new code
   version (e.g. measured in staging), excluding cache hits (cause-driven re-runs have none);
2. ``observed-model``: the same for the configured model (any code version);
3. ``offline`` (:mod:`talent_shared.cost.offline`): token counts of the actual inputs (a sample of
   up to ``SAMPLE`` stored records, counted with the offline tiktoken encodings, as the chat
   messages the provider sends) priced with genai-prices for the configured model; the output
   length is the ledger's mean output tokens for the asset (local providers count what they
   produce), else ``EXTRACT_OUTPUT_TOKENS`` / ``EXPLAIN_OUTPUT_TOKENS``. Local providers are priced
   at 0. To see what a switch to OpenAI would cost, estimate with
   ``TALENT_LLM_PROVIDER=openai TALENT_EMBEDDING_PROVIDER=openai``: the definitions then carry OpenAI
   code versions, every partition is stale, and nothing is observed yet.

An estimate only reads. Asked to (``--record``), it is stored per code location in
``talent.cost_estimates`` (the exporter publishes the latest); :func:`reconcile` later fills
``actual_usd`` from the ledger with what the estimated (asset, code version) pairs really cost since
the estimate, once nothing estimated is left stale and no run is in flight. Recording an estimate
reconciles the previous ones first; ``--reconcile`` does only that.
"""

from __future__ import annotations

import importlib
import json
import random
import sys
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from talent_shared.cost.offline import LLM_ASSETS, READER_METADATA, offline_cost_per_partition, provider_model
from talent_shared.prompts import Prompt, metadata_text, prompt_from_metadata

if TYPE_CHECKING:
    import dagster as dg
    import psycopg

    from talent_platform.progress import Progress

LOCATIONS = ("candidates", "jobs", "matching")
EXPLAIN_TOP = 3  # run_matching's explain_top
SAMPLE = 200
CODE_VERSION_TAG = "dagster/code_version"


# -- what an asset costs per partition ----------------------------------------------------------


def observed_output_tokens(conn: psycopg.Connection, asset_key: str) -> int | None:
    """Mean output tokens per successful call of ``asset_key``, from any provider (the local ones count
    the tokens of what they produce), over the observation window."""
    (mean,) = conn.execute(  # type: ignore[misc]  # an aggregate always returns one row
        "SELECT avg(output_tokens) FROM talent.llm_usage WHERE asset_key = %s AND NOT cache_hit AND status = 'ok'"
        " AND output_tokens > 0 AND created_at >= now() - interval '14 days'",
        (asset_key,),
    ).fetchone()
    return None if mean is None else round(float(mean))


def _sample_inputs(conn: psycopg.Connection, node: Node, partitions: list[str]) -> list[str]:
    """What the asset would send for a sample of the partitions: record text, profile text or pair."""
    entity, operation = LLM_ASSETS[node.key]
    sample = random.Random(0).sample(partitions, min(SAMPLE, len(partitions))) if partitions else []
    if operation == "extract" and entity:
        reader = node.read()
        rows = conn.execute(
            "SELECT payload FROM talent.raw_records WHERE entity = %s AND record_id = ANY(%s)", (entity, sample)
        ).fetchall()
        return [reader(p)[0] for (p,) in rows]
    if operation == "embed" and entity:
        from talent_shared.vectors import texts_for

        present = [
            r
            for (r,) in conn.execute(
                "SELECT record_id FROM talent.profiles WHERE entity = %s AND record_id = ANY(%s)", (entity, sample)
            )
        ]
        return list(texts_for(conn, entity, sorted(present), node.read()).values())
    # explanations: the user message for pairs of stored profiles
    from talent_shared.prompts import Prompt
    from talent_shared.providers.base import Profile, explanation_messages

    no_prompt = Prompt("", "")  # only the user message is sampled; input_tokens adds the prompt
    cands = conn.execute(
        "SELECT profile FROM talent.profiles WHERE entity = 'candidate' ORDER BY record_id LIMIT 20"
    ).fetchall()
    jobs = conn.execute(
        "SELECT profile FROM talent.profiles WHERE entity = 'job' ORDER BY record_id LIMIT 20"
    ).fetchall()
    return [
        explanation_messages(no_prompt, Profile.model_validate(c), Profile.model_validate(j))[1]["content"]
        for (c,), (j,) in zip(cands, jobs, strict=False)
    ]


@dataclass
class AssetEstimate:
    asset_key: str
    code_location: str
    code_version: str | None
    partitions: int  # partitions (or, for matches, explanation calls) charged
    stale_code: int = 0
    stale_dependencies: int = 0
    missing: int = 0
    per_partition_usd: Decimal = Decimal(0)
    cost_usd: Decimal = Decimal(0)
    method: str = "none"
    partition_sample: list[str] = field(default_factory=list)


def cost_of(
    conn: psycopg.Connection,
    node: Node,
    partitions: list[str],
    units: int | None = None,
) -> tuple[Decimal, str]:
    """Cost of one unit (a partition; an explanation call for ``matches``) and how it was found."""
    from talent_shared.cost.budget import observed_cost_per_call, observed_cost_per_partition

    location, asset_key, code_version = node.location, node.key, node.code_version
    _, operation = LLM_ASSETS[asset_key]
    _, model = provider_model(operation)
    observe = observed_cost_per_call if operation == "explain" else observed_cost_per_partition
    found = observe(conn, location, asset_key, code_version=code_version)
    if found is not None:
        return found[0], f"observed ({found[1]} at this code version)"
    found = observe(conn, location, asset_key, model=model)
    if found is not None:
        return found[0], f"observed-model ({found[1]} with {model})"
    out = observed_output_tokens(conn, asset_key)
    cost = offline_cost_per_partition(asset_key, _sample_inputs(conn, node, partitions), out, node.prompt)
    return cost, f"offline tokens ({model})" + (
        "" if out is None or operation == "embed" else f", observed output {out}"
    )


# -- the graph as deployed, and the instance's state --------------------------------------------


@dataclass
class Node:
    key: str
    location: str
    code_version: str | None
    parents: list[str]
    partitions_def: str | None
    prompt: Prompt | None = None  # what an LLM asset sends, from its definition's metadata
    reader: str | None = None  # an entity asset's record reader, 'module:function'

    def read(self):
        """The record reader the definition names; JSON text for an asset without one."""
        if not self.reader:
            return lambda payload: (json.dumps(payload), {})
        module, _, name = self.reader.partition(":")
        return getattr(importlib.import_module(module), name)


def deployed_graph(locations: tuple[str, ...] = LOCATIONS, *, fresh: bool = False) -> dict[str, Node]:
    """Materializable assets of the locations' definitions, with code versions and upstream keys.

    ``fresh`` re-imports the definitions modules, so they see settings changed in this process, and
    first every other loaded module of the location: a code version computed when its module is
    imported (``matches``' names the LLM provider) must follow the settings too."""
    graph: dict[str, Node] = {}
    for location in locations:
        name = f"talent_{location}.definitions"
        loaded = name in sys.modules
        module = importlib.import_module(name)
        if fresh and loaded:
            prefix = f"talent_{location}."
            for sub in [m for m in list(sys.modules) if m.startswith(prefix) and m != name]:
                importlib.reload(sys.modules[sub])
            module = importlib.reload(module)
        graph.update(graph_of(location, module.defs))
    return graph


def graph_of(location: str, defs: dg.Definitions) -> dict[str, Node]:
    """One location's materializable assets (``defs`` as it is about to be deployed)."""
    graph: dict[str, Node] = {}
    asset_graph = defs.resolve_asset_graph()
    for key in asset_graph.get_all_asset_keys():
        node = asset_graph.get(key)
        if not node.is_materializable:
            continue
        pdef = node.partitions_def
        graph[key.to_user_string()] = Node(
            key.to_user_string(),
            location,
            node.code_version,
            sorted(p.to_user_string() for p in node.parent_keys),
            getattr(pdef, "name", None) if pdef is not None else None,
            prompt_from_metadata(node.metadata),
            metadata_text(node.metadata.get(READER_METADATA)),
        )
    return graph


# The record stage behind each partitioned asset: its records' code versions are in the lineage.
STAGE_OF: dict[str, tuple[str, str]] = {
    "normalized_candidates": ("candidate", "normalized"),
    "candidate_vectors": ("candidate", "vectors"),
    "normalized_jobs": ("job", "normalized"),
    "job_vectors": ("job", "vectors"),
}


def materialized_versions(conn, instance: dg.DagsterInstance, node: Node) -> dict[str | None, str | None]:
    """unit -> the code version it was last processed at (None: never processed). The units of a
    record stage are its records, read from the lineage (``talent_shared.lineage``); an
    unpartitioned asset's one unit is ``None``, read from its latest materialization."""
    import dagster as dg

    if node.key in STAGE_OF:
        entity, stage = STAGE_OF[node.key]
        rows = conn.execute(
            """
            SELECT record_id, CASE WHEN status = 'pending' THEN NULL ELSE code_version END
            FROM talent.record_stages WHERE entity = %s AND stage = %s
            """,
            (entity, stage),
        ).fetchall()
        return dict(rows)
    key = dg.AssetKey.from_user_string(node.key)
    event = instance.get_latest_materialization_event(key)
    materialization = event.asset_materialization if event is not None else None
    tags = (materialization.tags or {}) if materialization is not None else {}
    return {None: tags.get(CODE_VERSION_TAG) if event else None}


# -- estimates ---------------------------------------------------------------------------------


@dataclass
class Estimate:
    kind: str
    assets: list[AssetEstimate]
    by_location: dict[str, Decimal]
    total_usd: Decimal
    budget_usd: Decimal | None = None
    ids: dict[str, int] = field(default_factory=dict)

    @property
    def over_budget(self) -> bool:
        return self.budget_usd is not None and self.total_usd > self.budget_usd

    def to_json(self) -> dict[str, Any]:
        def conv(v: Any) -> Any:
            if isinstance(v, Decimal):
                return float(v)
            if isinstance(v, dict):
                return {k: conv(x) for k, x in v.items()}
            if isinstance(v, list):
                return [conv(x) for x in v]
            return v

        return conv(
            {
                "kind": self.kind,
                "total_usd": self.total_usd,
                "budget_usd": self.budget_usd,
                "over_budget": self.over_budget,
                "by_location": self.by_location,
                "estimate_ids": self.ids,
                "assets": [asdict(a) for a in self.assets],
            }
        )


def _downstream(graph: dict[str, Node]) -> dict[str, list[str]]:
    children: dict[str, list[str]] = defaultdict(list)
    for node in graph.values():
        for parent in node.parents:
            children[parent].append(node.key)
    return children


def _charge(
    conn,
    graph: dict[str, Node],
    stale: dict[str, set[str | None]],
    causes: dict[str, dict[str, int]],
    missing: dict[str, int],
    progress: Progress | None = None,
) -> list[AssetEstimate]:
    out = []
    changed_candidates = len(stale.get("candidate_vectors", set()))
    keys = sorted(set(stale) | set(missing))
    priced = progress.task("pricing", len(keys), "assets") if progress is not None else None
    for key in keys:
        if priced is not None:
            priced.advance()
        node = graph[key]
        parts = sorted(p for p in stale.get(key, set()) if p is not None)
        if key not in LLM_ASSETS:
            per, method, units = Decimal(0), "no LLM calls", len(stale.get(key, ()))
        elif LLM_ASSETS[key][1] == "explain":
            units = EXPLAIN_TOP * changed_candidates if stale.get(key) else 0
            per, method = cost_of(conn, node, []) if units else (Decimal(0), "nothing changes")
        else:
            units = len(parts)
            per, method = cost_of(conn, node, parts) if units else (Decimal(0), "nothing stale")
        c = causes.get(key, {})
        out.append(
            AssetEstimate(
                key,
                node.location,
                node.code_version,
                units,
                c.get("code", 0),
                c.get("dependencies", 0),
                missing.get(key, 0),
                per,
                per * units,
                method,
                parts[:5],
            )
        )
    if priced is not None:
        priced.close()
    return out


def _propagate(graph: dict[str, Node], stale: dict[str, set[str | None]], causes: dict[str, dict[str, int]]) -> None:
    children = _downstream(graph)
    order = list(graph)  # small graph: iterate to a fixed point
    changed = True
    while changed:
        changed = False
        for key in order:
            for child in children.get(key, []):
                if not stale.get(key):
                    continue
                node = graph[child]
                add = set(stale[key]) if node.partitions_def == graph[key].partitions_def else {None}
                new = add - stale.setdefault(child, set())
                if new:
                    stale[child] |= new
                    causes.setdefault(child, {}).setdefault("dependencies", 0)
                    causes[child]["dependencies"] += len(new)
                    changed = True


def estimate_deploy(
    conn, instance: dg.DagsterInstance, graph: dict[str, Node] | None = None, progress: Progress | None = None
) -> Estimate:
    graph = graph or deployed_graph()
    stale: dict[str, set[str | None]] = {}
    causes: dict[str, dict[str, int]] = {}
    missing: dict[str, int] = {}
    compared = progress.task("comparing code versions", len(graph), "assets") if progress is not None else None
    for key, node in graph.items():
        if compared is not None:
            compared.advance()
        versions = materialized_versions(conn, instance, node)
        code = {p for p, v in versions.items() if v is not None and v != node.code_version}
        absent = [p for p, v in versions.items() if v is None]
        if code:
            stale[key] = set(code)
            causes.setdefault(key, {})["code"] = len(code)
        if absent:
            missing[key] = len(absent)
    if compared is not None:
        compared.close()
    _propagate(graph, stale, causes)
    return _finish(conn, "deploy", graph, _charge(conn, graph, stale, causes, missing, progress))


def estimate_backfill(
    conn,
    instance: dg.DagsterInstance,
    asset_key: str,
    partitions: list[str] | None,
    graph: dict[str, Node] | None = None,
    progress: Progress | None = None,
) -> Estimate:
    graph = graph or deployed_graph()
    if asset_key not in graph:
        raise KeyError(f"unknown asset {asset_key!r}; known: {', '.join(sorted(graph))}")
    node = graph[asset_key]
    if node.partitions_def is None:
        selected: set[str | None] = {None}
    else:
        # a backfill of batches re-runs their records (all of them when no batch is named)
        entity = STAGE_OF[asset_key][0]
        selected = {
            r
            for (r,) in conn.execute(
                "SELECT record_id FROM talent.raw_records WHERE entity = %s"
                " AND (%s::text[] IS NULL OR partition_key = ANY(%s::text[]))",
                (entity, partitions, partitions),
            )
        }
    stale = {asset_key: selected}
    causes = {asset_key: {"code": 0}}
    _propagate(graph, stale, causes)
    return _finish(conn, "backfill", graph, _charge(conn, graph, stale, causes, {}, progress))


def estimate_new_records(
    conn, n: int, entity: str = "candidate", graph: dict[str, Node] | None = None, progress: Progress | None = None
) -> Estimate:
    """N new records of ``entity``: its normalization and vectors, and the explanations of matches
    (``EXPLAIN_TOP`` per new candidate; for a new job, assumed to enter ``EXPLAIN_TOP`` candidates' top lists)."""
    graph = graph or deployed_graph()
    start = "normalized_candidates" if entity == "candidate" else "normalized_jobs"
    fake = {f"new-{i}" for i in range(n)}
    stale: dict[str, set[str | None]] = {start: set(fake)}
    causes: dict[str, dict[str, int]] = {}
    _propagate(graph, stale, causes)
    if entity == "job" and "matches" in stale:
        stale["candidate_vectors"] = set()  # explanations counted below through the job side
    assets = []
    for item in _charge(conn, graph, stale, causes, {}, progress):
        if item.asset_key == "matches" and entity == "job":
            item.partitions = EXPLAIN_TOP * n
            item.per_partition_usd, item.method = cost_of(conn, graph["matches"], [])
            item.cost_usd = item.per_partition_usd * item.partitions
        if item.asset_key in (
            "normalized_candidates",
            "normalized_jobs",
            "candidate_vectors",
            "job_vectors",
        ) and item.method.startswith("offline"):
            # no stored inputs for records that do not exist yet: price the sample of existing ones
            existing = [
                r
                for (r,) in conn.execute(
                    "SELECT record_id FROM talent.raw_records WHERE entity = %s LIMIT %s",
                    (LLM_ASSETS[item.asset_key][0], SAMPLE),
                )
            ]
            item.per_partition_usd = offline_cost_per_partition(
                item.asset_key,
                _sample_inputs(conn, graph[item.asset_key], existing),
                observed_output_tokens(conn, item.asset_key),
                graph[item.asset_key].prompt,
            )
            item.cost_usd = item.per_partition_usd * item.partitions
        item.partition_sample = []
        assets.append(item)
    return _finish(conn, "new-records", graph, assets)


def _finish(conn, kind: str, graph: dict[str, Node], assets: list[AssetEstimate]) -> Estimate:
    by_location: dict[str, Decimal] = {loc: Decimal(0) for loc in sorted({n.location for n in graph.values()})}
    for a in assets:
        by_location[a.code_location] = by_location.get(a.code_location, Decimal(0)) + a.cost_usd
    return Estimate(kind, assets, by_location, sum(by_location.values(), Decimal(0)))


def record(conn, estimate: Estimate) -> dict[str, int]:
    """One ``talent.cost_estimates`` row per code location; returns their ids."""
    ids = {}
    for location, usd in estimate.by_location.items():
        targets = [
            [a.asset_key, a.code_version] for a in estimate.assets if a.code_location == location and a.partitions
        ]
        detail = {
            "targets": targets,
            "assets": [a for a in estimate.to_json()["assets"] if a["code_location"] == location],
        }
        (ids[location],) = conn.execute(
            "INSERT INTO talent.cost_estimates (code_location, estimate_usd, kind, detail) VALUES (%s, %s, %s, %s) RETURNING id",
            (location, usd, estimate.kind, json.dumps(detail)),
        ).fetchone()
    estimate.ids = ids
    return ids


def reconcile(conn, instance: dg.DagsterInstance | None, still_stale: dict[str, set[str]] | None = None) -> list[dict]:
    """Fill ``actual_usd`` of estimates whose work is done: no run in flight, and none of their target
    assets still stale (``still_stale``: location -> asset keys still stale, from a fresh deploy
    comparison). Actual = ledger cost of the target (asset, code version) pairs in the location from
    the estimate's creation until the next estimate of that location."""
    if instance is not None:
        import dagster as dg

        from talent_shared.reconciler import LIVE

        if instance.get_run_records(dg.RunsFilter(statuses=LIVE), limit=1):
            return []
    done = []
    rows = conn.execute(
        """
        SELECT e.id, e.code_location, e.created_at, e.detail, e.estimate_usd,
               (SELECT min(n.created_at) FROM talent.cost_estimates n
                 WHERE n.code_location = e.code_location AND n.created_at > e.created_at) AS next_at
          FROM talent.cost_estimates e WHERE e.actual_usd IS NULL ORDER BY e.id
        """
    ).fetchall()
    for est_id, location, created, detail, estimate_usd, next_at in rows:
        targets = [tuple(t) for t in (detail or {}).get("targets", [])]
        pending = (still_stale or {}).get(location, set())
        if any(asset in pending for asset, _ in targets):
            continue
        actual = Decimal(0)
        for asset, version in targets:
            (cost,) = conn.execute(
                "SELECT coalesce(sum(cost_usd), 0) FROM talent.llm_usage WHERE code_location = %s AND asset_key = %s"
                " AND code_version IS NOT DISTINCT FROM %s AND created_at >= %s AND (%s::timestamptz IS NULL OR created_at < %s)",
                (location, asset, version, created, next_at, next_at),
            ).fetchone()
            actual += Decimal(cost)
        conn.execute(
            "UPDATE talent.cost_estimates SET actual_usd = %s, reconciled_at = now() WHERE id = %s", (actual, est_id)
        )
        done.append(
            {"id": est_id, "code_location": location, "estimate_usd": float(estimate_usd), "actual_usd": float(actual)}
        )
    return done
