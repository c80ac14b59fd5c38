"""Pytest fixtures for every team's suite: a real embedded PostgreSQL with pgvector, migrated.

One server per test session (its start costs about a second, its stop is guaranteed by the
fixture's teardown); each test that touches data gets emptied tables and its own ``TALENT_*``
environment, so suites can run alone (``make test-candidates``) or together.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import pytest

from talent_shared.prompts import Prompt

# A prompt for tests of the providers and the ledger, which do not care whose prompt it is.
TEST_PROMPT = Prompt.of(
    "You turn a record into a structured profile for job matching. Use only these skill names: {skills}.", "test-1"
)
EXPLAIN_TEST_PROMPT = Prompt.of("In one sentence, say why this candidate fits this job.", "test-explain-1")

TABLES = (
    "ingested_sources",
    "inbox",
    "rejects",
    "raw_records",
    "profiles",
    "record_stages",
    "batch_stages",
    "reconciler_ticks",
    "candidate_vectors",
    "job_vectors",
    "matches",
    "match_inputs",
    "match_watermark",
    "match_recheck",
    "llm_usage",
    "llm_spend_daily",
    "llm_cache",
    "cost_estimates",
    "llm_budgets",
    "llm_prices",
)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    from talent_shared.db import embedded
    from talent_shared.db.connection import connect
    from talent_shared.db.migrations import migrate

    if os.environ.get("TALENT_TEST_DATABASE_URL"):
        url = os.environ["TALENT_TEST_DATABASE_URL"]
        with connect(url) as conn:
            migrate(conn, dim=384)
        yield url
        return
    # Not under pytest's basetemp: as root the server runs as another user, which needs to traverse
    # the parent folders, and any other pytest session resets /tmp/pytest-of-root to owner-only.
    folder = Path(tempfile.mkdtemp(prefix="talent-test-pg-"))
    folder.chmod(0o755)
    try:
        with embedded.running(folder / "pgdata") as url:
            with connect(url) as conn:
                migrate(conn, dim=384)
            yield url
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def role_passwords(pg_url: str) -> dict[str, str]:
    """The least-privilege roles (``talent_shared.db.roles``) on the test server, each a LOGIN role
    with a fresh password: connect as one with :func:`role_url`. The session itself stays superuser."""
    import secrets

    from talent_shared.db.connection import connect
    from talent_shared.db.roles import ROLE_NAMES, apply_roles

    passwords = {role: secrets.token_urlsafe(16) for role in ROLE_NAMES}
    with connect(pg_url) as conn:
        apply_roles(conn, passwords=passwords)
    return passwords


def role_url(pg_url: str, role: str, password: str) -> str:
    """``pg_url`` with another user and password (a URL, so it also works as TALENT_DATABASE_URL)."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(pg_url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(role, safe='')}:{quote(password, safe='')}@{host}"))


@pytest.fixture(scope="session")
def s3_server() -> Iterator[str]:
    """A real S3 API (moto's server) on a free local port for the whole session: boto3 talks HTTP to
    it as to AWS, so nothing in the client is stubbed."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


@pytest.fixture
def talent_env(pg_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A clean database and settings pointing at it; yields the test's TALENT_HOME."""
    from talent_shared.db.connection import connect
    from talent_shared.settings import get_settings

    with connect(pg_url) as conn:
        conn.execute("TRUNCATE " + ", ".join(f"talent.{t}" for t in TABLES) + " RESTART IDENTITY")
        for sequence in ("candidate_ordinal", "job_ordinal"):  # not owned by a column: restarted by hand
            conn.execute(f"ALTER SEQUENCE talent.{sequence} RESTART")
    monkeypatch.setenv("TALENT_DATABASE_URL", pg_url)
    monkeypatch.setenv("TALENT_HOME", str(tmp_path))
    monkeypatch.setenv("TALENT_LANDING", str(tmp_path / "landing"))
    monkeypatch.delenv("TALENT_LLM_PROVIDER", raising=False)
    monkeypatch.delenv("TALENT_EMBEDDING_PROVIDER", raising=False)
    get_settings.cache_clear()
    yield tmp_path
    get_settings.cache_clear()


@pytest.fixture
def db(talent_env: Path, pg_url: str):
    from talent_shared.db.connection import connect

    with connect(pg_url) as conn:
        yield conn


