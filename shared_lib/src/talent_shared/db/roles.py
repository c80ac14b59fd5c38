"""Least-privilege database roles: one per code location, one for Dagster's storage, the cost
exporter and the webhook receiver.

The role that runs :func:`apply_roles` is the *admin* role: it ran the migrations, owns every table
and keeps all rights (the RDS master user on a cluster, the superuser of the embedded server
locally). Every other role gets exactly what its code does, as grants plus row-level security
policies where a table is shared by entity or by code location:

================== =============================================================================
role               may
================== =============================================================================
talent_candidates  its own rows (``entity = 'candidate'``) of ``ingested_sources``, ``rejects``,
                   ``raw_records``, ``profiles``; read its own ``inbox`` rows; read and write
                   ``candidate_vectors``; insert and read ledger rows with
                   ``code_location = 'candidates'``; the cache rows it wrote (and those the admin
                   wrote before roles existed); read prices and budgets
talent_jobs        the same for ``entity = 'job'``, ``job_vectors`` and ``code_location = 'jobs'``
talent_matching    read both vector tables and all profiles; read and write ``matches``,
                   ``match_inputs``, ``match_watermark`` and ``match_recheck``; its own ledger
                   (``'matching'``) and cache rows; prices, budgets
talent_exporter    read only: ``llm_usage``, ``llm_budgets``, ``cost_estimates`` and the
                   ``entity`` column of ``raw_records`` (the exporter counts records, never reads
                   a payload)
talent_ingest      insert into ``inbox`` and read it back (the duplicate check), read
                   ``schema_migrations`` (the receiver refuses a database without the schema)
talent_dagster     Dagster's storage: read and write every table and sequence of the ``public``
                   schema of this database (those ``dagster instance migrate`` creates later too,
                   as the admin); never create, alter or drop one; nothing in ``talent``
================== =============================================================================

Everything else is refused: with ``InsufficientPrivilege`` where no grant exists, and as a row-level
security violation (or an invisible row) where the grant exists but the row belongs to another
location. Row-level security is *forced*, so the owner is subject to it too: the admin reads and
writes every row through its own policy (``roles_admin_*``, named rather than implied by
ownership), and anyone else who came to own a table would see nothing. Superusers (the local
platform's embedded server) bypass it as PostgreSQL always lets them.

What no application role may do, whatever its grants: own a table (the step fails naming it, since
an owner can drop policies and grant itself anything), create anything in ``talent`` or ``public``
(``public``, on every role's search path, is closed: ``USAGE`` only, for the ``vector`` type the
extension put there), or run a statement longer than its ``statement_timeout``
(:data:`STATEMENT_TIMEOUTS`, a per-role default set with ``ALTER ROLE ... SET``), so a runaway
query of one component cannot hold locks or connections the others need.

Idempotent and converging, so the platform chart's migrate hook runs it on every deploy after the
migrations (``talent db roles``): roles are created ``NOLOGIN`` when missing, each role's grants in
``talent`` are revoked and granted again, the policies this module owns (named ``roles_*``) are
dropped and created again, all in one transaction. A role becomes ``LOGIN`` only when a password is
given (:func:`passwords_from_env`) or ``login=True`` (RDS IAM authentication: ``rds_iam`` is granted
when it exists); an existing ``LOGIN`` is never taken away, so passwords set out of band survive.
Passwords never appear in code or values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import psycopg
from psycopg import sql

SCHEMA = "talent"
DAGSTER_SCHEMA = "public"
POLICY_PREFIX = "roles_"
PASSWORD_ENV_PREFIX = "TALENT_DB_PASSWORD_"


@dataclass(frozen=True)
class Role:
    name: str
    purpose: str


ROLES: tuple[Role, ...] = (
    Role("talent_candidates", "the candidates code location (code server, sensors, runs)"),
    Role("talent_jobs", "the jobs code location (code server, sensors, runs)"),
    Role("talent_matching", "the matching code location (code server, runs)"),
    Role("talent_dagster", "Dagster's storage (webserver, daemon, run and step pods)"),
    Role("talent_exporter", "the LLM cost exporter (read only)"),
    Role("talent_ingest", "the webhook receiver (writes the inbox)"),
)
ROLE_NAMES = tuple(r.name for r in ROLES)

# The longest statement each role may run (its session default; PostgreSQL units). The code
# locations' bulk upserts and nearest-neighbour queries get minutes, Dagster's storage queries a
# minute, the exporter's scrape and the webhook's insert seconds: past that something is wrong, and
# the connection is better returned than held.
STATEMENT_TIMEOUTS: dict[str, str] = {
    "talent_candidates": "5min",
    "talent_jobs": "5min",
    "talent_matching": "5min",
    "talent_dagster": "1min",
    "talent_exporter": "15s",
    "talent_ingest": "5s",
}

# Ingesting locations: role -> (entity, vectors table, ledger code_location).
ENTITY_LOCATIONS: dict[str, tuple[str, str, str]] = {
    "talent_candidates": ("candidate", "candidate_vectors", "candidates"),
    "talent_jobs": ("job", "job_vectors", "jobs"),
}

# Tables whose rows belong to a location (by entity or code_location): row-level security on.
RLS_TABLES = (
    "inbox",
    "ingested_sources",
    "rejects",
    "raw_records",
    "profiles",
    "record_stages",
    "batch_stages",
    "reconciler_ticks",
    "llm_usage",
    "llm_spend_daily",
    "llm_cache",
)


@dataclass(frozen=True)
class Grant:
    privileges: str  # "SELECT, INSERT" or "SELECT (entity)"
    table: str  # in SCHEMA


@dataclass(frozen=True)
class Policy:
    table: str
    command: str  # ALL, SELECT, INSERT
    using: str | None = None
    check: str | None = None


def _grants(role: str) -> list[Grant]:
    reads = [Grant("SELECT", "llm_prices"), Grant("SELECT", "llm_budgets")]
    ledger = [
        Grant("SELECT, INSERT", "llm_usage"),
        # its day's total, kept by the ledger's insert trigger, which runs as the inserting role
        Grant("SELECT, INSERT, UPDATE", "llm_spend_daily"),
        Grant("SELECT, INSERT", "llm_cache"),
    ]
    if role in ENTITY_LOCATIONS:
        _entity, vectors, _location = ENTITY_LOCATIONS[role]
        return [
            Grant("SELECT", "inbox"),
            Grant("SELECT, INSERT, UPDATE", "ingested_sources"),
            Grant("SELECT, INSERT", "rejects"),
            Grant("SELECT, INSERT, UPDATE", "raw_records"),
            Grant("SELECT, INSERT, UPDATE", "profiles"),
            Grant("SELECT, INSERT, UPDATE", "record_stages"),
            Grant("SELECT, INSERT, UPDATE", "batch_stages"),
            Grant("SELECT, INSERT, UPDATE", "reconciler_ticks"),
            Grant("SELECT, INSERT, UPDATE", vectors),
            *ledger,
            *reads,
        ]
    if role == "talent_matching":
        return [
            Grant("SELECT", "candidate_vectors"),
            Grant("SELECT", "job_vectors"),
            Grant("SELECT", "profiles"),
            Grant("SELECT, INSERT, UPDATE, DELETE", "matches"),
            Grant("SELECT, INSERT, UPDATE, DELETE", "match_inputs"),
            Grant("SELECT, INSERT, UPDATE", "match_watermark"),
            Grant("SELECT, INSERT, DELETE", "match_recheck"),
            Grant("SELECT, INSERT, UPDATE", "reconciler_ticks"),
            *ledger,
            *reads,
        ]
    if role == "talent_exporter":
        return [
            Grant("SELECT", "llm_usage"),
            Grant("SELECT", "llm_budgets"),
            Grant("SELECT", "cost_estimates"),
            Grant("SELECT", "reconciler_ticks"),
            Grant("SELECT (entity)", "raw_records"),
        ]
    if role == "talent_ingest":
        return [Grant("SELECT, INSERT", "inbox"), Grant("SELECT", "schema_migrations")]
    return []  # talent_dagster: nothing in the talent schema


# Sequences behind column defaults (bigserial ids, raw_records.seq) and the arrival ordinals
# (talent_shared.batches): nextval needs USAGE.
def _sequences(role: str) -> list[str]:
    if role in ENTITY_LOCATIONS:
        return ["rejects_id_seq", "raw_records_seq", f"{ENTITY_LOCATIONS[role][0]}_ordinal"]
    if role == "talent_ingest":
        return ["inbox_id_seq"]
    return []


def _cache_policies(admin: str) -> list[Policy]:
    # No location column in the cache: a role reads the rows it wrote itself (``writer``, filled by
    # the column default ``current_user``) and those the admin wrote before the roles existed, so
    # no location can plant a response that another location would read as its own.
    mine = f"writer = current_user OR writer = {_literal(admin)}"
    return [Policy("llm_cache", "SELECT", using=mine), Policy("llm_cache", "INSERT", check="writer = current_user")]


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _policies(role: str, admin: str) -> list[Policy]:
    if role in ENTITY_LOCATIONS:
        entity, _vectors, location = ENTITY_LOCATIONS[role]
        own = f"entity = {_literal(entity)}"
        ledger = f"code_location = {_literal(location)}"
        return [
            Policy("inbox", "SELECT", using=own),
            *(
                Policy(t, "ALL", using=own, check=own)
                for t in ("ingested_sources", "rejects", "raw_records", "profiles", "record_stages", "batch_stages")
            ),
            Policy("llm_usage", "ALL", using=ledger, check=ledger),
            Policy("llm_spend_daily", "ALL", using=ledger, check=ledger),
            Policy("reconciler_ticks", "ALL", using=f"location = {_literal(location)}"),
            *_cache_policies(admin),
        ]
    if role == "talent_matching":
        ledger = f"code_location = {_literal('matching')}"
        return [
            Policy("profiles", "SELECT", using="true"),
            Policy("llm_usage", "ALL", using=ledger, check=ledger),
            Policy("llm_spend_daily", "ALL", using=ledger, check=ledger),
            Policy("reconciler_ticks", "ALL", using=f"location = {_literal('matching')}"),
            *_cache_policies(admin),
        ]
    if role == "talent_exporter":
        return [
            Policy("llm_usage", "SELECT", using="true"),
            Policy("raw_records", "SELECT", using="true"),
            Policy("reconciler_ticks", "SELECT", using="true"),
        ]
    if role == "talent_ingest":
        return [Policy("inbox", "SELECT", using="true"), Policy("inbox", "INSERT", check="true")]
    return []


def passwords_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``TALENT_DB_PASSWORD_CANDIDATES=...`` -> ``{"talent_candidates": "..."}`` (empty values ignored).

    On a cluster these variables come from a Kubernetes Secret (``secretKeyRef``), never from values.
    """
    environ = os.environ if environ is None else environ
    out = {}
    for role in ROLE_NAMES:
        value = environ.get(PASSWORD_ENV_PREFIX + role.removeprefix("talent_").upper())
        if value:
            out[role] = value
    return out


