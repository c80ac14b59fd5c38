"""Step logs under one S3 prefix per team, against a real S3 API (moto's server on a loopback port):
a team's pod writes under its own location, the webserver finds them from the run's location, and
a tick's log (no run) is found by looking under each location."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import dagster as dg
import pytest
from dagster._core.storage.compute_log_manager import ComputeIOType
from dagster._core.storage.dagster_run import DagsterRun
from dagster._core.storage.tags import CODE_LOCATION_TAG

from talent_shared.compute_logs import LOCATION_ENV, TeamS3ComputeLogManager


@pytest.fixture
def bucket(s3_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", LOCATION_ENV):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    name = f"logs-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_server).create_bucket(Bucket=name)
    return name


def _manager(s3_server: str, bucket: str, local_dir: Path) -> TeamS3ComputeLogManager:
    return TeamS3ComputeLogManager(
        bucket,
        locations=["candidates", "jobs", "matching"],
        prefix="dagster/",
        endpoint_url=s3_server,
        local_dir=str(local_dir),
    )


def _write(manager: TeamS3ComputeLogManager, log_key: list[str], text: str) -> None:
    """What a step's capture leaves behind: the local file, uploaded when the step ends."""
    path = Path(manager.local_manager.get_captured_local_path(log_key, "err"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    manager.upload_to_cloud_storage(log_key, ComputeIOType.STDERR)


def _keys(s3_server: str, bucket: str) -> list[str]:
    listing = boto3.client("s3", endpoint_url=s3_server).list_objects_v2(Bucket=bucket)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_a_team_writes_under_its_own_location_and_the_webserver_reads_it_back(
    s3_server: str, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = str(uuid.uuid4())
    log_key = [run_id, "compute_logs", "normalized_candidates"]

    monkeypatch.setenv(LOCATION_ENV, "candidates")  # the code-location chart's env ConfigMap
    _write(_manager(s3_server, bucket, tmp_path / "step"), log_key, "step said this\n")
    assert _keys(s3_server, bucket) == [f"dagster/candidates/storage/{run_id}/compute_logs/normalized_candidates.err"]

    # the webserver: no location of its own; the run storage says whose run it is
    monkeypatch.delenv(LOCATION_ENV)
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_run(DagsterRun(job_name="normalize", run_id=run_id, tags={CODE_LOCATION_TAG: "candidates"}))
        reader = _manager(s3_server, bucket, tmp_path / "webserver")
        reader.register_instance(instance)
        assert reader.location_of(log_key[:-1]) == "candidates"
        assert reader.is_capture_complete(log_key)
        data = reader.get_log_data(log_key)
        assert data.stderr == b"step said this\n"


def test_a_ticks_log_is_found_under_the_location_that_wrote_it(
    s3_server: str, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sensor's tick log names no run ([repository, sensor, tick]): the reader looks for it."""
    log_key = ["__repository__", "jobs_inbox_sensor", "42"]
    monkeypatch.setenv(LOCATION_ENV, "jobs")
    _write(_manager(s3_server, bucket, tmp_path / "code-server"), log_key, "tick\n")
    monkeypatch.delenv(LOCATION_ENV)
    with dg.DagsterInstance.ephemeral() as instance:
        reader = _manager(s3_server, bucket, tmp_path / "webserver")
        reader.register_instance(instance)
        assert reader.location_of(log_key[:-1]) == "jobs"
        assert reader.get_log_data(log_key).stderr == b"tick\n"
    assert _keys(s3_server, bucket) == ["dagster/jobs/storage/__repository__/jobs_inbox_sensor/42.err"]


def test_the_instance_config_builds_it(tmp_path: Path, bucket: str, s3_server: str) -> None:
    """As the platform chart's dagster.yaml names it (module, class, config with locations)."""
    config = {
        "module": "talent_shared.compute_logs",
        "class": "TeamS3ComputeLogManager",
        "config": {
            "bucket": bucket,
            "prefix": "dagster",
            "endpoint_url": s3_server,
            "locations": ["candidates", "jobs", "matching"],
            "skip_empty_files": True,
            "upload_interval": 30,
        },
    }
    with dg.instance_for_test(overrides={"compute_logs": config}, temp_dir=str(tmp_path)) as instance:
        manager = instance.compute_log_manager
        assert isinstance(manager, TeamS3ComputeLogManager)
        assert manager._locations == ["candidates", "jobs", "matching"]


def test_a_log_looked_for_before_it_exists_is_found_once_it_does(
    s3_server: str, bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The UI polls a tick's log while it is written: a miss is not remembered."""
    log_key = ["__repository__", "candidates_inbox_sensor", "7"]
    with dg.DagsterInstance.ephemeral() as instance:
        reader = _manager(s3_server, bucket, tmp_path / "webserver")
        reader.register_instance(instance)
        assert reader.location_of(log_key[:-1]) is None
        monkeypatch.setenv(LOCATION_ENV, "candidates")
        _write(_manager(s3_server, bucket, tmp_path / "code-server"), log_key, "late\n")
        monkeypatch.delenv(LOCATION_ENV)
        assert reader.location_of(log_key[:-1]) == "candidates"
        assert reader.get_log_data(log_key).stderr == b"late\n"


def test_the_code_location_tag_is_dagsters() -> None:
    """The manager reads a run's location from this tag; Dagster does not export its name publicly."""
    from dagster._core.storage.tags import CODE_LOCATION_TAG

    from talent_shared import compute_logs

    assert compute_logs.CODE_LOCATION_TAG == CODE_LOCATION_TAG
