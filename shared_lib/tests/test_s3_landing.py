"""The S3 landing zone against a real S3 API: moto's server on a loopback port, reached by boto3
through ``TALENT_S3_ENDPOINT_URL`` exactly as production reaches AWS (or MinIO)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from pathlib import Path

import boto3
import dagster as dg
import pytest

from talent_shared.ingest.sensor import build_ingest_sensor
from talent_shared.ingest.sources import S3Landing, landing_zone
from talent_shared.keys import RAW_CANDIDATES
from talent_shared.partitions import candidates_partitions
from talent_shared.testing import records_of, tick

GOOD = {"id": "c-good", "name": "Ana", "resume_text": "ICU nurse, 5 years."}


@pytest.fixture
def s3_env(s3_server: str, talent_env: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Fake credentials and the endpoint for this test only; a fresh bucket; boto3 calls counted."""
    from talent_shared.settings import get_settings

    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    bucket = f"landing-{uuid.uuid4().hex[:12]}"
    monkeypatch.setenv("TALENT_S3_ENDPOINT_URL", s3_server)
    monkeypatch.setenv("TALENT_LANDING", f"s3://{bucket}/prod/in")
    get_settings.cache_clear()
    # Every client the code makes comes from the default session: count the calls it sends.
    monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    boto3.setup_default_session()
    calls: Counter[str] = Counter()
    boto3.DEFAULT_SESSION.events.register("before-call.s3", lambda model, **_: calls.update([model.name]))
    client = boto3.client("s3", endpoint_url=s3_server)
    client.create_bucket(Bucket=bucket)
    calls.clear()
    yield {"client": client, "bucket": bucket, "prefix": "prod/in/", "calls": calls, "endpoint": s3_server}
    get_settings.cache_clear()


def _put(env: dict, name: str, data: bytes) -> None:
    env["client"].put_object(Bucket=env["bucket"], Key=env["prefix"] + name, Body=data)


def _tick(instance: dg.DagsterInstance, cursor: str | None) -> dg.SensorResult:
    sensor = build_ingest_sensor("candidate", RAW_CANDIDATES, candidates_partitions)
    result = tick(sensor, instance, cursor)
    assert isinstance(result, dg.SensorResult)
    return result


def test_lists_json_and_jsonl_under_the_prefix_only(s3_env: dict) -> None:
    for name in (
        "candidates/a.json",
        "candidates/b.jsonl",
        "candidates/2024/c.json",
        "candidates/notes.txt",
        "candidates/d.json.tmp",
        "candidates/",
        "jobs/j.json",
    ):
        _put(s3_env, name, b"{}")
    s3_env["client"].put_object(Bucket=s3_env["bucket"], Key="elsewhere/candidates/x.json", Body=b"{}")
    s3_env["client"].put_object(
        Bucket=s3_env["bucket"], Key="prod/inbox/candidates/y.json", Body=b"{}"
    )  # prefix lookalike
    zone = landing_zone(f"s3://{s3_env['bucket']}/prod/in", endpoint_url=s3_env["endpoint"])
    assert isinstance(zone, S3Landing)
    assert [f.name for f in zone.list("candidate")] == [
        "candidates/2024/c.json",
        "candidates/a.json",
        "candidates/b.jsonl",
    ]
    assert [f.name for f in zone.list("job")] == ["jobs/j.json"]
    assert zone.read("candidates/a.json") == b"{}"
    # a bucket root works too, and names stay relative to the landing zone
    root = S3Landing(f"s3://{s3_env['bucket']}", endpoint_url=s3_env["endpoint"])
    assert list(root.list("candidate")) == []


def test_fingerprint_changes_when_an_object_is_rewritten(s3_env: dict) -> None:
    zone = S3Landing(f"s3://{s3_env['bucket']}/prod/in/", endpoint_url=s3_env["endpoint"])
    _put(s3_env, "candidates/a.json", json.dumps(GOOD).encode())
    first = {f.name: f.fingerprint for f in zone.list("candidate")}
    _put(s3_env, "candidates/a.json", json.dumps(GOOD).encode())
    assert {f.name: f.fingerprint for f in zone.list("candidate")} == first  # same bytes, same ETag
    _put(s3_env, "candidates/a.json", json.dumps({**GOOD, "name": "Bea"}).encode())  # same size, new content
    changed = {f.name: f.fingerprint for f in zone.list("candidate")}
    assert changed.keys() == first.keys() and changed != first
    assert '"' not in changed["candidates/a.json"]


def test_vanished_object_is_an_oserror_the_sensor_skips(s3_env: dict) -> None:
    zone = S3Landing(f"s3://{s3_env['bucket']}/prod/in", endpoint_url=s3_env["endpoint"])
    with pytest.raises(FileNotFoundError):
        zone.read("candidates/gone.json")
    with pytest.raises(OSError, match="NoSuchBucket"):
        S3Landing("s3://no-such-bucket-here/x", endpoint_url=s3_env["endpoint"]).read("candidates/a.json")
    with pytest.raises(ValueError, match="s3://"):
        S3Landing("s3:///nobucket")


