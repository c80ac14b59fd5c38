"""``talent cost estimate``: stale records from code versions (downstream included), costs from the
ledger or from offline tokens, budget exit code, recorded estimates and their reconciliation."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
from typer.testing import CliRunner

from talent_shared.testing import store_records

IDS = ["c-1", "c-2", "c-3"]


@pytest.fixture
def materialized(talent_env: Path, db):
    """Three candidates normalized and embedded (local providers) in a persistent instance."""
    from talent_candidates.definitions import defs

    assets = list(defs.assets)

    store_records(
        db,
        "candidate",
        [
            {"id": i, "name": "A", "resume_text": f"Senior ICU nurse {i}, 8 years, triage and critical care."}
            for i in IDS
        ],
    )
    home = talent_env / "dagster"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\n")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("candidate_batches", ["b000000"])  # the three records' batch
        result = dg.materialize(
            assets, resources=defs.resources, instance=instance, selection=assets[1:], partition_key="b000000"
        )
        assert result.success
        yield home, instance


def _ledger(
    db,
    asset: str,
    version: str,
    cost: str,
    n: int,
    *,
    location: str = "candidates",
    run: str = "r-old",
    days_ago: int = 1,
) -> None:
    for i in range(n):
        db.execute(
            "INSERT INTO talent.llm_usage (call_id, run_id, asset_key, partition_key, code_location, code_version,"
            " provider, model, operation, cost_usd, status, created_at)"
            " VALUES (%s, %s, %s, %s, %s, %s, 'openai', 'gpt-4o-mini-2024-07-18', 'chat', %s, 'ok',"
            " now() - make_interval(days => %s))",
            (f"{run}-{asset}-{i}", run, asset, f"p-{i}", location, version, Decimal(cost), days_ago),
        )
    db.commit()


def test_nothing_stale_right_after_materializing(materialized, db) -> None:
    from talent_platform.cost.estimate import estimate_deploy

    _, instance = materialized
    result = estimate_deploy(db, instance)
    assert result.total_usd == 0
    assert all(a.partitions == 0 for a in result.assets if a.asset_key != "matches")


def test_code_bump_marks_partitions_and_downstream_stale_and_uses_observed_cost(materialized, db) -> None:
    from talent_platform.cost.estimate import deployed_graph, estimate_deploy, reconcile, record

    _, instance = materialized
    graph = deployed_graph()
    graph["normalized_candidates"] = replace(graph["normalized_candidates"], code_version="normalize-2:bumped")
    # staging measured the new version at $0.002 per record
    _ledger(db, "normalized_candidates", "normalize-2:bumped", "0.002", 10, run="staging")

    result = estimate_deploy(db, instance, graph)
    by_key = {a.asset_key: a for a in result.assets}
    norm, vec, matches = by_key["normalized_candidates"], by_key["candidate_vectors"], by_key["matches"]
    assert (norm.stale_code, norm.partitions, norm.method.split()[0]) == (3, 3, "observed")
    assert norm.cost_usd == Decimal("0.006")
    assert (vec.stale_code, vec.stale_dependencies, vec.partitions) == (0, 3, 3)
    assert vec.cost_usd == 0  # local embedder: priced at zero
    assert matches.partitions == 3 * 3  # three explanations per changed candidate
    assert result.by_location["candidates"] == Decimal("0.006") and result.total_usd == Decimal("0.006")

    ids = record(db, result)
    db.commit()
    assert set(ids) == {"candidates", "jobs", "matching"}
    # candidates not finished yet (still stale): not reconciled; the others had nothing to wait for
    early = reconcile(db, instance, {"candidates": {"normalized_candidates"}})
    assert {r["code_location"] for r in early} == {"jobs", "matching"}
    # the deploy's runs happen: 3 records at the new version, $0.0025 each
    _ledger(db, "normalized_candidates", "normalize-2:bumped", "0.0025", 3, run="after-deploy", days_ago=0)
    done = {r["code_location"]: r for r in reconcile(db, instance, {})}
    db.commit()
    assert done["candidates"]["actual_usd"] == pytest.approx(0.0075) and done["candidates"][
        "estimate_usd"
    ] == pytest.approx(0.006)
    (actual,) = db.execute(
        "SELECT actual_usd FROM talent.cost_estimates WHERE id = %s", (ids["candidates"],)
    ).fetchone()
    assert actual == Decimal("0.0075")


def test_switching_to_openai_is_priced_from_offline_tokens(materialized, db, monkeypatch) -> None:
    """Definitions loaded with the OpenAI provider carry new code versions: everything is stale and
    nothing is observed yet, so the inputs' offline token counts are priced with genai-prices."""
    from talent_candidates.definitions import pipeline
    from talent_candidates.reading import candidate_input
    from talent_platform.cost import estimate
    from talent_shared.llm.encodings import count_tokens
    from talent_shared.llm.pricing import estimate_price
    from talent_shared.providers.base import extraction_messages
    from talent_shared.providers.local import messages_tokens
    from talent_shared.settings import get_settings

    _, instance = materialized
    monkeypatch.setenv("TALENT_LLM_PROVIDER", "openai")
    monkeypatch.setenv("TALENT_EMBEDDING_PROVIDER", "openai")
    get_settings.cache_clear()
    try:
        graph = estimate.deployed_graph(("candidates",), fresh=True)
        for key in ("normalized_candidates", "candidate_vectors"):
            assert ":openai:" in graph[key].code_version
        result = estimate.estimate_deploy(db, instance, graph)
        by_key = {a.asset_key: a for a in result.assets}
        norm = by_key["normalized_candidates"]
        # output length: what the local extractor produced for these records, as counted in the ledger
        (out,) = db.execute(
            "SELECT round(avg(output_tokens)) FROM talent.llm_usage WHERE asset_key = 'normalized_candidates'"
        ).fetchone()
        assert norm.partitions == 3 and norm.method == f"offline tokens (gpt-4o-mini), observed output {int(out)}"
        payloads = [p for (p,) in db.execute("SELECT payload FROM talent.raw_records ORDER BY record_id")]
        # what the OpenAI provider would send: the team's prompt and the record text, as chat messages
        sent = [
            messages_tokens(extraction_messages(pipeline.prompt, candidate_input(p)[0]), "gpt-4o-mini")
            for p in payloads
        ]
        assert all(
            n > count_tokens(candidate_input(p)[0], "gpt-4o-mini") + 250 for n, p in zip(sent, payloads, strict=True)
        )
        expected = estimate_price("openai", "gpt-4o-mini", round(sum(sent) / 3), int(out)).cost_usd
        assert norm.per_partition_usd == expected > 0
        vec = by_key["candidate_vectors"]
        assert vec.partitions == 3 and vec.cost_usd > 0 and vec.method == "offline tokens (text-embedding-3-small)"
    finally:
        monkeypatch.delenv("TALENT_LLM_PROVIDER")
        monkeypatch.delenv("TALENT_EMBEDDING_PROVIDER")
        get_settings.cache_clear()
        estimate.deployed_graph(("candidates",), fresh=True)  # back to the local definitions for later tests


