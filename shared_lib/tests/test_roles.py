"""The least-privilege roles (``talent_shared.db.roles``) on the embedded PostgreSQL.

Every role here is a real ``LOGIN`` role with a password set by :func:`apply_roles`, and every
check opens its own connection as that role: grants and row-level security apply exactly as they
do on a cluster. Refusals are ``InsufficientPrivilege`` (SQLSTATE 42501: no grant, or a row-level
security ``WITH CHECK`` violation); a row of another location that the role may not see is
"invisible" (reads return nothing, updates change nothing).

The role matrix this module checks (docs/database-roles.md has the same table):

================== ================================================== ===========================================
role               allowed                                            refused
================== ================================================== ===========================================
talent_candidates  candidate raw records, rejects, source             job raw records, job profiles,
                   fingerprints, profiles; candidate_vectors;          job_vectors, matches, ledger rows of
                   its inbox rows; ledger rows 'candidates'; its       'jobs', budgets, Dagster's tables,
                   own cache rows; prices and budgets (read)           CREATE anywhere (job rows: invisible)
talent_jobs        the same for jobs                                  the same for candidates
talent_matching    read vectors and profiles; write matches and       writing profiles or vectors, raw records,
                   match_inputs; ledger rows 'matching'                ledger rows of another location
talent_exporter    read llm_usage, llm_budgets, cost_estimates,       every write; raw record payloads
                   raw_records.entity
talent_ingest      insert into inbox, read it, read                   raw_records (read or write), updating or
                   schema_migrations                                  deleting the inbox, the ledger
talent_dagster     Dagster's storage (public schema): a real run      every talent table
                   storage writes and reads runs
================== ================================================== ===========================================
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors

from talent_shared import testing
from talent_shared.db.connection import connect, dagster_storage_url
from talent_shared.db.roles import RLS_TABLES, ROLE_NAMES, STATEMENT_TIMEOUTS, apply_roles, passwords_from_env

VECTOR = "array_fill(0.1::real, ARRAY[384])::vector"


@pytest.fixture(scope="module")
def passwords(pg_url: str, role_passwords: dict[str, str]) -> dict[str, str]:
    """Dagster's storage in the public schema (as the platform has it), then the roles step again:
    it grants the tables that exist now, and changes nothing else."""
    from dagster_postgres.event_log import PostgresEventLogStorage
    from dagster_postgres.run_storage import PostgresRunStorage
    from dagster_postgres.schedule_storage import PostgresScheduleStorage

    # Dagster's tables, created by the admin as `dagster instance migrate` in the migrate hook does
    for storage in (PostgresRunStorage, PostgresEventLogStorage, PostgresScheduleStorage):
        storage(dagster_storage_url(pg_url)).dispose()
    with connect(pg_url) as conn:
        apply_roles(conn)
    return role_passwords


def role_url(pg_url: str, role: str, passwords: dict[str, str]) -> str:
    return testing.role_url(pg_url, role, passwords[role])


@pytest.fixture
def seeded(talent_env, pg_url: str, passwords: dict[str, str]) -> Iterator[None]:
    """One candidate and one job in every per-entity table, a ledger row and a budget, as the admin."""
    with connect(pg_url) as conn:
        for entity, rid in (("candidate", "c1"), ("job", "j1")):
            conn.execute(
                "INSERT INTO talent.raw_records (entity, record_id, content_hash, payload, source, ordinal, partition_key)"
                " VALUES (%s, %s, 'h', '{}', 's', 1000000, 'b000500')",
                (entity, rid),
            )
            conn.execute(
                "INSERT INTO talent.profiles (entity, record_id, profile, data_version, code_version)"
                " VALUES (%s, %s, '{}', 'v', 'c')",
                (entity, rid),
            )
            conn.execute(
                "INSERT INTO talent.inbox (entity, payload, idempotency_key) VALUES (%s, '{}', %s)", (entity, rid)
            )
        conn.execute(f"INSERT INTO talent.candidate_vectors VALUES ('c1', {VECTOR}, 'v', 'm')")
        conn.execute(f"INSERT INTO talent.job_vectors VALUES ('j1', {VECTOR}, 'v', 'm')")
        conn.execute("INSERT INTO talent.match_inputs (entity, record_id, data_version) VALUES ('job', 'j1', 'v')")
        conn.execute(
            "INSERT INTO talent.llm_usage (call_id, code_location, provider, model, operation, status, cost_usd)"
            " VALUES ('seed-jobs', 'jobs', 'p', 'm', 'o', 'ok', 1), ('seed-candidates', 'candidates', 'p', 'm', 'o', 'ok', 1)"
        )
        conn.execute("INSERT INTO talent.llm_budgets (code_location, daily_usd) VALUES ('jobs', 5)")
        conn.execute("INSERT INTO talent.cost_estimates (code_location, estimate_usd) VALUES ('jobs', 1)")
    yield


def run_as(pg_url: str, passwords: dict[str, str], role: str, statement: str, params: tuple = ()) -> psycopg.Cursor:
    with connect(role_url(pg_url, role, passwords)) as conn:
        cur = conn.execute(statement.encode(), params)
        assert conn.execute("SELECT current_user").fetchone() == (role,)
        return cur


def ledger(location: str) -> tuple[str, tuple]:
    return (
        "INSERT INTO talent.llm_usage (call_id, code_location, provider, model, operation, status)"
        " VALUES (%s, %s, 'p', 'm', 'o', 'ok')",
        (f"call-{uuid.uuid4()}", location),
    )


RAW = (
    "INSERT INTO talent.raw_records (entity, record_id, content_hash, payload, source, ordinal, partition_key)"
    " VALUES (%s, %s, 'h', '{}', 's', 1000001, 'b000500')"
)
PROFILE = (
    "INSERT INTO talent.profiles (entity, record_id, profile, data_version, code_version) VALUES (%s, %s, '{}', 'v', 'c')"
    " ON CONFLICT (entity, record_id) DO UPDATE SET profile = EXCLUDED.profile"
)
MATCH = (
    "INSERT INTO talent.matches (candidate_id, job_id, score, similarity, skill_overlap, experience_fit,"
    " candidate_version, job_version) VALUES ('c1', 'j1', 1, 1, 1, 1, 'v', 'v')"
)

ALLOWED: list[tuple[str, str, str, tuple]] = [
    ("talent_candidates", "insert its raw record", RAW, ("candidate", "c2")),
    ("talent_candidates", "upsert its profile", PROFILE, ("candidate", "c1")),
    (
        "talent_candidates",
        "insert a reject",
        "INSERT INTO talent.rejects (entity, source, reason) VALUES ('candidate', 's', 'r')",
        (),
    ),
    (
        "talent_candidates",
        "write its vectors",
        f"INSERT INTO talent.candidate_vectors VALUES ('c2', {VECTOR}, 'v', 'm')",
        (),
    ),
    ("talent_candidates", "insert its ledger row", *ledger("candidates")),
    ("talent_candidates", "read budgets", "SELECT * FROM talent.llm_budgets", ()),
    ("talent_candidates", "read prices", "SELECT * FROM talent.llm_prices", ()),
    ("talent_jobs", "insert its raw record", RAW, ("job", "j2")),
    ("talent_jobs", "upsert its profile", PROFILE, ("job", "j1")),
    ("talent_jobs", "insert its ledger row", *ledger("jobs")),
    ("talent_matching", "read both vector tables", "SELECT * FROM talent.candidate_vectors, talent.job_vectors", ()),
    ("talent_matching", "read all profiles", "SELECT * FROM talent.profiles", ()),
    ("talent_matching", "write matches", MATCH, ()),
    ("talent_matching", "delete matches", "DELETE FROM talent.matches", ()),
    ("talent_matching", "write match_inputs", "INSERT INTO talent.match_inputs VALUES ('candidate', 'c1', 'v')", ()),
    ("talent_matching", "insert its ledger row", *ledger("matching")),
    (
        "talent_matching",
        "forget a consumed entity (noted for recheck)",
        "DELETE FROM talent.match_inputs WHERE record_id = 'j1' RETURNING 1",
        (),
    ),
    (
        "talent_matching",
        "record where its next comparison starts",
        "INSERT INTO talent.match_watermark (stamp, snapshot_xmin) VALUES ('s', pg_current_xact_id())"
        " ON CONFLICT (singleton) DO UPDATE SET stamp = 's'",
        (),
    ),
    ("talent_matching", "clear its rechecks", "DELETE FROM talent.match_recheck", ()),
    ("talent_exporter", "read the ledger", "SELECT * FROM talent.llm_usage", ()),
    ("talent_exporter", "read budgets", "SELECT * FROM talent.llm_budgets", ()),
    ("talent_exporter", "read estimates", "SELECT * FROM talent.cost_estimates", ()),
    ("talent_exporter", "count records", "SELECT entity, count(*) FROM talent.raw_records GROUP BY entity", ()),
    (
        "talent_ingest",
        "insert into the inbox",
        "INSERT INTO talent.inbox (entity, payload, idempotency_key) VALUES ('job', '{}', 'k')",
        (),
    ),
    ("talent_ingest", "read the inbox", "SELECT payload FROM talent.inbox", ()),
    ("talent_ingest", "read schema_migrations", "SELECT version FROM talent.schema_migrations", ()),
    ("talent_dagster", "read Dagster's runs", "SELECT * FROM public.runs", ()),
    ("talent_dagster", "write Dagster's cursors", "UPDATE public.instigators SET status = status", ()),
    ("talent_dagster", "write Dagster's event log", "DELETE FROM public.event_logs WHERE false", ()),
]

REFUSED: list[tuple[str, str, str, tuple]] = [
    ("talent_candidates", "insert a job raw record", RAW, ("job", "j2")),
    ("talent_candidates", "insert a job profile", PROFILE, ("job", "j2")),
    ("talent_candidates", "write job vectors", f"INSERT INTO talent.job_vectors VALUES ('j2', {VECTOR}, 'v', 'm')", ()),
    ("talent_candidates", "write matches", MATCH, ()),
    ("talent_candidates", "insert a ledger row of jobs", *ledger("jobs")),
    ("talent_candidates", "change a budget", "UPDATE talent.llm_budgets SET daily_usd = 1000", ()),
    ("talent_candidates", "read Dagster's runs", "SELECT * FROM public.runs", ()),
    ("talent_candidates", "write Dagster's runs", "DELETE FROM public.runs", ()),
    ("talent_candidates", "create a table in public", "CREATE TABLE public.mine (x int)", ()),
    ("talent_candidates", "create a table in talent", "CREATE TABLE talent.mine (x int)", ()),
    ("talent_candidates", "delete raw records", "DELETE FROM talent.raw_records", ()),
    ("talent_jobs", "insert a candidate raw record", RAW, ("candidate", "c2")),
    ("talent_jobs", "insert a ledger row of candidates", *ledger("candidates")),
    ("talent_jobs", "read Dagster's runs", "SELECT * FROM public.runs", ()),
    ("talent_candidates", "move matching's watermark", "DELETE FROM talent.match_watermark", ()),
    ("talent_jobs", "hide a change from matching", "DELETE FROM talent.match_recheck", ()),
    ("talent_matching", "update profiles", "UPDATE talent.profiles SET profile = '{}'", ()),
    ("talent_matching", "insert a profile", PROFILE, ("candidate", "c9")),
    ("talent_matching", "write vectors", "UPDATE talent.candidate_vectors SET model = 'x'", ()),
    ("talent_matching", "read raw records", "SELECT payload FROM talent.raw_records", ()),
    ("talent_matching", "insert a ledger row of candidates", *ledger("candidates")),
    ("talent_matching", "read Dagster's runs", "SELECT * FROM public.runs", ()),
    ("talent_exporter", "insert a ledger row", *ledger("matching")),
    ("talent_exporter", "raise a budget", "UPDATE talent.llm_budgets SET daily_usd = 1000", ()),
    ("talent_exporter", "delete estimates", "DELETE FROM talent.cost_estimates", ()),
    ("talent_exporter", "read record payloads", "SELECT payload FROM talent.raw_records", ()),
    ("talent_exporter", "read profiles", "SELECT * FROM talent.profiles", ()),
    ("talent_ingest", "read raw records", "SELECT * FROM talent.raw_records", ()),
    ("talent_ingest", "insert a raw record", RAW, ("job", "j2")),
    ("talent_ingest", "update the inbox", "UPDATE talent.inbox SET payload = '{}'", ()),
    ("talent_ingest", "delete the inbox", "DELETE FROM talent.inbox", ()),
    ("talent_ingest", "insert a ledger row", *ledger("candidates")),
    ("talent_dagster", "read raw records", "SELECT * FROM talent.raw_records", ()),
    ("talent_dagster", "insert a ledger row", *ledger("matching")),
    ("talent_dagster", "create a table in public", "CREATE TABLE public.mine (x int)", ()),
    (
        "talent_dagster",
        "create a function in public",
        "CREATE FUNCTION public.f() RETURNS int AS 'SELECT 1' LANGUAGE sql",
        (),
    ),
    ("talent_dagster", "drop Dagster's runs", "DROP TABLE public.runs", ()),
    ("talent_dagster", "alter Dagster's runs", "ALTER TABLE public.runs ADD COLUMN x int", ()),
    ("talent_dagster", "create a role", "CREATE ROLE talent_intruder", ()),
    ("talent_ingest", "create a table in public", "CREATE TABLE public.mine (x int)", ()),
    ("talent_exporter", "read Dagster's runs", "SELECT * FROM public.runs", ()),
    ("talent_ingest", "read Dagster's runs", "SELECT * FROM public.runs", ()),
    ("talent_ingest", "write Dagster's event log", "DELETE FROM public.event_logs", ()),
    ("talent_matching", "write Dagster's cursors", "DELETE FROM public.instigators", ()),
]


@pytest.mark.parametrize(("role", "action", "statement", "params"), ALLOWED, ids=[f"{r}: {a}" for r, a, *_ in ALLOWED])
def test_allowed(seeded, pg_url, passwords, role, action, statement, params) -> None:
    cur = run_as(pg_url, passwords, role, statement, params)
    if "RETURNING" in statement:
        assert cur.rowcount == 1  # the seeded row is there to act on


@pytest.mark.parametrize(("role", "action", "statement", "params"), REFUSED, ids=[f"{r}: {a}" for r, a, *_ in REFUSED])
def test_refused(seeded, pg_url, passwords, role, action, statement, params) -> None:
    with pytest.raises(errors.InsufficientPrivilege):
        run_as(pg_url, passwords, role, statement, params)


@pytest.mark.parametrize(("role", "other"), [("talent_candidates", "job"), ("talent_jobs", "candidate")])
def test_another_locations_rows_are_invisible(seeded, pg_url, passwords, role, other) -> None:
    own = "candidate" if other == "job" else "job"
    for table in ("raw_records", "profiles", "inbox"):
        rows = run_as(pg_url, passwords, role, f"SELECT DISTINCT entity FROM talent.{table}").fetchall()
        assert rows == [(own,)], table
    assert (
        run_as(
            pg_url, passwords, role, "UPDATE talent.profiles SET profile = '{}' WHERE entity = %s", (other,)
        ).rowcount
        == 0
    )
    # the ledger: only its own location's rows (spend of another location is not its business)
    location = {"talent_candidates": "candidates", "talent_jobs": "jobs"}[role]
    assert run_as(pg_url, passwords, role, "SELECT DISTINCT code_location FROM talent.llm_usage").fetchall() == [
        (location,)
    ]
    # its day's total, which its own ledger inserts keep (the trigger runs as the role), and no
    # other location's
    spent = "SELECT code_location, cost_usd FROM talent.llm_spend_daily"
    run_as(
        pg_url,
        passwords,
        role,
        "INSERT INTO talent.llm_usage (call_id, code_location, provider, model, operation, status, cost_usd)"
        " VALUES (%s, %s, 'p', 'm', 'o', 'ok', 2)",
        (f"call-{uuid.uuid4()}", location),
    )
    assert run_as(pg_url, passwords, role, spent).fetchall() == [(location, 3)]  # the seeded 1, then 2
    with pytest.raises(psycopg.errors.InsufficientPrivilege):  # a row-level security violation
        run_as(
            pg_url,
            passwords,
            role,
            "INSERT INTO talent.llm_spend_daily (code_location, day, cost_usd) VALUES ('matching', current_date, 1)",
        )


def test_the_locations_own_code_paths_run_as_its_role(seeded, pg_url, passwords) -> None:
    """The shared functions a location's sensor, assets and meter call, as talent_candidates."""
    from decimal import Decimal

    from talent_shared import lineage
    from talent_shared.cost.budget import daily_budgets, spent_today
    from talent_shared.ingest.store import batch_versions, inbox_after, known_fingerprints, mark_read
    from talent_shared.llm.cache import ResponseCache
    from talent_shared.llm.meter import Meter, MeterContext
    from talent_shared.providers.base import Usage
    from talent_shared.testing import store_records

    record = {"id": "c-roles", "name": "Ada Lovelace", "resume_text": "Writes programs in Python."}
    with connect(role_url(pg_url, "talent_candidates", passwords)) as conn:
        assert store_records(conn, "candidate", [record]) == ["c-roles"]
        store_records(conn, "candidate", [{**record, "resume_text": "Writes more programs."}])  # the upsert's update
        mark_read(conn, "candidate", "test.jsonl", "f1")
        mark_read(conn, "candidate", "test.jsonl", "f2")
        assert known_fingerprints(conn, "candidate") == {"test.jsonl": "f2"}
        assert set(batch_versions(conn, "candidate", ["b000000", "b000500"])) == {"b000000", "b000500"}
        assert lineage.stale_batches(conn, "candidate", {"normalized": "n", "vectors": "v"}, 3) == {"b000000": 1}
        assert [t.record_id for t in lineage.todo(conn, "candidate", "normalized", ["b000000"], "n")] == ["c-roles"]
        assert len(inbox_after(conn, "candidate", 0, 10)) == 1
        meter = Meter(MeterContext(code_location="candidates", asset_key="normalized_candidates"), conn=conn)
        assert meter.record("call-roles", Usage(provider="local", model="m", operation="chat", input_tokens=3)).inserted
        assert spent_today(conn, "candidates") == Decimal(1)  # the seeded row; never the jobs' row
        assert daily_budgets(conn, ("candidates",))["jobs"] == Decimal(5)
        cache = ResponseCache(conn)
        cache.put("k-candidates", "p1", "m", "h", {"a": 1}, Decimal(0))
        assert cache.get("k-candidates") == ({"a": 1}, Decimal(0))
    with connect(role_url(pg_url, "talent_jobs", passwords)) as conn:
        assert ResponseCache(conn).get("k-candidates") is None  # another location's cache entry
    with connect(pg_url) as conn:
        writer = conn.execute("SELECT writer FROM talent.llm_cache WHERE cache_key = 'k-candidates'").fetchone()
    assert writer == ("talent_candidates",)


