"""PodDisruptionBudgets: off by default (as in the official Dagster chart), and when enabled one
per deployment that selects exactly that deployment's pods, validates against Kubernetes 1.32,
and never forbids every eviction (a budget that does blocks each node drain)."""

from __future__ import annotations

import pytest

TEAMS = ("candidates", "jobs", "matching")


@pytest.mark.parametrize("kind", [False, True], ids=["prod", "kind"])
def test_no_budget_by_default(render, kind: bool) -> None:
    releases = [render.render_platform(kind=kind, sets=["webhook.enabled=true"])]
    releases += [render.render_team(t, kind=kind) for t in TEAMS]
    assert [r.all("PodDisruptionBudget") for r in releases] == [[] for _ in releases]


def _selects(pdb, deployment) -> bool:
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    return pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize(
    ("block", "bound", "name"),
    [
        ("dagsterWebserver", "maxUnavailable=1", "platform-webserver"),
        ("dagsterWebserver", "minAvailable=50%", "platform-webserver"),
        ("webhook", "minAvailable=1", "platform-webhook"),
    ],
)
def test_platform_budget(render, k8s_validate, block: str, bound: str, name: str) -> None:
    r = render.render_platform(
        sets=[
            "webhook.enabled=true",
            f"{block}.podDisruptionBudget.enabled=true",
            f"{block}.podDisruptionBudget.{bound}",
        ]
    )
    (pdb,) = r.all("PodDisruptionBudget")
    assert pdb["metadata"]["name"] == name
    key, value = bound.split("=")
    assert pdb["spec"][key] == (value if value.endswith("%") else int(value))
    k8s_validate(pdb)
    selected = [d["metadata"]["name"] for d in r.all("Deployment") if _selects(pdb, d)]
    assert selected == [name]


def test_webhook_budget_follows_the_webhook(render) -> None:
    sets = ["webhook.podDisruptionBudget.enabled=true", "webhook.podDisruptionBudget.minAvailable=1"]
    assert not render.render_platform(sets=["webhook.enabled=false", *sets]).all("PodDisruptionBudget")


@pytest.mark.parametrize("team", TEAMS)
def test_code_server_budget_selects_only_its_team(render, k8s_validate, team: str) -> None:
    sets = [
        "replicaCount=2",
        "podDisruptionBudget.enabled=true",
        "podDisruptionBudget.maxUnavailable=1",
        "podDisruptionBudget.unhealthyPodEvictionPolicy=AlwaysAllow",
    ]
    r = render.render_team(team, sets=sets)
    (pdb,) = r.all("PodDisruptionBudget")
    assert pdb["metadata"]["name"] == f"{team}-code-server"
    assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
    k8s_validate(pdb)
    # Every team's pods share a namespace: the selector must miss the other teams' code servers.
    for other in TEAMS:
        (dep,) = render.render_team(other).all("Deployment")
        assert _selects(pdb, dep) == (other == team), other


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        ([], "exactly one of minAvailable and maxUnavailable"),
        (["minAvailable=1", "maxUnavailable=1"], "exactly one of minAvailable and maxUnavailable"),
        (["minAvailable=1"], "blocks every node drain"),  # with replicaCount=1
        (["maxUnavailable=0"], "blocks every node drain"),
    ],
)
def test_a_budget_that_blocks_drains_is_refused(render, sets: list[str], message: str) -> None:
    full = ["podDisruptionBudget.enabled=true", *(f"podDisruptionBudget.{s}" for s in sets)]
    with pytest.raises(render.HelmError) as err:
        render.render_team("candidates", sets=["replicaCount=1", *full])
    assert message in err.value.stderr
