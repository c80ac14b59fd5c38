"""The three locations as one workspace: every dependency points at a key exactly one location
owns, the owners match talent_shared.keys.OWNERS, and the stubs match their owners."""

import importlib

import dagster as dg
import pytest

from talent_shared.keys import LOCATIONS, OWNERS


def _defs(location: str) -> dg.Definitions:
    return importlib.import_module(f"talent_{location}.definitions").defs


def workspace_problems(defs_by_location: dict[str, dg.Definitions]) -> list[str]:
    """What is wrong with these locations seen as one workspace (empty when nothing is)."""
    problems: list[str] = []
    owners: dict[dg.AssetKey, list[str]] = {}
    specs: dict[str, dict[dg.AssetKey, dg.AssetSpec]] = {}
    for location, defs in defs_by_location.items():
        graph = defs.resolve_asset_graph()
        specs[location] = {}
        for key in graph.get_all_asset_keys():
            node = graph.get(key)
            specs[location][key] = node
            if (location in OWNERS and key in OWNERS[location]) or node.is_executable:
                owners.setdefault(key, []).append(location)
    for key, where in owners.items():
        if len(where) > 1:
            problems.append(f"{key.to_user_string()} is owned by {sorted(where)}")
    for location, nodes in specs.items():
        for key, node in nodes.items():
            for parent in node.parent_keys:
                if parent not in owners:
                    problems.append(
                        f"{location}: {key.to_user_string()} depends on {parent.to_user_string()}, which no location owns"
                    )
            if key not in owners:
                problems.append(f"{location}: {key.to_user_string()} is referenced but no location owns it")
            elif location not in owners[key]:
                owner = owners[key][0]
                theirs = specs[owner][key]
                if node.partitions_def != theirs.partitions_def:
                    problems.append(
                        f"{location}: stub of {key.to_user_string()} has other partitions than {owner}'s asset"
                    )
    return problems


@pytest.fixture(scope="module")
def workspace() -> dict[str, dg.Definitions]:
    return {location: _defs(location) for location in LOCATIONS}


def test_workspace_is_consistent(workspace) -> None:
    assert workspace_problems(workspace) == []


def test_owners_match_the_contract(workspace) -> None:
    for location, keys in OWNERS.items():
        graph = workspace[location].resolve_asset_graph()
        assert set(keys) <= set(graph.get_all_asset_keys()), location


def test_cross_location_edges(workspace) -> None:
    graph = workspace["matching"].resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get(dg.AssetKey("matches")).parent_keys} == {
        "candidate_vectors",
        "job_vectors",
    }


def test_a_misspelt_dependency_is_caught(workspace) -> None:
    @dg.asset(deps=[dg.AssetKey("candidate_vector")])  # the typo under test
    def matches_v2() -> None: ...

    broken = dict(workspace, matching=dg.Definitions(assets=[matches_v2]))
    problems = workspace_problems(broken)
    assert any("candidate_vector, which no location owns" in p for p in problems), problems


def test_a_key_owned_twice_is_caught(workspace) -> None:
    @dg.asset(key="job_vectors")
    def rogue() -> None: ...

    broken = dict(workspace, matching=dg.Definitions(assets=[rogue]))
    assert any("job_vectors is owned by" in p for p in workspace_problems(broken))


def test_a_stub_with_other_partitions_is_caught(workspace) -> None:
    broken = dict(workspace, matching=dg.Definitions(assets=[dg.AssetSpec("candidate_vectors")]))
    assert any("other partitions" in p for p in workspace_problems(broken))