def store_records(conn, entity: str, records: list[dict], source: str = "test.jsonl") -> list[str]:
    """Validate and store records as the ingestion sensor would; returns their ids."""
    import json

    from talent_shared.ingest.parse import Accepted, parse_bytes
    from talent_shared.ingest.store import store_accepted

    data = "\n".join(json.dumps(r) for r in records).encode()
    results = list(parse_bytes(entity, source, data))  # type: ignore[arg-type]
    accepted = [r for r in results if isinstance(r, Accepted)]
    assert len(accepted) == len(records), [r for r in results if not isinstance(r, Accepted)]
    store_accepted(conn, entity, source, accepted)
    conn.commit()
    return [a.record.id for a in accepted]


def records_of(conn, entity: str, partitions) -> list[str]:
    """The ids of the records stored in these batches, sorted (what a sensor's events cover)."""
    rows = conn.execute(
        "SELECT record_id FROM talent.raw_records WHERE entity = %s AND partition_key = ANY(%s) ORDER BY record_id",
        (entity, sorted(set(partitions))),
    )
    return [r for (r,) in rows]


def tick(sensor: Any, instance: Any, cursor: str | None = None, resources: dict[str, Any] | None = None) -> Any:
    """One evaluation of ``sensor`` as the daemon makes it: with ``resources`` (default: the
    deployment's, ``talent_shared.resources``), opened and closed around the call as Dagster requires."""
    import dagster as dg

    from talent_shared.resources import deployment_resources

    with dg.build_sensor_context(
        instance=instance, cursor=cursor, resources=resources if resources is not None else deployment_resources()
    ) as context:
        return sensor(context)


def settle(defs_by_location: dict[str, Any], instance: Any, rounds: int = 6) -> list[Any]:
    """Tick each location's reconciler and run in process what it requests, until a round requests
    nothing; returns the run requests that ran. What the daemon and its run launcher would do, in
    one process, so a test sees the reconcilers' decisions without timing."""
    import dagster as dg

    ran: list[dg.RunRequest] = []
    for _ in range(rounds):
        requested = False
        for location, defs in defs_by_location.items():
            reconciler = next(s for s in defs.sensors if s.name in (f"{location}_ingest", f"{location}_reconciler"))
            result = tick(reconciler, instance, resources=defs.resources)
            for add in result.dynamic_partitions_requests or []:
                instance.add_dynamic_partitions(add.partitions_def_name, list(add.partition_keys))
            for request in result.run_requests or []:
                requested = True
                assert dg.materialize(
                    list(defs.assets),
                    resources=defs.resources,
                    selection=request.asset_selection,
                    partition_key=request.partition_key,
                    instance=instance,
                    tags=request.tags,
                ).success
                ran.append(request)
        if not requested:
            return ran
    raise AssertionError(f"the reconcilers did not settle in {rounds} rounds")