def test_dagster_storage_works_as_talent_dagster(seeded, pg_url, passwords) -> None:
    """Dagster's own run storage, connected as talent_dagster, writes and reads a run."""
    from dagster._core.storage.dagster_run import DagsterRun, RunsFilter
    from dagster_postgres.run_storage import PostgresRunStorage

    url = dagster_storage_url(role_url(pg_url, "talent_dagster", passwords))
    storage = PostgresRunStorage(url, should_autocreate_tables=False)
    run = DagsterRun(job_name="roles_check", run_id=str(uuid.uuid4()))
    storage.add_run(run)
    assert storage.has_run(run.run_id)
    assert [r.job_name for r in storage.get_runs(RunsFilter(run_ids=[run.run_id]))] == ["roles_check"]
    # a table the admin creates after the roles step (the next `dagster instance migrate`) is usable too
    with connect(pg_url) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS public.roles_later (x int)")
    run_as(pg_url, passwords, "talent_dagster", "INSERT INTO public.roles_later VALUES (1)")
    with pytest.raises(errors.InsufficientPrivilege):
        run_as(pg_url, passwords, "talent_matching", "SELECT * FROM public.roles_later")
    with connect(pg_url) as conn:
        conn.execute("DROP TABLE public.roles_later")


def test_dagster_storages_start_as_talent_dagster_without_creating_anything(passwords, pg_url) -> None:
    """The storages as every Dagster process builds them (tables autocreated when missing): with the
    tables in place they start as talent_dagster, who may not create any."""
    from dagster_postgres.event_log import PostgresEventLogStorage
    from dagster_postgres.run_storage import PostgresRunStorage
    from dagster_postgres.schedule_storage import PostgresScheduleStorage

    url = dagster_storage_url(role_url(pg_url, "talent_dagster", passwords))
    for storage in (PostgresRunStorage, PostgresEventLogStorage, PostgresScheduleStorage):
        storage(url).dispose()


