"""The Dagster instance and workspace files of the local platform.

Same shape as production (Postgres storage, queued runs with a limit per code location, one gRPC
server per location) so that what works here works on the cluster; only the run launcher and where
step logs are kept differ (a local folder here, S3 on the cluster).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from talent_shared.db.connection import dagster_storage_url
from talent_shared.keys import LOCATIONS

RUNS_PER_LOCATION = 2


# Dagster switches that exist only as environment variables, inherited by every Dagster process of
# the platform (daemon, code servers, their run workers); the environment wins, so a benchmark can
# measure each one alone. Why each pays: benchmarks/README.md, "Orchestration".
DAGSTER_ENV = {
    # materializations of a step are written as one multi-row insert per batch, not one per event
    "DAGSTER_EVENT_BATCH_SIZE": "200",
    # not DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS: it halves the events of a big run, but
    # the records of a failed run then show as missing instead of failed (see benchmarks/README.md)
}


def instance_config(
    database_url: str,
    *,
    max_concurrent_runs: int = 4,
    automation_interval_seconds: int = 30,
    compute_logs_dir: Path | None = None,
) -> dict:
    config: dict = {
        # dagster-postgres as shipped, as on the cluster
        "storage": {"postgres": {"postgres_url": dagster_storage_url(database_url)}},
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
            "config": {"dequeue_interval_seconds": 1},
        },
        "concurrency": {
            "runs": {
                "max_concurrent_runs": max_concurrent_runs,
                "tag_concurrency_limits": [
                    {
                        "key": "dagster/code_location",
                        "value": {"applyLimitPerUniqueValue": True},
                        "limit": RUNS_PER_LOCATION,
                    }
                ],
            },
            "pools": {"default_limit": 2},
        },
        # DefaultRunLauncher with a worker health check, so run monitoring fails a STARTED run whose
        # worker is gone (talent_platform.local.launcher)
        "run_launcher": {"module": "talent_platform.local.launcher", "class": "LocalRunLauncher"},
        "run_monitoring": {"enabled": True, "start_timeout_seconds": 180, "poll_interval_seconds": 5},
        # as on the cluster (helm/values/platform.yaml): a run that failed for another reason than
        # its own step (its run worker died) is re-executed from failure; automation does not
        # request a partition again after a failed run, so without this its records stay unprocessed
        "run_retries": {"enabled": True, "max_retries": 2, "retry_on_asset_or_op_failure": False},
        "sensors": {"use_threads": True, "num_workers": 4},
        # the asset daemon's own loop (default 30 s) bounds how often automation sensors can tick
        "auto_materialize": {
            "minimum_interval_seconds": automation_interval_seconds,
            "use_threads": True,
            "num_workers": 3,
        },
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
    }
    if compute_logs_dir is not None:
        # steps' stdout/stderr, read back by the UI (Dagster's local manager; S3 on the cluster)
        config["compute_logs"] = {
            "module": "dagster._core.storage.local_compute_log_manager",
            "class": "LocalComputeLogManager",
            "config": {"base_dir": str(compute_logs_dir)},
        }
    return config


def workspace_config(ports: dict[str, int], host: str = "127.0.0.1") -> dict:
    return {
        "load_from": [{"grpc_server": {"host": host, "port": ports[name], "location_name": name}} for name in LOCATIONS]
    }


def write_configs(
    dagster_home: Path, database_url: str, ports: dict[str, int], *, automation_interval_seconds: int = 30
) -> Path:
    dagster_home.mkdir(parents=True, exist_ok=True)
    config = instance_config(
        database_url,
        automation_interval_seconds=automation_interval_seconds,
        compute_logs_dir=dagster_home / "compute_logs",
    )
    (dagster_home / "dagster.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    workspace = dagster_home / "workspace.yaml"
    workspace.write_text(yaml.safe_dump(workspace_config(ports), sort_keys=False))
    return workspace