def _exists(conn: psycopg.Connection, role: str) -> bool:
    return conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is not None


def apply_roles(
    conn: psycopg.Connection,
    *,
    passwords: Mapping[str, str] | None = None,
    login: bool = False,
    dagster_schema: str = DAGSTER_SCHEMA,
) -> list[str]:
    """Create the roles, grants and policies (idempotent); returns the roles created now.

    Run it as the admin role after the migrations. ``passwords`` (role -> password) make those
    roles ``LOGIN`` with that password; ``login`` makes every role ``LOGIN`` without a password (RDS
    IAM authentication). ``dagster_schema`` is where Dagster's storage tables live in this database.
    """
    passwords = dict(passwords or {})
    unknown = set(passwords) - set(ROLE_NAMES)
    if unknown:
        raise ValueError(f"no such role: {', '.join(sorted(unknown))}")
    created: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('talent.roles'))")
        (admin,) = conn.execute("SELECT current_user").fetchone()  # type: ignore[misc]
        if conn.execute("SELECT to_regclass('talent.schema_migrations') IS NULL").fetchone()[0]:  # type: ignore[index]
            raise RuntimeError("the talent schema is missing: run `talent db migrate` first")
        for role in ROLE_NAMES:
            ident = sql.Identifier(role)
            if not _exists(conn, role):
                conn.execute(sql.SQL("CREATE ROLE {} NOLOGIN").format(ident))
                created.append(role)
            conn.execute(
                sql.SQL("ALTER ROLE {} SET statement_timeout = {}").format(ident, sql.Literal(STATEMENT_TIMEOUTS[role]))
            )
            if role in passwords:
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN PASSWORD {}").format(ident, sql.Literal(passwords[role])))
            elif login:
                conn.execute(sql.SQL("ALTER ROLE {} LOGIN").format(ident))
                if _exists(conn, "rds_iam"):
                    conn.execute(sql.SQL("GRANT rds_iam TO {}").format(ident))

        schema = sql.Identifier(SCHEMA)
        roles = sql.SQL(", ").join(sql.Identifier(r) for r in ROLE_NAMES)
        # Start from nothing in the talent schema, then grant exactly the table above.
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM {}").format(schema, roles))
        conn.execute(sql.SQL("REVOKE ALL ON ALL TABLES IN SCHEMA {} FROM {}").format(schema, roles))
        conn.execute(sql.SQL("REVOKE ALL ON ALL SEQUENCES IN SCHEMA {} FROM {}").format(schema, roles))
        for role in ROLE_NAMES:
            ident = sql.Identifier(role)
            grants = _grants(role)
            if grants:
                conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(schema, ident))
            for g in grants:
                conn.execute(
                    sql.SQL("GRANT {} ON {}.{} TO {}").format(
                        sql.SQL(g.privileges), schema, sql.Identifier(g.table), ident
                    )
                )
            for seq in _sequences(role):
                conn.execute(sql.SQL("GRANT USAGE ON SEQUENCE {}.{} TO {}").format(schema, sql.Identifier(seq), ident))

        # Row-level security: drop this module's policies, enable RLS, create them again.
        for table, name in conn.execute(
            "SELECT tablename, policyname FROM pg_policies WHERE schemaname = %s AND policyname LIKE %s",
            (SCHEMA, POLICY_PREFIX + "%"),
        ).fetchall():
            conn.execute(sql.SQL("DROP POLICY {} ON {}.{}").format(sql.Identifier(name), schema, sql.Identifier(table)))
        for table in RLS_TABLES:
            name = sql.Identifier(table)
            conn.execute(sql.SQL("ALTER TABLE {}.{} ENABLE ROW LEVEL SECURITY").format(schema, name))
            conn.execute(sql.SQL("ALTER TABLE {}.{} FORCE ROW LEVEL SECURITY").format(schema, name))
            conn.execute(
                sql.SQL("CREATE POLICY {} ON {}.{} FOR ALL TO {} USING (true) WITH CHECK (true)").format(
                    sql.Identifier(f"{POLICY_PREFIX}admin_{table}"), schema, name, sql.Identifier(admin)
                )
            )
        for role in ROLE_NAMES:
            for i, p in enumerate(_policies(role, admin)):
                parts = [
                    sql.SQL("CREATE POLICY {} ON {}.{} FOR {} TO {}").format(
                        sql.Identifier(f"{POLICY_PREFIX}{role.removeprefix('talent_')}_{p.table}_{i}"),
                        schema,
                        sql.Identifier(p.table),
                        sql.SQL(p.command),
                        sql.Identifier(role),
                    )
                ]
                if p.using is not None:
                    parts.append(sql.SQL("USING ({})").format(sql.SQL(p.using)))
                if p.check is not None:
                    parts.append(sql.SQL("WITH CHECK ({})").format(sql.SQL(p.check)))
                conn.execute(sql.SQL(" ").join(parts))

        # Dagster's storage: the tables that exist now and those the admin creates later
        # (`dagster instance migrate` runs as the admin). Nobody else may create objects there: the
        # schema is on every role's search path, so an object planted there would shadow a name.
        dagster, dg_role = sql.Identifier(dagster_schema), sql.Identifier("talent_dagster")
        conn.execute(sql.SQL("REVOKE ALL ON SCHEMA {} FROM PUBLIC").format(dagster))
        conn.execute(sql.SQL("REVOKE CREATE ON SCHEMA {} FROM {}").format(dagster, roles))
        conn.execute(sql.SQL("GRANT USAGE ON SCHEMA {} TO {}").format(dagster, roles))
        conn.execute(sql.SQL("GRANT ALL ON ALL TABLES IN SCHEMA {} TO {}").format(dagster, dg_role))
        conn.execute(sql.SQL("GRANT ALL ON ALL SEQUENCES IN SCHEMA {} TO {}").format(dagster, dg_role))
        conn.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT ALL ON TABLES TO {}").format(dagster, dg_role)
        )
        conn.execute(
            sql.SQL("ALTER DEFAULT PRIVILEGES IN SCHEMA {} GRANT ALL ON SEQUENCES TO {}").format(dagster, dg_role)
        )
        owned = owned_by_roles(conn)
        if owned:
            raise RuntimeError(
                "application roles own objects, and an owner can drop policies and grant itself anything:"
                f" {', '.join(owned)}; ALTER ... OWNER TO {admin} (as a superuser) and run `talent db roles` again"
            )
    return created


def owned_by_roles(conn: psycopg.Connection) -> list[str]:
    """Tables, views, sequences and schemas an application role owns, as ``role: schema.name``."""
    rows = conn.execute(
        """
        SELECT r.rolname || ': ' || n.nspname || '.' || c.relname
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace JOIN pg_roles r ON r.oid = c.relowner
        WHERE r.rolname = ANY(%(roles)s)
        UNION ALL
        SELECT r.rolname || ': schema ' || n.nspname
        FROM pg_namespace n JOIN pg_roles r ON r.oid = n.nspowner
        WHERE r.rolname = ANY(%(roles)s)
        ORDER BY 1
        """,
        {"roles": list(ROLE_NAMES)},
    ).fetchall()
    return [r[0] for r in rows]