def test_cli_budget_exit_code_new_records_and_backfill(materialized, db, monkeypatch) -> None:
    from talent_platform.cli import EXIT_OVER_BUDGET, app

    home, _ = materialized
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    _ledger(db, "normalized_candidates", "normalize-0:old", "0.001", 4)  # gpt-4o-mini, an older code version
    runner = CliRunner()

    deploy = runner.invoke(app, ["cost", "estimate", "--json", "--budget", "1", "--record"])
    assert deploy.exit_code == 0, deploy.output
    body = json.loads(deploy.stdout)  # progress goes to stderr
    assert body["kind"] == "deploy" and body["total_usd"] == 0 and not body["over_budget"]
    assert set(body["estimate_ids"]) == {"candidates", "jobs", "matching"}

    # 1000 new candidates at the observed $0.001 (any code version, same model as the observations)
    monkeypatch.setenv("TALENT_LLM_PROVIDER", "openai")
    from talent_shared.settings import get_settings

    get_settings.cache_clear()
    new = runner.invoke(app, ["cost", "estimate", "--json", "--new-records", "1000", "--budget", "0.5", "--record"])
    assert new.exit_code == EXIT_OVER_BUDGET == 3, new.output  # over budget is not a failure (1)
    assert "over budget: $" in new.stderr
    body = json.loads(new.stdout)
    norm = next(a for a in body["assets"] if a["asset_key"] == "normalized_candidates")
    assert norm["partitions"] == 1000 and norm["method"].startswith("observed-model")
    assert norm["cost_usd"] == pytest.approx(1.0)
    assert body["over_budget"] and body["total_usd"] >= 1.0

    backfill = runner.invoke(
        app, ["cost", "estimate", "--json", "--backfill", "normalized_candidates:b000000", "--record"]
    )
    assert backfill.exit_code == 0, backfill.output
    body = json.loads(backfill.stdout)
    units = {a["asset_key"]: a["partitions"] for a in body["assets"]}  # records, of the batch's three
    assert units["normalized_candidates"] == 3 and units["candidate_vectors"] == 3 and units["matches"] == 9
    monkeypatch.delenv("TALENT_LLM_PROVIDER")
    get_settings.cache_clear()
    from talent_platform.cost.estimate import deployed_graph

    deployed_graph(fresh=True)  # the CLI reloaded the definitions under OpenAI settings: back to local

    kinds = [k for (k,) in db.execute("SELECT DISTINCT kind FROM talent.cost_estimates")]
    assert sorted(kinds) == ["backfill", "deploy", "new-records"]