def test_every_role_has_its_statement_timeout(passwords, pg_url) -> None:
    for role in ROLE_NAMES:
        assert run_as(pg_url, passwords, role, "SHOW statement_timeout").fetchone() == (STATEMENT_TIMEOUTS[role],), role
    with pytest.raises(errors.QueryCanceled):  # the webhook's: 5 s
        run_as(pg_url, passwords, "talent_ingest", "SELECT pg_sleep(8)")


def test_row_level_security_is_forced_and_the_admin_goes_through_a_policy(passwords, pg_url) -> None:
    with connect(pg_url) as conn:
        flags = dict(
            conn.execute(
                "SELECT relname, relrowsecurity AND relforcerowsecurity FROM pg_class"
                " WHERE relnamespace = 'talent'::regnamespace AND relname = ANY(%s)",
                (list(RLS_TABLES),),
            ).fetchall()
        )
        admin_policies = {
            t for (t,) in conn.execute(r"SELECT tablename FROM pg_policies WHERE policyname LIKE 'roles\_admin\_%'")
        }
    assert flags == dict.fromkeys(RLS_TABLES, True)
    assert admin_policies == set(RLS_TABLES)


def test_public_is_closed_to_everyone(passwords, pg_url) -> None:
    """Not only our roles: any role (PUBLIC) lost CREATE, and USAGE comes from a grant per role."""
    with connect(pg_url) as conn:
        conn.execute("DROP ROLE IF EXISTS talent_stranger")
        conn.execute("CREATE ROLE talent_stranger")
        try:
            rows = conn.execute(
                "SELECT r, has_schema_privilege(r, 'public', 'CREATE'), has_schema_privilege(r, 'public', 'USAGE')"
                " FROM unnest(%s::text[]) AS r",
                ([*ROLE_NAMES, "talent_stranger"],),
            ).fetchall()
        finally:
            conn.execute("DROP ROLE talent_stranger")
    assert {r: (create, usage) for r, create, usage in rows} == {
        **dict.fromkeys(ROLE_NAMES, (False, True)),
        "talent_stranger": (False, False),
    }


