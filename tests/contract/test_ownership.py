"""One team's prompt is its own: editing it makes only that team's records (and what depends on
them) stale, for the reconcilers and for the deploy estimate alike, and no other team's LLM is called.

The three locations' reconcilers are ticked as the daemon would tick them, on one Dagster instance
and one database; the runs they request are executed with the locations' real assets (local
providers, hashing embedder). What ran is read from the record lineage: the records each stage
(re)processed, and whether ``matches`` ran.
"""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import dagster as dg
import pytest

from talent_shared.keys import LOCATIONS

ENTITY = {"candidates": "candidate", "jobs": "job"}
OTHER = {"candidates": "jobs", "jobs": "candidates"}
STAGE_ASSET = {
    ("candidate", "normalized"): "normalized_candidates",
    ("candidate", "vectors"): "candidate_vectors",
    ("job", "normalized"): "normalized_jobs",
    ("job", "vectors"): "job_vectors",
}


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


def _runs(db) -> dict[tuple[str, str], str | None]:
    rows = db.execute("SELECT entity, stage, record_id, run_id FROM talent.record_stages").fetchall()
    return {(STAGE_ASSET[(e, s)], r): run for e, s, r, run in rows}


def _settle(
    defs_by_location: dict[str, dg.Definitions], instance: dg.DagsterInstance, db
) -> dict[str, set[str | None]]:
    """Tick each location's reconciler and run what it requests, until nothing is requested.

    Returns what ran: asset key -> records it processed (``{None}`` for ``matches``)."""
    from talent_shared.testing import settle

    before = _runs(db)
    ran: dict[str, set[str | None]] = {}
    for request in settle(defs_by_location, instance):
        if request.partition_key is None:
            ran.setdefault("matches", set()).add(None)
    for (asset, record), run in _runs(db).items():
        if before.get((asset, record)) != run:
            ran.setdefault(asset, set()).add(record)
    return ran


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
        first = _settle(defs, instance, db)
        assert set(first) == {"normalized_candidates", "candidate_vectors", "normalized_jobs", "job_vectors", "matches"}
        assert _settle(defs, instance, db) == {}  # settled: nothing is stale
        yield instance, defs


@pytest.mark.parametrize("team", ["candidates", "jobs"])
def test_a_prompt_edit_reruns_only_its_team_and_matches(workspace, db, tmp_path: Path, team: str) -> None:
    from talent_platform.cost.estimate import estimate_deploy, graph_of

    instance, defs = workspace
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

    # the reconcilers: exactly this team's records are normalized again; their vectors (then matches)
    # only where the profile came out different (the estimate above is the upper bound); nothing of
    # the other team
    profiles = dict(db.execute("SELECT record_id, data_version FROM talent.profiles WHERE entity = %s", (entity,)))
    ran = _settle(edited, instance, db)
    changed = {
        r
        for r, v in db.execute("SELECT record_id, data_version FROM talent.profiles WHERE entity = %s", (entity,))
        if profiles.get(r) != v
    }
    expected: dict[str, set[str | None]] = {normalized: ids}
    if changed:
        expected |= {vectors: changed, "matches": {None}}
    assert ran == expected
    called = {
        (asset, partition)
        for call, asset, partition in db.execute(
            "SELECT call_id, asset_key, partition_key FROM talent.llm_usage WHERE operation = 'chat'"
        )
        if call not in before
    }
    assert {asset for asset, _ in called} <= {normalized, "matches"} and (normalized, sorted(ids)[0]) in called
    assert not any(asset.endswith(other) or asset.startswith(ENTITY[other]) for asset, _ in called)
    assert _settle(edited, instance, db) == {}