def test_read_stops_past_the_file_limit(s3_env: dict, monkeypatch: pytest.MonkeyPatch) -> None:
    from talent_shared.ingest import sources

    monkeypatch.setattr(sources, "MAX_FILE_BYTES", 10)
    _put(s3_env, "candidates/huge.json", b"x" * 100)
    zone = S3Landing(f"s3://{s3_env['bucket']}/prod/in", endpoint_url=s3_env["endpoint"])
    assert zone.read("candidates/huge.json") == b"x" * 11  # enough for the parser to say "too large"


BAD_OBJECTS = {
    "broken.json": (b'{"id": "c-1", "name": ', 1, "json: "),
    "wrongtype.json": (json.dumps({**GOOD, "id": "c-3", "years_experience": "ten"}).encode(), 1, "years_experience: "),
    "latin1.json": ('{"id": "c-4", "name": "Jos\xe9", "resume_text": "x"}'.encode("latin-1"), 1, "encoding: not UTF-8"),
    "empty.json": (b"", None, "file: empty"),
    "array.json": (json.dumps([GOOD]).encode(), 1, "record: expected a JSON object, got list"),
}


def test_sensor_reads_the_s3_landing_zone(s3_env: dict, one_record_per_batch, db) -> None:
    for name, (data, _, _) in BAD_OBJECTS.items():
        _put(s3_env, f"candidates/{name}", data)
    lines = [json.dumps({**GOOD, "id": "c-10"}), "{not json", json.dumps({**GOOD, "id": "c-11", "skills": [1]})]
    _put(s3_env, "candidates/batch.jsonl", ("\n".join(lines) + "\n").encode())
    _put(s3_env, "candidates/good.json", json.dumps(GOOD).encode())
    objects = len(BAD_OBJECTS) + 2

    calls = s3_env["calls"]
    with dg.instance_for_test() as instance:
        result = _tick(instance, None)
        batches = sorted(e.partition for e in result.asset_events)
        keys = records_of(db, "candidate", batches)
        assert keys == ["c-10", "c-good"]
        assert sorted(result.dynamic_partitions_requests[0].partition_keys) == batches
        assert calls["GetObject"] == objects

        rejects = {(s, line): r for s, line, r in db.execute("SELECT source, line, reason FROM talent.rejects")}
        for name, (_, line, reason) in BAD_OBJECTS.items():
            assert reason in rejects.get((f"candidates/{name}", line), ""), (name, rejects)
        assert rejects[("candidates/batch.jsonl", 2)].startswith("json: ")
        assert rejects[("candidates/batch.jsonl", 3)].startswith("skills.0: ")
        # the bucket and prefix never show in what operators see
        assert not any(s3_env["bucket"] in s for s, _ in rejects)

        # unchanged objects are listed, never requested again
        calls.clear()
        again = _tick(instance, result.cursor)
        assert not again.asset_events and "0 files read" in again.skip_reason.skip_message
        assert calls["GetObject"] == 0 and calls["ListObjectsV2"] >= 1

        # one object rewritten with an edit: only it is requested, only its record reported
        calls.clear()
        _put(s3_env, "candidates/good.json", json.dumps({**GOOD, "resume_text": "Chef."}).encode())
        edited = _tick(instance, again.cursor)
        assert records_of(db, "candidate", [e.partition for e in edited.asset_events]) == ["c-good"]
        assert calls["GetObject"] == 1


def test_listing_follows_pages(s3_env: dict) -> None:
    """More keys than one ListObjectsV2 page: a small page size here, the real 1000-key page below."""
    for i in range(7):
        _put(s3_env, f"candidates/r{i:02}.json", b"{}")
    zone = S3Landing(f"s3://{s3_env['bucket']}/prod/in", endpoint_url=s3_env["endpoint"], page_size=3)
    s3_env["calls"].clear()
    assert [f.name for f in zone.list("candidate")] == [f"candidates/r{i:02}.json" for i in range(7)]
    assert s3_env["calls"]["ListObjectsV2"] == 3


def test_listing_beyond_1000_keys(s3_env: dict) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client, bucket = s3_env["client"], s3_env["bucket"]
    with ThreadPoolExecutor(8) as pool:  # boto3 clients are thread-safe; the server is threaded
        list(
            pool.map(
                lambda i: client.put_object(Bucket=bucket, Key=f"prod/in/candidates/{i:05}.jsonl", Body=b""),
                range(1005),
            )
        )
    zone = S3Landing(f"s3://{bucket}/prod/in", endpoint_url=s3_env["endpoint"])
    s3_env["calls"].clear()
    names = [f.name for f in zone.list("candidate")]
    assert len(names) == 1005 and names[-1] == "candidates/01004.jsonl"
    assert s3_env["calls"]["ListObjectsV2"] == 2
