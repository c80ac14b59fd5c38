"""Staleness is data or code, never time: the automation condition, evaluated without a daemon."""

import dagster as dg
import pytest

from talent_shared.automation import input_or_code_changed

PARTS = dg.DynamicPartitionsDefinition(name="things")
RAW = dg.AssetSpec("raw", partitions_def=PARTS)


def _defs(code_version: str = "1") -> dg.Definitions:
    @dg.asset(deps=[RAW], partitions_def=PARTS, code_version=code_version, automation_condition=input_or_code_changed())
    def normalized() -> None: ...

    @dg.asset(deps=[normalized], partitions_def=PARTS, code_version="1", automation_condition=input_or_code_changed())
    def vectors() -> None: ...

    return dg.Definitions(assets=[RAW, normalized, vectors])


def _raw(instance: dg.DagsterInstance, partition: str, version: str) -> None:
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            "raw",
            partition=partition,
            tags={"dagster/data_version": version, "dagster/data_version_is_user_provided": "true"},
        )
    )


def _materialize(instance: dg.DagsterInstance, key: str, partitions: list[str]) -> None:
    for p in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=p))


def _requested(result) -> dict[str, set[str]]:
    return {
        r.key.to_user_string(): set(r.true_subset.expensively_compute_partition_keys())
        for r in result.results
        if r.true_subset.size
    }


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("things", ["a", "b", "c"])
        yield inst


def test_records_that_landed_before_the_first_tick_are_processed(instance) -> None:
    for p in ("a", "b", "c"):
        _raw(instance, p, f"v-{p}")
    result = dg.evaluate_automation_conditions(defs=_defs(), instance=instance)
    assert _requested(result) == {"normalized": {"a", "b", "c"}, "vectors": {"a", "b", "c"}}


def test_same_data_version_triggers_nothing_new_one_triggers_its_partition(instance) -> None:
    defs = _defs()
    for p in ("a", "b", "c"):
        _raw(instance, p, f"v-{p}")
    first = dg.evaluate_automation_conditions(defs=defs, instance=instance)
    _materialize(instance, "normalized", ["a", "b", "c"])
    _materialize(instance, "vectors", ["a", "b", "c"])
    settled = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=first.cursor)
    assert settled.total_requested == 0

    _raw(instance, "a", "v-a")  # re-materialized, same content
    same = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=settled.cursor)
    assert same.total_requested == 0

    _raw(instance, "b", "v-b2")  # edited
    edited = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=same.cursor)
    assert _requested(edited) == {"normalized": {"b"}, "vectors": {"b"}}


def test_a_run_that_updated_parent_and_child_together_is_not_repeated(instance) -> None:
    defs = _defs()
    assets = [RAW, *[a for a in defs.assets if isinstance(a, dg.AssetsDefinition)]]

    def run_both() -> None:
        result = dg.materialize(assets, selection=["normalized", "vectors"], partition_key="a", instance=instance)
        assert result.success

    _raw(instance, "a", "v-a")
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    run_both()
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor).cursor
    _raw(instance, "a", "v-a2")  # edited: both are requested, and run together
    edited = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert _requested(edited) == {"normalized": {"a"}, "vectors": {"a"}}
    run_both()
    after = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=edited.cursor)
    assert after.total_requested == 0


def test_code_version_change_reruns_every_partition(instance) -> None:
    for p in ("a", "b", "c"):
        _raw(instance, p, f"v-{p}")
    first = dg.evaluate_automation_conditions(defs=_defs("1"), instance=instance)
    _materialize(instance, "normalized", ["a", "b", "c"])
    _materialize(instance, "vectors", ["a", "b", "c"])
    settled = dg.evaluate_automation_conditions(defs=_defs("1"), instance=instance, cursor=first.cursor)
    assert settled.total_requested == 0
    bumped = dg.evaluate_automation_conditions(defs=_defs("2"), instance=instance, cursor=settled.cursor)
    assert _requested(bumped)["normalized"] == {"a", "b", "c"}


def test_time_alone_triggers_nothing(instance) -> None:
    import time

    defs = _defs()
    _raw(instance, "a", "v-a")
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
    _materialize(instance, "normalized", ["a"])
    _materialize(instance, "vectors", ["a"])
    cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor).cursor
    time.sleep(1.1)
    later = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert later.total_requested == 0