def test_an_estimate_writes_nothing_unless_asked_to_record(materialized, db, monkeypatch) -> None:
    """A CI gate estimates with a read-only role: plain ``talent cost estimate`` must not insert its
    estimate nor reconcile earlier ones; ``--record`` does both."""
    from talent_platform.cli import app

    home, _ = materialized
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    # an earlier estimate whose work is done: the next recording run fills in its actual cost
    (earlier,) = db.execute(
        "INSERT INTO talent.cost_estimates (code_location, estimate_usd, kind, detail)"
        " VALUES ('jobs', 0.5, 'deploy', '{\"targets\": []}') RETURNING id"
    ).fetchone()
    db.commit()
    runner = CliRunner()

    def stored() -> list[tuple]:
        db.commit()  # a fresh snapshot
        return db.execute("SELECT id, actual_usd FROM talent.cost_estimates ORDER BY id").fetchall()

    before = stored()
    plain = runner.invoke(app, ["cost", "estimate", "--json", "--budget", "1"])
    assert plain.exit_code == 0, (plain.output, plain.exception)
    body = json.loads(plain.stdout)
    assert body["estimate_ids"] == {} and body["reconciled"] == []
    assert stored() == before == [(earlier, None)]

    recorded = runner.invoke(app, ["cost", "estimate", "--json", "--record"])
    assert recorded.exit_code == 0, (recorded.output, recorded.exception)
    body = json.loads(recorded.stdout)
    assert set(body["estimate_ids"]) == {"candidates", "jobs", "matching"}
    assert [r["id"] for r in body["reconciled"]] == [earlier]
    after = stored()
    assert len(after) == 4 and after[0] == (earlier, Decimal(0))


def test_progress_goes_to_the_terminal_and_json_to_stdout(materialized, monkeypatch) -> None:
    """At a terminal (stderr a tty, stdout piped to jq, say) the steps are drawn live while stdout
    keeps only the JSON; in a log (no tty) the same steps are plain lines without control codes."""
    import os
    import re
    import sys

    from talent_platform.cli import app
    from talent_platform.testing import in_terminal

    home, _ = materialized
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    talent = str(Path(sys.executable).parent / "talent")
    code, screen, out = in_terminal([talent, "cost", "estimate", "--json"], dict(os.environ), stdout_pipe=True)
    assert code == 0, screen
    assert json.loads(out)["kind"] == "deploy"
    assert "\x1b[?25l" in screen  # rich's live display hid the cursor while it redrew
    shown = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen)
    for step in ("opening the database and the Dagster instance", "loading the definitions", "comparing code"):
        assert step in shown, shown
    assert re.search(r"comparing code versions\s.*?(\d+)/\1 assets", shown), shown

    logged = CliRunner().invoke(app, ["cost", "estimate", "--json"])
    assert logged.exit_code == 0, logged.output
    assert json.loads(logged.stdout)["kind"] == "deploy"
    lines = logged.stderr.splitlines()
    assert "opening the database and the Dagster instance ..." in lines
    assert any(re.fullmatch(r"comparing code versions: (\d+)/\1 assets \(\d+\.\ds\)", line) for line in lines), lines
    assert "\x1b" not in logged.stderr
