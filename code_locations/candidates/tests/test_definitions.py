"""The candidates location: its definitions, and its assets run on a real database."""

import dagster as dg
import pytest
from dagster_k8s.job import get_user_defined_k8s_config

from talent_candidates.definitions import defs
from talent_shared.compute import K8S_CONFIG_TAG
from talent_shared.testing import store_records

RECORD = {
    "id": "c-1",
    "name": "Chen Wei",
    "headline": "ICU Nurse",
    "resume_text": "RN with 6 years in intensive care: IV therapy, ACLS, BLS.",
    "skills": ["Critical Care"],
    "years_experience": 6,
}


@pytest.fixture(scope="module")
def graph():
    return defs.resolve_asset_graph()


def test_owns_its_three_assets(graph) -> None:
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"raw_candidates", "normalized_candidates", "candidate_vectors"}


def test_every_asset_has_a_code_version_and_executables_declare_resources(graph) -> None:
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.code_version, key
        if node.is_executable:
            assert K8S_CONFIG_TAG in node.assets_def.op.tags, key
            resources = get_user_defined_k8s_config(node.assets_def.op.tags).container_config["resources"]
            assert resources["requests"] and resources["limits"], key


def test_sensors_run_by_default() -> None:
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == {"candidates_ingest", "candidates_automation"}
    assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())


def test_in_process_executor_locally() -> None:
    assert defs.resolve_implicit_global_asset_job_def().executor_def.name == "in_process"


def test_normalizes_and_embeds_a_partition(talent_env, db) -> None:
    (record_id,) = store_records(db, "candidate", [RECORD])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("candidates", [record_id])
        result = dg.materialize(
            [a for a in defs.assets if isinstance(a, dg.AssetsDefinition)],
            partition_key=record_id,
            instance=instance,
        )
        assert result.success
        metadata = result.asset_materializations_for_node(
            next(
                a.op.name
                for a in defs.assets
                if isinstance(a, dg.AssetsDefinition) and a.key.to_user_string() == "normalized_candidates"
            )
        )[0].metadata
        assert metadata["llm_calls"].value == 1 and metadata["llm_input_tokens"].value > 0
    profile = db.execute("SELECT profile FROM talent.profiles WHERE record_id = %s", (record_id,)).fetchone()[0]
    assert profile["skills"] and profile["years_experience"] >= 5
    (dims,) = db.execute(
        "SELECT vector_dims(embedding) FROM talent.candidate_vectors WHERE record_id = %s", (record_id,)
    ).fetchone()
    assert dims == 384
