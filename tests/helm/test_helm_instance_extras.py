"""The official chart's `retention` and `additionalInstanceConfig` blocks: off and empty by default
(the instance is as before), and when set they reach dagster.yaml in the form Dagster reads, checked
with Dagster's own schema and its own reading of tick retention. additionalInstanceConfig adds to
the instance and cannot replace what the chart renders from its values."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml


def _instance(render, sets: list[str], kind: bool = False) -> dict[str, Any]:
    return render.instance_yaml(render.render_platform(kind=kind, sets=sets))


def _loaded(instance: dict[str, Any], tmp_path: Path) -> Any:
    """The instance config as Dagster loads it from $DAGSTER_HOME (its schema applied)."""
    from dagster._core.instance.config import dagster_instance_config

    home = tmp_path / "dagster_home"
    home.mkdir(exist_ok=True)
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    config, _ = dagster_instance_config(str(home))
    return config


@pytest.mark.parametrize("kind", [False, True], ids=["prod", "kind"])
def test_off_and_empty_by_default(render, kind: bool) -> None:
    instance = _instance(render, [], kind)
    assert "retention" not in instance
    assert set(instance) == {
        "storage",
        "run_launcher",
        "run_coordinator",
        "concurrency",
        "run_monitoring",
        "run_retries",
        "scheduler",
        "compute_logs",
        "telemetry",
    }


def test_retention_is_the_purge_days_dagster_reads(render, tmp_path) -> None:
    """Per status for sensors, one number for schedules, none for automation: Dagster purges what
    the values say and keeps its defaults where they say nothing."""
    from dagster._core.definitions.run_request import InstigatorType
    from dagster._core.instance.config import get_default_tick_retention_settings, get_tick_retention_settings
    from dagster._core.scheduler.instigation import TickStatus

    sensor = {"skipped": 3, "success": 14, "failure": 30, "started": -1}
    sets = [
        "retention.enabled=true",
        f"json:retention.sensor.purgeAfterDays={json.dumps(sensor)}",
        "retention.schedule.purgeAfterDays=30",
        "retention.autoMaterialize=null",
    ]
    instance = _instance(render, sets)
    assert instance["retention"] == {"sensor": {"purge_after_days": sensor}, "schedule": {"purge_after_days": 30}}
    config = _loaded(instance, tmp_path)

    def effective(kind: InstigatorType, key: str) -> dict[TickStatus, int]:
        return dict(
            get_tick_retention_settings(config["retention"].get(key), get_default_tick_retention_settings(kind))
        )

    assert effective(InstigatorType.SENSOR, "sensor") == {TickStatus[k.upper()]: v for k, v in sensor.items()}
    assert set(effective(InstigatorType.SCHEDULE, "schedule").values()) == {30}
    # Nothing said for automation: Dagster's defaults (skipped ticks purged after 7 days).
    auto = effective(InstigatorType.SENSOR, "auto_materialize")
    assert auto == dict(get_default_tick_retention_settings(InstigatorType.SENSOR)) and auto[TickStatus.SKIPPED] == 7


def test_retention_disabled_renders_nothing_whatever_it_holds(render) -> None:
    assert "retention" not in _instance(render, ["retention.enabled=false", "retention.schedule.purgeAfterDays=1"])


@pytest.mark.parametrize(
    ("sets", "message"),
    [
        (["retention.schedule.purgeAfterDays=-2"], "/retention/schedule/purgeAfterDays"),
        (['json:retention.sensor.purgeAfterDays={"skiped": 3}'], "/retention/sensor/purgeAfterDays"),
        (["retention.sensor.purge_after_days=3"], "additional properties 'purge_after_days' not allowed"),
        (["retention.enabled=yes"], "/retention/enabled"),
    ],
)
def test_retention_outside_the_official_shape_is_refused(render, sets: list[str], message: str) -> None:
    with pytest.raises(render.HelmError) as err:
        render.render_platform(sets=sets)
    assert message in err.value.stderr, err.value.stderr


def test_additional_instance_config_is_merged_and_dagster_loads_it(render, tmp_path) -> None:
    """New top-level keys and new keys inside a rendered block land; everything else is unchanged."""
    extra = {
        "sensors": {"use_threads": True, "num_workers": 4},
        "schedules": {"use_threads": True, "num_workers": 2},
        "concurrency": {"pools": {"granularity": "op"}},
        "run_monitoring": {"free_slots_after_run_end_seconds": 60},
    }
    base = _instance(render, [])
    instance = _instance(render, [f"json:additionalInstanceConfig={json.dumps(extra)}"])
    assert instance["sensors"] == extra["sensors"] and instance["schedules"] == extra["schedules"]
    # production sets dagsterDaemon.poolDefaultLimit: the pool's limit stays beside the new key
    assert instance["concurrency"]["pools"] == {**base["concurrency"]["pools"], "granularity": "op"}
    assert instance["concurrency"]["runs"] == base["concurrency"]["runs"]
    assert instance["run_monitoring"] == {**base["run_monitoring"], "free_slots_after_run_end_seconds": 60}
    added = ("sensors", "schedules", "concurrency", "run_monitoring")
    assert {k: v for k, v in instance.items() if k not in added} == {k: v for k, v in base.items() if k not in added}
    config = _loaded(instance, tmp_path)
    assert config["sensors"]["num_workers"] == 4 and config["concurrency"]["pools"]["granularity"] == "op"


def test_additional_instance_config_rolls_the_daemon_and_webserver(render) -> None:
    def checksum(r, name):
        return r.get("Deployment", name)["spec"]["template"]["metadata"]["annotations"]["checksum/dagster-instance"]

    a = render.render_platform()
    b = render.render_platform(sets=['json:additionalInstanceConfig={"sensors": {"use_threads": true}}'])
    for name in ("platform-daemon", "platform-webserver"):
        assert checksum(a, name) != checksum(b, name)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"run_launcher": {"config": {"security_context": {"runAsUser": 0}}}},
            "additionalInstanceConfig.run_launcher would replace what the chart renders into dagster.yaml; "
            "set it through runLauncher.config.k8sRunLauncher",
        ),
        # a key the chart does not render, inside a block it owns: refused all the same
        ({"storage": {"sqlite": {"base_dir": "/tmp"}}}, "set it through postgresql.*"),
        ({"run_launcher": {"config": {"env_secrets": ["all-of-them"]}}}, "runLauncher.config.k8sRunLauncher"),
        (
            {"concurrency": {"runs": {"max_concurrent_runs": 1000}}},
            "additionalInstanceConfig.concurrency.runs.max_concurrent_runs would replace",
        ),
        ({"compute_logs": {"module": "dagster.core.storage.noop_compute_log_manager"}}, "computeLogManager"),
        ({"telemetry": {"enabled": True}}, "the chart turns Dagster's telemetry off"),
        ({"retention": {"sensor": {"purge_after_days": 1}}}, "set it through retention (the official chart"),
        ({"run_monitoring": {"poll_interval_seconds": 1}}, "set it through dagsterDaemon.runMonitoring"),
    ],
)
def test_additional_instance_config_cannot_replace_what_the_chart_renders(render, extra, message: str) -> None:
    with pytest.raises(render.HelmError) as err:
        render.render_platform(sets=[f"json:additionalInstanceConfig={json.dumps(extra)}"])
    assert message in err.value.stderr, err.value.stderr
