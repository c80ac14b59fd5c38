"""One team's prompt is its own: editing it makes only that team's partitions (and what depends on
them) stale, for automation and for the deploy estimate alike, and no other team's LLM is called.

The three locations are evaluated as the daemon would evaluate them, each with its own automation
cursor, on one Dagster instance and one database; requested work is executed with the locations'
real assets (local providers, hashing embedder).
"""

from __future__ import annotations

import hashlib
import importlib
import json
import shutil
from pathlib import Path

import dagster as dg
import pytest

from talent_shared.keys import LOCATIONS

ENTITY = {"candidates": "candidate", "jobs": "job"}
OTHER = {"candidates": "jobs", "jobs": "candidates"}


def _location_defs(location: str) -> dg.Definitions:
    module = importlib.import_module(f"talent_{location}.definitions")
    return importlib.reload(module).defs  # built with this test's settings


def _edited_defs(location: str, tmp_path: Path) -> dg.Definitions:
    """The location's definitions with one line added to its prompt file (a copy of its folder)."""
    from talent_shared.compute import executor
    from talent_shared.pipeline import load_pipeline

    package = importlib.import_module(f"talent_{location}")
    folder = tmp_path / f"{location}-pipeline"
    shutil.copytree(Path(package.__file__).parent / "defs" / "pipeline", folder)
    prompt = folder / "prompt.txt"
    prompt.write_text(prompt.read_text() + "Prefer the most recent title when several are given.\n")
    return dg.Definitions.merge(load_pipeline(folder).definitions(), dg.Definitions(executor=executor("in_process")))


def _report_raw(instance: dg.DagsterInstance, db) -> None:
    """What the ingestion sensors report: a runless materialization per record, data version = content."""
    for entity, key, partitions in (("candidate", "raw_candidates", "candidates"), ("job", "raw_jobs", "jobs")):
        rows = db.execute("SELECT record_id, payload FROM talent.raw_records WHERE entity = %s", (entity,)).fetchall()
        instance.add_dynamic_partitions(partitions, [r for r, _ in rows])
        for record_id, payload in rows:
            version = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]
            instance.report_runless_asset_event(
                dg.AssetMaterialization(
                    key,
                    partition=record_id,
                    tags={"dagster/data_version": version, "dagster/data_version_is_user_provided": "true"},
                )
            )


def _settle(
    defs_by_location: dict[str, dg.Definitions], instance: dg.DagsterInstance, cursors: dict[str, object]
) -> dict[str, set[str | None]]:
    """Evaluate each location's automation and run what it requests, until nothing is requested.

    Returns what ran: asset key -> partitions (``None`` for ``matches``)."""
    ran: dict[str, set[str | None]] = {}
    for _ in range(6):
        requested_any = False
        for location, defs in defs_by_location.items():
            result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursors.get(location))
            cursors[location] = result.cursor
            requested = {
                r.key: (
                    sorted(r.true_subset.expensively_compute_partition_keys())
                    if r.true_subset.is_partitioned
                    else [None]
                )
                for r in result.results
                if r.true_subset.size
            }
            assets = list(defs.assets)
            order = [a.key for a in assets]
            for key in sorted(requested, key=order.index):
                requested_any = True
                for partition in requested[key]:
                    done = dg.materialize(assets, selection=[key], partition_key=partition, instance=instance)
                    assert done.success
                    ran.setdefault(key.to_user_string(), set()).add(partition)
        if not requested_any:
            return ran
    raise AssertionError(f"automation did not settle: last round ran {ran}")


@pytest.fixture
def workspace(talent_env: Path, db, monkeypatch):
    from talent_platform.seed import generate
    from talent_shared.settings import get_settings
    from talent_shared.testing import store_records

    monkeypatch.setenv("TALENT_EMBEDDING_PROVIDER", "hashing")
    get_settings.cache_clear()
    cands, jobs = generate(3, 2, seed=5)
    store_records(db, "candidate", cands)
    store_records(db, "job", jobs)
    db.commit()
    home = talent_env / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        defs = {location: _location_defs(location) for location in LOCATIONS}
        _report_raw(instance, db)
        cursors: dict[str, object] = {}
        first = _settle(defs, instance, cursors)
        assert set(first) == {"normalized_candidates", "candidate_vectors", "normalized_jobs", "job_vectors", "matches"}
        assert _settle(defs, instance, cursors) == {}  # settled: nothing is stale
        yield instance, defs, cursors


@pytest.mark.parametrize("team", ["candidates", "jobs"])
def test_a_prompt_edit_reruns_only_its_team_and_matches(workspace, db, tmp_path: Path, team: str) -> None:
    from talent_platform.cost.estimate import estimate_deploy, graph_of

    instance, defs, cursors = workspace
    entity, other = ENTITY[team], OTHER[team]
    ids = {r for (r,) in db.execute("SELECT record_id FROM talent.raw_records WHERE entity = %s", (entity,))}
    edited = dict(defs, **{team: _edited_defs(team, tmp_path)})
    before = {c for (c,) in db.execute("SELECT call_id FROM talent.llm_usage")}

    # the deploy estimate of the edited workspace: this team's normalization by code, what follows by dependency
    graph = {}
    for location, location_defs in edited.items():
        graph.update(graph_of(location, location_defs))
    estimate = {a.asset_key: a for a in estimate_deploy(db, instance, graph).assets}
    normalized, vectors = f"normalized_{team}", f"{entity}_vectors"
    assert estimate[normalized].stale_code == len(ids) and estimate[normalized].partitions == len(ids)
    assert estimate[vectors].stale_dependencies == len(ids)
    assert estimate["matches"].stale_dependencies == 1  # re-runs once (it is unpartitioned)
    for key in (f"normalized_{other}", f"{ENTITY[other]}_vectors"):
        assert key not in estimate or (estimate[key].partitions, estimate[key].stale_code) == (0, 0), key

    # automation: exactly this team's partitions, then matches; nothing of the other team
    ran = _settle(edited, instance, cursors)
    assert ran == {normalized: ids, vectors: ids, "matches": {None}}
    called = {
        (asset, partition)
        for call, asset, partition in db.execute(
            "SELECT call_id, asset_key, partition_key FROM talent.llm_usage WHERE operation = 'chat'"
        )
        if call not in before
    }
    assert {asset for asset, _ in called} <= {normalized, "matches"} and (normalized, sorted(ids)[0]) in called
    assert not any(asset.endswith(other) or asset.startswith(ENTITY[other]) for asset, _ in called)
    assert _settle(edited, instance, cursors) == {}