def test_no_application_role_owns_anything_and_the_step_refuses_if_one_does(passwords, pg_url) -> None:
    from talent_shared.db.roles import owned_by_roles

    with connect(pg_url) as conn:
        assert owned_by_roles(conn) == []
        conn.execute("CREATE TABLE public.planted (x int)")
        conn.execute("ALTER TABLE public.planted OWNER TO talent_dagster")
    try:
        with connect(pg_url) as conn, pytest.raises(RuntimeError, match=r"talent_dagster: public\.planted"):
            apply_roles(conn)
    finally:
        with connect(pg_url) as conn:
            conn.execute("DROP TABLE public.planted")


def test_apply_roles_is_idempotent_and_keeps_logins(pg_url, passwords) -> None:
    with connect(pg_url) as conn:
        before = conn.execute(
            "SELECT tablename, policyname, qual, with_check FROM pg_policies ORDER BY 1, 2"
        ).fetchall()
        assert apply_roles(conn) == []  # no passwords this time: nothing created, nothing demoted
        after = conn.execute("SELECT tablename, policyname, qual, with_check FROM pg_policies ORDER BY 1, 2").fetchall()
        logins = dict(
            conn.execute("SELECT rolname, rolcanlogin FROM pg_roles WHERE rolname LIKE 'talent\\_%'").fetchall()
        )
    assert before == after and len(after) >= 20
    assert all(logins[r] for r in ROLE_NAMES)
    with connect(role_url(pg_url, "talent_exporter", passwords)) as conn:  # the password still works
        conn.execute("SELECT 1")


def test_passwords_come_from_the_environment() -> None:
    env = {"TALENT_DB_PASSWORD_CANDIDATES": "a", "TALENT_DB_PASSWORD_DAGSTER": "b", "TALENT_DB_PASSWORD_JOBS": ""}
    assert passwords_from_env(env) == {"talent_candidates": "a", "talent_dagster": "b"}
    with pytest.raises(ValueError, match="no such role: talent_nobody"):
        apply_roles(None, passwords={"talent_nobody": "x"})  # type: ignore[arg-type]