@pytest.fixture
def one_record_per_batch(talent_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``TALENT_BATCH_SIZE=1``: a batch per record, so a test can name what a sensor reported exactly."""
    from talent_shared.settings import get_settings

    monkeypatch.setenv("TALENT_BATCH_SIZE", "1")
    get_settings.cache_clear()
    return talent_env


@pytest.fixture
def state_dir() -> Iterator[Path]:
    """A folder for a test's platform state (database included), outside pytest's basetemp.

    As root, the embedded server runs as another user that must traverse every parent folder;
    pytest resets ``/tmp/pytest-of-root`` to owner-only whenever another session starts.
    """
    folder = Path(tempfile.mkdtemp(prefix="talent-test-state-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        _stop_what_runs_in(folder)
        shutil.rmtree(folder, ignore_errors=True)


def _stop_what_runs_in(folder: Path) -> None:
    """After a test that failed half-way: nothing it started may outlive the session.

    Tests assert on their own that nothing is left; this only cleans up after one that did not
    get that far (a platform whose parent was SIGKILLed leaves its own-session children running).
    """
    import psutil

    from talent_shared.db.embedded import stop

    if (folder / "pgdata" / "postmaster.pid").exists():
        with contextlib.suppress(Exception):
            stop(folder / "pgdata")
    for proc in psutil.process_iter(["cmdline"]):
        with contextlib.suppress(psutil.Error):
            if str(folder) in " ".join(proc.info["cmdline"] or []):
                proc.kill()


class EntityLocationSuite:
    """The checks every ingesting location's suite runs, written once.

    A location's test module subclasses it as ``TestDefinitions`` and sets the class attributes;
    pytest collects the inherited tests there (this base is not collected: no ``Test`` prefix).
    """

    defs: Any
    defs_folder: ModuleType  # the location's ``defs`` package, where its component declarations live
    entity: str
    partitions: str  # the dynamic partitions' name, also the location's name
    keys: tuple[str, str, str]  # raw, normalized, vectors
    record: ClassVar[dict]  # one valid record with skills and >= 5 years
    vectors_table: str

    def test_owns_its_three_assets(self) -> None:
        keys = {k.to_user_string() for k in self.defs.resolve_asset_graph().get_all_asset_keys()}
        assert keys == set(self.keys)

    def test_every_asset_has_a_code_version_and_executables_declare_resources(self) -> None:
        from dagster_k8s.job import get_user_defined_k8s_config

        from talent_shared.compute import K8S_CONFIG_TAG

        graph = self.defs.resolve_asset_graph()
        for key in graph.get_all_asset_keys():
            node = graph.get(key)
            assert node.code_version, key
            if node.is_executable:
                assert K8S_CONFIG_TAG in node.assets_def.op.tags, key
                resources = get_user_defined_k8s_config(node.assets_def.op.tags).container_config["resources"]
                assert resources["requests"] and resources["limits"], key

    def _folder(self) -> Path:
        return Path(self.defs_folder.__file__).parent / "pipeline"  # type: ignore[arg-type]

    def test_dg_defs_folder_loader_builds_the_same_definitions(self) -> None:
        """The code server's fast loader and Dagster's own defs-folder loader agree on the pipeline."""
        import dagster as dg

        loaded = dg.load_defs(self.defs_folder, project_root=self._folder().parent.parent)

        def described(defs) -> dict:
            graph = defs.resolve_asset_graph()
            return {
                k.to_user_string(): (
                    graph.get(k).code_version,
                    graph.get(k).assets_def.op.tags if graph.get(k).is_executable else None,
                )
                for k in graph.get_all_asset_keys()
            }

        assert described(loaded) == described(self.defs)
        assert {s.name for s in loaded.sensors or ()} == {s.name for s in self.defs.sensors}

    def test_a_model_other_than_the_deployments_refuses_to_load(self, tmp_path: Path) -> None:
        from talent_shared.embedding import EmbeddingContractError
        from talent_shared.pipeline import load_pipeline

        folder = tmp_path / "pipeline"
        shutil.copytree(self._folder(), folder)
        declaration = folder / "defs.yaml"
        text = declaration.read_text()
        assert "  embedding:\n" in text
        declaration.write_text(text.replace("  embedding:\n", "  embedding:\n    model: my-own-model\n"))
        with pytest.raises(EmbeddingContractError, match=f"the {self.partitions} pipeline declares embedding model"):
            load_pipeline(folder)

    def test_a_bad_declaration_says_what_is_wrong(self, tmp_path: Path) -> None:
        from talent_shared.pipeline import load_pipeline

        folder = tmp_path / "pipeline"
        shutil.copytree(self._folder(), folder)
        declaration = folder / "defs.yaml"
        text = declaration.read_text()
        declaration.write_text(text.replace("  reader: ", "  reader: nowhere_"))
        with pytest.raises(ValueError, match=r"reader 'nowhere_talent_\w+\.reading:\w+' is not a 'module:function'"):
            load_pipeline(folder)
        (folder / "prompt.txt").write_text("")
        declaration.write_text(text)
        with pytest.raises(ValueError, match=r"prompt\.txt is empty"):
            load_pipeline(folder)

    def test_sensors_run_by_default(self) -> None:
        import dagster as dg

        sensors = {s.name: s for s in self.defs.sensors}
        assert set(sensors) == {f"{self.partitions}_ingest"}  # takes arrivals, then reconciles
        assert all(s.default_status == dg.DefaultSensorStatus.RUNNING for s in sensors.values())

    def test_every_step_retries_a_transient_failure(self) -> None:
        """A database restart inside a step must not strand its records (compute.STEP_RETRY)."""
        import dagster as dg

        from talent_shared.compute import STEP_RETRY

        executable = [a for a in self.defs.assets if isinstance(a, dg.AssetsDefinition)]
        assert executable
        for asset in executable:
            assert asset.op.retry_policy == STEP_RETRY, asset.key

    def test_in_process_executor_locally(self) -> None:
        assert self.defs.resolve_implicit_global_asset_job_def().executor_def.name == "in_process"

    def test_normalizes_and_embeds_a_partition(self, talent_env, db) -> None:
        import dagster as dg

        (record_id,) = store_records(db, self.entity, [self.record])
        (batch,) = db.execute(
            "SELECT partition_key FROM talent.raw_records WHERE record_id = %s", (record_id,)
        ).fetchone()
        executable = [a for a in self.defs.assets if isinstance(a, dg.AssetsDefinition)]
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions(f"{self.entity}_batches", [batch])
            result = dg.materialize(executable, partition_key=batch, instance=instance, resources=self.defs.resources)
            assert result.success
            normalize_op = next(a.op.name for a in executable if a.key.to_user_string() == self.keys[1])
            metadata = result.asset_materializations_for_node(normalize_op)[0].metadata
            assert metadata["llm_calls"].value == 1
            assert int(metadata["llm_input_tokens"].value) > 0  # type: ignore[arg-type]
        (profile,) = db.execute("SELECT profile FROM talent.profiles WHERE record_id = %s", (record_id,)).fetchone()
        assert profile["skills"] and profile["years_experience"] >= 5
        (dims,) = db.execute(
            f"SELECT vector_dims(embedding) FROM talent.{self.vectors_table} WHERE record_id = %s", (record_id,)
        ).fetchone()
        assert dims == 384

    def test_the_reconciler_requests_what_is_stale_from_state_and_gives_up_on_a_failing_batch(
        self, talent_env, db, monkeypatch
    ) -> None:
        """Level-triggered: every batch with stale records is requested unless a live run covers it; a
        run that failed leaves its batch stale, so the next tick asks again; after ``max_attempts``
        failed runs its open records are quarantined with the failure, and nothing loops."""
        import dagster as dg

        from talent_shared.reconciler import CODE_TAG, PIPELINE_TAG
        from talent_shared.settings import get_settings

        monkeypatch.setenv("TALENT_BATCH_SIZE", "2")
        get_settings.cache_clear()
        base = self.record["id"]
        store_records(db, self.entity, [dict(self.record, id=f"{base}-{i}") for i in range(5)])
        reconciler = {s.name: s for s in self.defs.sensors}[f"{self.partitions}_ingest"]
        executable = [a for a in self.defs.assets if isinstance(a, dg.AssetsDefinition)]
        normalized = next(a for a in executable if a.key.to_user_string() == self.keys[1])

        def ticks(db) -> tuple[int, int, int, int]:
            row = db.execute(
                "SELECT stale, in_flight, requested, quarantined FROM talent.reconciler_ticks WHERE location = %s",
                (self.partitions,),
            ).fetchone()
            return tuple(row)

        with dg.instance_for_test() as instance:

            def evaluate() -> dg.SensorResult:
                result = tick(reconciler, instance, resources=self.defs.resources)
                assert isinstance(result, dg.SensorResult)
                for request in result.dynamic_partitions_requests or []:
                    instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
                return result

            first = evaluate()
            requested = list(first.run_requests or [])
            assert sorted(str(r.partition_key) for r in requested) == ["b000000", "b000001", "b000002"]
            assert ticks(db) == (5, 0, 5, 0)
            tags = requested[0].tags

            seen: list = []

            @dg.asset(key=normalized.key, partitions_def=normalized.partitions_def)
            def in_flight() -> None:
                seen.append(evaluate())

            assert dg.materialize([in_flight], partition_key="b000001", instance=instance, tags=tags).success
            assert sorted(str(r.partition_key) for r in seen[0].run_requests or []) == ["b000000", "b000002"]
            for request in requested:
                done = dg.materialize(
                    executable,
                    partition_key=request.partition_key,
                    instance=instance,
                    tags=tags,
                    resources=self.defs.resources,
                )
                assert done.success
            assert not evaluate().run_requests and ticks(db)[0] == 0

            # an edited record: its batch only; a run of it that fails leaves it stale (asked again)
            store_records(db, self.entity, [dict(self.record, id=f"{base}-4", resume_text="Welder, 20 years.")])

            @dg.asset(key=normalized.key, partitions_def=normalized.partitions_def)
            def broken() -> None:
                raise RuntimeError("the step broke")

            for _ in range(3):
                again = list(evaluate().run_requests or [])
                assert [r.partition_key for r in again] == ["b000002"]
                failed = dg.materialize(
                    [broken], partition_key="b000002", instance=instance, tags=again[0].tags, raise_on_error=False
                )
                assert not failed.success
            gave_up = evaluate()
            assert not gave_up.run_requests
            assert ticks(db)[3] == 1
            (status, reason) = db.execute(
                "SELECT status, reason FROM talent.record_stages WHERE record_id = %s AND stage = 'normalized'",
                (f"{base}-4",),
            ).fetchone()
            assert status == "quarantined" and "3 runs failed in a row" in reason and "the step broke" in reason
            assert not evaluate().run_requests and ticks(db)[0] == 0
            assert {PIPELINE_TAG, CODE_TAG} <= set(tags)
