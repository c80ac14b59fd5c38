"""`talent`: the platform's command line.

Commands that need the database use TALENT_DATABASE_URL when it is set, else the embedded server
under --state (default $TALENT_HOME, else .local/), started for the duration of the command when it
is not already running.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Annotated

import typer

# The exit codes every command keeps to, so a script or a CI gate can tell the cases apart (the
# table is printed under `talent --help` and in docs/cli.md).
EXIT_OK = 0
EXIT_FAILED = 1  # the command failed: an error (a crash included), a failed or timed-out run, nothing found
EXIT_USAGE = 2  # click's usage errors; a server that refuses to start with this configuration
EXIT_OVER_BUDGET = 3  # talent cost estimate --budget: the estimate is above the budget
EXIT_INTERRUPTED = 130  # stopped by Ctrl-C (SIGINT; talent local run also by SIGTERM/SIGHUP)
EXIT_CODES = (
    (EXIT_OK, "success"),
    (EXIT_FAILED, "failed: an error or crash, a failed or timed-out run, no such record"),
    (EXIT_USAGE, "usage error, or a server refusing its configuration"),
    (EXIT_OVER_BUDGET, "over budget (talent cost estimate --budget)"),
    (EXIT_INTERRUPTED, "interrupted by Ctrl-C (talent dev, which runs until then, exits 0)"),
)
EPILOG = "\n".join(["Exit codes:", *(f"{code:>5}  {meaning}" for code, meaning in EXIT_CODES)])


def plain_help(text: str | None) -> str:
    """Docstrings are wrapped for the source and use reST literals; help is read on a terminal.
    Rich keeps single line breaks after the first paragraph, so each paragraph becomes one line
    (rich wraps it to the terminal), and ``literal`` becomes `literal`."""
    paragraphs = inspect.cleandoc(text or "").split("\n\n")
    joined = "\n\n".join(" ".join(line.strip() for line in p.splitlines()) for p in paragraphs)
    return re.sub(r"``\s*(.+?)\s*``", r"`\1`", joined)


app = typer.Typer(no_args_is_help=True, add_completion=False, help=plain_help(__doc__), epilog=EPILOG)
db_app = typer.Typer(no_args_is_help=True, help="The platform database.")
local_app = typer.Typer(no_args_is_help=True, help="The platform on this machine, headless.")
cost_app = typer.Typer(no_args_is_help=True, help="LLM cost: exporter and estimates.")
record_app = typer.Typer(no_args_is_help=True, help="One record's lineage.")
app.add_typer(db_app, name="db")
app.add_typer(record_app, name="record")
app.add_typer(local_app, name="local")
app.add_typer(cost_app, name="cost")


def _print_version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"talent {version('talent-platform')}")
        raise typer.Exit()


@app.callback()
def _options(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ] = False,
) -> None:
    pass


StateOpt = Annotated[Path | None, typer.Option("--state", help="State folder (default $TALENT_HOME, else .local/).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _state(state: Path | None) -> Path:
    return (state or Path(os.environ.get("TALENT_HOME") or ".local")).resolve()


@contextmanager
def database(state: Path | None) -> Iterator[str]:
    from talent_shared.db import embedded
    from talent_shared.settings import Settings

    settings = Settings(home=_state(state))
    if settings.database_url:
        yield settings.database_url
        return
    with embedded.running(settings.pgdata) as url:
        yield url


@db_app.command("migrate")
def db_migrate(state: StateOpt = None) -> None:
    """Apply the schema migrations (idempotent)."""
    from talent_shared.db.connection import connect
    from talent_shared.db.migrations import migrate
    from talent_shared.settings import get_settings

    with database(state) as url, connect(url) as conn:
        applied = migrate(conn, dim=get_settings().embedding_dim)
    typer.echo(f"applied {', '.join(applied)}" if applied else "database is up to date")


@db_app.command("roles")
def db_roles(
    state: StateOpt = None,
    login: Annotated[
        bool, typer.Option("--login", help="Make every role LOGIN without a password (RDS IAM authentication).")
    ] = False,
) -> None:
    """Create or update the least-privilege roles, their grants and row-level security (idempotent).

    Run it after `talent db migrate`, as the user that owns the tables (the platform chart's migrate
    hook does). A role gets LOGIN and a password when TALENT_DB_PASSWORD_<ROLE> is set (CANDIDATES,
    JOBS, MATCHING, DAGSTER, EXPORTER, INGEST), else it stays as it is (NOLOGIN when new)."""
    from talent_shared.db.connection import connect
    from talent_shared.db.roles import apply_roles, passwords_from_env

    passwords = passwords_from_env()
    with database(state) as url, connect(url, vector=False) as conn:
        created = apply_roles(conn, passwords=passwords, login=login)
    typer.echo(f"created roles {', '.join(created)}" if created else "roles exist")
    if passwords:
        typer.echo(f"set the password of {', '.join(sorted(passwords))}")
    typer.echo("grants and row-level security policies are up to date")


@app.command()
def seed(
    out: Annotated[Path, typer.Option(help="Landing folder to write into (candidates/ and jobs/).")],
    candidates: Annotated[int, typer.Option(min=0)] = 100,
    jobs: Annotated[int, typer.Option(min=0)] = 20,
    seed: Annotated[int, typer.Option(help="Same seed, same records.")] = 0,
) -> None:
    """Write realistic synthetic records in the contract."""
    from talent_platform.progress import Progress
    from talent_platform.seed import generate, write

    total = candidates + jobs
    with Progress() as progress:
        made = progress.task("generating", total, "records")
        cands, jobs_ = generate(candidates, jobs, seed, advance=made.advance)
        made.close()
        written = progress.task("writing files", total, "records")
        paths = write(out, cands, jobs_, prefix=f"seed-{seed}", advance=written.advance)
    typer.echo(f"wrote {len(cands)} candidates and {len(jobs_)} jobs in {len(paths)} files under {out}")


@app.command()
def rejects(state: StateOpt = None, as_json: JsonOpt = False, limit: int = 200) -> None:
    """Records the contract refused: entity, source, line and reason."""
    from talent_shared.db.connection import connect

    with database(state) as url, connect(url) as conn:
        rows = conn.execute(
            "SELECT entity, source, line, reason, rejected_at FROM talent.rejects ORDER BY id DESC LIMIT %s", (limit,)
        ).fetchall()
    items = [
        {"entity": e, "source": s, "line": line, "reason": r, "rejected_at": t.isoformat()} for e, s, line, r, t in rows
    ]
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    for item in items:
        typer.echo(f"{item['entity']:9} {item['source']}:{item['line'] or '-'}  {item['reason']}")
    if not items:
        typer.echo("no rejected records")


def _reasons(explanation: str | None) -> list[str]:
    """The reasons that end a stored explanation (``talent_matching.reasons.text``: `` Reasons: a;
    b; c.``), largest share of the score first."""
    if not explanation or "Reasons: " not in explanation:
        return []
    return [r.strip() for r in explanation.rsplit("Reasons: ", 1)[1].rstrip(".").split("; ") if r.strip()]


@app.command()
def matches(
    candidate: Annotated[str | None, typer.Option(help="A candidate id.")] = None,
    job: Annotated[str | None, typer.Option(help="A job id.")] = None,
    top: Annotated[int, typer.Option(min=1)] = 10,
    explain: Annotated[
        bool, typer.Option("--explain", help="The reasons stored with a candidate's top three matches, one a line.")
    ] = False,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The best jobs for a candidate, or the best candidates for a job."""
    from talent_shared.db.connection import connect

    if (candidate is None) == (job is None):
        raise typer.BadParameter("give exactly one of --candidate or --job")
    me, other, rank = (
        ("candidate_id", "job_id", "candidate_rank") if candidate else ("job_id", "candidate_id", "job_rank")
    )
    with database(state) as url, connect(url) as conn:
        rows = conn.execute(
            f"SELECT {other}, score, {rank}, similarity, skill_overlap, experience_fit, lexical, seniority_fit,"
            f" explanation FROM talent.matches"
            f" WHERE {me} = %s AND {rank} IS NOT NULL ORDER BY {rank} LIMIT %s",
            (candidate or job, top),
        ).fetchall()
    key = "job_id" if candidate else "candidate_id"
    items = [
        {
            key: o,
            "score": round(s, 4),
            "rank": r,
            "similarity": round(sim, 4),
            "skill_overlap": round(ov, 4),
            "experience_fit": round(fit, 4),
            "lexical": round(lex, 4),
            "seniority_fit": round(sen, 4),
            "explanation": ex,
            "reasons": _reasons(ex),
        }
        for o, s, r, sim, ov, fit, lex, sen, ex in rows
    ]
    if as_json:
        typer.echo(json.dumps(items, indent=2))
        return
    if not items:
        typer.echo("no matches")
    for item in items:
        parts = (
            f"similarity {item['similarity']:.2f}, lexical {item['lexical']:.2f}, skills {item['skill_overlap']:.2f},"
            f" years {item['experience_fit']:.2f}, seniority {item['seniority_fit']:.2f}"
        )
        typer.echo(f"{item['rank']:>3}. {item[key]:<24} {item['score']:.3f}  ({parts})  {item['explanation'] or ''}")
        if explain:
            for reason in item["reasons"]:
                typer.echo(f"       - {reason}")
            if not item["reasons"]:
                typer.echo("       - no reasons stored (a candidate's top three matches have them)")


@record_app.command("show")
def record_show(
    entity: Annotated[str, typer.Argument(help="candidate or job")],
    record_id: Annotated[str, typer.Argument(help="The record's id.")],
    top: Annotated[int, typer.Option(min=1, help="How many of its matches to show.")] = 10,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A record's story: its stored version and batch, each stage's status, run, attempts and cost,
    and its top matches. Exit 1 when no such record is stored."""
    from talent_shared import lineage
    from talent_shared.db.connection import connect

    if entity not in ("candidate", "job"):
        raise typer.BadParameter("entity must be candidate or job")
    me, other, rank = (
        ("candidate_id", "job_id", "candidate_rank")
        if entity == "candidate"
        else ("job_id", "candidate_id", "job_rank")
    )
    with database(state) as url, connect(url) as conn:
        story = lineage.story(conn, entity, record_id)
        if story is not None:
            story["matches"] = [
                {"id": o, "rank": r, "score": round(sc, 4)}
                for o, r, sc in conn.execute(
                    f"SELECT {other}, {rank}, score FROM talent.matches WHERE {me} = %s AND {rank} IS NOT NULL"
                    f" ORDER BY {rank} LIMIT %s",
                    (record_id, top),
                )
            ]
    if story is None:
        typer.echo(f"no {entity} {record_id} is stored", err=True)
        raise typer.Exit(EXIT_FAILED)
    if as_json:
        typer.echo(json.dumps(story, indent=2, default=str))
        return
    typer.echo(f"{entity} {record_id}: batch {story['batch']}, from {story['source']}:{story['line'] or '-'}")
    typer.echo(f"  {'stored':<11}content {story['content_hash'][:12]} at {story['stored_at']}")
    for stage, row in story["stages"].items():
        line = (
            f"  {stage:<11}{row['status']:<12} attempts {row['attempts']}, code {row['code_version'] or '-'},"
            f" run {row['run_id'] or '-'}, {row['input_tokens']}+{row['output_tokens']} tokens, ${row['cost_usd']:.6f}"
        )
        typer.echo(line + (f"\n{'':13}reason: {row['reason']}" if row["reason"] else ""))
    typer.echo(
        f"  {'matched':<11}{'version ' + story['matched_version'][:12] if story['matched_version'] else 'not yet'}"
    )
    for m in story["matches"]:
        typer.echo(f"  {m['rank']:>3}. {m['id']:<24} {m['score']:.3f}")


@local_app.command("run")
def local_run(
    landing: Annotated[Path, typer.Option(help="Landing folder with candidates/ and jobs/.")],
    state: Annotated[Path, typer.Option(help="State folder: database, Dagster home, logs.")],
    as_json: JsonOpt = False,
    timeout: Annotated[float, typer.Option(help="Give up after this many seconds.")] = 900.0,
) -> None:
    """Start the platform, let sensors and automation process LANDING, print a summary, stop everything.

    While it waits, stderr shows what starts, then the records landed, processed and matched so far
    and what the platform is waiting for (redrawn at a terminal, a line every few seconds in a log)."""
    from talent_platform.local.platform import running_platform
    from talent_platform.local.watch import IdleState, counts, load_workspace, summarize, wait_idle
    from talent_platform.progress import Progress
    from talent_shared.db.connection import connect

    began = time.monotonic()
    with Progress() as progress, running_platform(state, str(landing.resolve()), progress=progress) as platform:
        instance = platform.instance()
        with progress.step("reading the workspace"):
            view = load_workspace(instance, platform.workspace)
        rows = {name: progress.status(name) for name in ("landed", "processed", "matched", "platform")}
        with connect(platform.database_url) as watcher:
            last = 0.0

            def show(idle: IdleState) -> None:
                nonlocal last
                rows["platform"].update(idle.reason)
                if time.monotonic() - last >= 1.0 or idle.idle:
                    for name, text in counts(watcher, platform.started_at).rows().items():
                        rows[name].update(text)
                    last = time.monotonic()

            outcome = wait_idle(
                instance, view.sensors, platform.started_at, timeout, check=platform.supervisor.check, on_poll=show
            )
        for row in rows.values():
            row.close()
        with progress.step("summarizing"), connect(platform.database_url) as conn:
            summary = summarize(instance, conn, platform.started_at)
        summary.asset_graph = view.asset_graph
        progress.stop()  # the last state stays on screen; stopping the platform follows
    summary.idle, summary.reason = outcome.idle, outcome.reason
    summary.seconds = round(time.monotonic() - began, 2)
    if as_json:
        typer.echo(json.dumps(summary.__dict__, indent=2))
    else:
        typer.echo(f"{'done' if outcome.idle else 'stopped'} in {summary.seconds}s: {outcome.reason}")
        typer.echo(f"records: {summary.records}")
        typer.echo(f"records processed: {summary.processed}")
        typer.echo(f"materializations (per batch): {summary.materializations}")
        typer.echo(f"runs: {summary.runs}")
        for item in summary.rejected:
            typer.echo(f"rejected {item['entity']} {item['source']}:{item['line']}: {item['reason']}")
    if not outcome.idle or summary.runs.get("failure"):
        raise typer.Exit(EXIT_FAILED)


@app.command()
def dev(
    state: StateOpt = None,
    port: Annotated[int, typer.Option(help="Webserver port.")] = 3000,
    demo: Annotated[bool, typer.Option(help="Seed demo records into the landing folder first.")] = True,
) -> None:
    """The whole platform on this machine with the UI; Ctrl-C stops everything.

    It shows each part as it starts, and the UI's address once the UI answers."""
    from talent_platform.local.platform import running_platform
    from talent_platform.local.watch import load_workspace
    from talent_platform.progress import Progress
    from talent_platform.seed import generate, write

    home = _state(state)
    landing = Path(os.environ.get("TALENT_LANDING") or home / "landing")
    try:
        with ExitStack() as stack:
            progress = stack.enter_context(Progress())
            if demo and not any(landing.glob("*/*.json*")):
                with progress.step(f"seeding demo records into {landing}"):
                    cands, jobs_ = generate(40, 12, seed=7)
                    write(landing, cands, jobs_, prefix="demo")
            platform = stack.enter_context(
                running_platform(home, str(landing), webserver_port=port, sensor_interval_seconds=5, progress=progress)
            )
            with progress.step("reading the workspace"):
                view = load_workspace(platform.instance(), platform.workspace)
            progress.stop()  # what started stays on screen; the lines below are for the user to read
            typer.echo(f"Dagster UI: {platform.webserver_url}")
            typer.echo(
                f"locations: {', '.join(sorted({loc for a in view.asset_graph.values() for loc in a['locations']}))}"
            )
            typer.echo(f"landing folder: {landing} (drop .json/.jsonl files under candidates/ or jobs/)")
            typer.echo(f"logs: {platform.state / 'logs'}; Ctrl-C stops everything")
            while True:
                platform.supervisor.check()
                time.sleep(1)
    except KeyboardInterrupt:
        typer.echo("stopped")


@cost_app.command("budget")
def cost_budget(
    location: Annotated[str | None, typer.Argument(help="A code location; all of them when omitted.")] = None,
    usd: Annotated[float | None, typer.Argument(help="The new daily budget in USD (UTC day).", min=0)] = None,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show or set the daily LLM budgets: the one source enforcement, the exporter and the alerts read."""
    from decimal import Decimal

    from talent_shared.cost.budget import daily_budgets, set_daily_budget
    from talent_shared.db.connection import connect
    from talent_shared.keys import LOCATIONS

    if usd is not None and location not in LOCATIONS:
        raise typer.BadParameter(f"{location!r} is not a code location ({', '.join(LOCATIONS)})")
    with database(state) as url, connect(url) as conn:
        if usd is not None and location is not None:
            set_daily_budget(conn, location, Decimal(str(usd)))
            conn.commit()
        budgets = daily_budgets(conn, LOCATIONS)
    shown = {loc: float(v) for loc, v in budgets.items() if location is None or loc == location}
    if as_json:
        typer.echo(json.dumps(shown))
        return
    for loc, value in shown.items():
        typer.echo(f"{loc:12} ${value:.2f}/day")


@cost_app.command("exporter")
def cost_exporter(
    port: Annotated[int, typer.Option(help="Port for /metrics.")] = 9108,
    state: StateOpt = None,
) -> None:
    """Serve the LLM cost metrics for Prometheus, read from the ledger on each scrape."""
    from talent_platform.cost.exporter import serve

    with database(state) as url:
        serve(port=port, url=url)


@app.command("serve-ingest")
def serve_ingest(
    host: Annotated[str, typer.Option(help="Address to listen on (0.0.0.0 in a container).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8080,
    max_body_bytes: Annotated[int | None, typer.Option(min=1024, help="Largest request body (default 1 MiB).")] = None,
    pool_size: Annotated[
        int | None, typer.Option(min=1, help="Pooled database connections (default $TALENT_INGEST_POOL_SIZE, 8).")
    ] = None,
    queue: Annotated[
        int | None,
        typer.Option(
            min=0, help="Requests that may wait for a connection before 503 (default $TALENT_INGEST_QUEUE, 32)."
        ),
    ] = None,
    migrate: Annotated[
        bool | None,
        typer.Option(
            "--migrate/--no-migrate",
            help="Apply missing migrations on start (default: yes on the embedded database, no on TALENT_DATABASE_URL).",
        ),
    ] = None,
    state: StateOpt = None,
) -> None:
    """Webhook receiver: POST /v1/candidates and /v1/jobs into the inbox (shared_lib/docs/ingestion.md).

    On a database without the schema it migrates first when it owns the database (the embedded
    one), and refuses to start (exit 2, saying to run `talent db migrate`) on a shared one, whose
    schema belongs to the deploy's migration job: the receiver then needs no DDL rights."""
    import logging

    import uvicorn

    from talent_platform.webhook import DEFAULT_MAX_BODY_BYTES, check_secret, create_app
    from talent_shared.db.connection import connect
    from talent_shared.db.migrations import migrate as apply_migrations
    from talent_shared.db.migrations import pending
    from talent_shared.settings import Settings

    settings = Settings(home=_state(state))
    secrets = (settings.ingest_token, settings.ingest_hmac_secret)
    if not any(s is not None and s.get_secret_value() for s in secrets):
        typer.echo("refusing to start: set TALENT_INGEST_TOKEN and/or TALENT_INGEST_HMAC_SECRET", err=True)
        raise typer.Exit(EXIT_USAGE)
    if settings.ingest_hmac_secret is not None and settings.ingest_hmac_secret.get_secret_value():
        try:
            check_secret(settings.ingest_hmac_secret.get_secret_value())
        except ValueError as exc:
            typer.echo(f"refusing to start: {exc}", err=True)
            raise typer.Exit(EXIT_USAGE) from None
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with database(state) as url:
        with connect(url, vector=False) as conn:
            missing = pending(conn)
            if missing and (migrate if migrate is not None else not settings.database_url):
                applied = apply_migrations(conn, dim=settings.embedding_dim)
                typer.echo(f"applied migrations {', '.join(applied)}", err=True)
            elif missing:
                typer.echo(
                    f"refusing to start: the database lacks migrations {', '.join(missing)}; run `talent db migrate`"
                    " (on Kubernetes the platform chart's migrate hook does), or pass --migrate",
                    err=True,
                )
                raise typer.Exit(EXIT_USAGE)
        web = create_app(
            settings, max_body_bytes=max_body_bytes or DEFAULT_MAX_BODY_BYTES, pool_size=pool_size, queue=queue
        )
        uvicorn.run(
            web,
            host=host,
            port=port,
            server_header=False,
            proxy_headers=False,
            timeout_graceful_shutdown=10,
            access_log=False,
        )


@cost_app.command("estimate")
def cost_estimate(
    budget: Annotated[
        float | None,
        typer.Option(help=f"Exit {EXIT_OVER_BUDGET} when the estimate is above this many USD (1 is a failure)."),
    ] = None,
    new_records: Annotated[
        int | None, typer.Option("--new-records", min=0, help="Cost of N new records instead.")
    ] = None,
    entity: Annotated[str, typer.Option(help="With --new-records: candidate or job.")] = "candidate",
    backfill: Annotated[
        str | None, typer.Option(help="Cost of a backfill: ASSET or ASSET:P1,P2,... (plus downstream).")
    ] = None,
    reconcile_only: Annotated[
        bool, typer.Option("--reconcile", help="Only fill actual_usd of finished estimates (writes).")
    ] = False,
    record: Annotated[
        bool,
        typer.Option(
            "--record",
            help="Store the estimate in talent.cost_estimates (the exporter publishes the latest) after filling"
            " actual_usd of finished earlier ones. Without it nothing is written.",
        ),
    ] = False,
    state: StateOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Estimate the LLM cost of deploying these definitions (stale partitions, downstream included), of
    a backfill, or of N new records.

    Only reads the database, unless asked to write: --record stores the estimate (and first fills
    in the actual cost of earlier estimates whose work is done), --reconcile only does the latter."""
    from decimal import Decimal

    import dagster as dg

    from talent_platform.cost import estimate as est
    from talent_platform.progress import Progress
    from talent_shared.db.connection import connect
    from talent_shared.settings import Settings, get_settings

    if state is not None:
        os.environ["TALENT_HOME"] = str(_state(state))
        get_settings.cache_clear()
    home = (
        Path(os.environ["DAGSTER_HOME"])
        if os.environ.get("DAGSTER_HOME") and state is None
        else Settings(home=_state(state)).dagster_home
    )
    writes = record or reconcile_only
    with Progress() as progress, ExitStack() as opened:
        with progress.step("opening the database and the Dagster instance"):
            url = opened.enter_context(database(state))
            conn = opened.enter_context(connect(url))
            instance = opened.enter_context(dg.DagsterInstance.from_config(str(home)))
        if not writes:
            conn.rollback()  # the transaction connect() opened to look up the vector type
            conn.read_only = True  # the server refuses any write from here on: an estimate only reads
        with progress.step(f"loading the definitions of {', '.join(est.LOCATIONS)}"):
            graph = est.deployed_graph(fresh=True)  # as configured now, even if imported earlier
        deploy = est.estimate_deploy(conn, instance, graph, progress=progress)
        reconciled: list[dict] = []
        if writes:
            still: dict[str, set[str]] = {}
            for a in deploy.assets:
                if a.partitions or a.missing:
                    still.setdefault(a.code_location, set()).add(a.asset_key)
            with progress.step("reconciling earlier estimates"):
                reconciled = est.reconcile(conn, instance, still)
            conn.commit()
        if not reconcile_only:
            if new_records is not None:
                result = est.estimate_new_records(conn, new_records, entity, graph, progress=progress)
            elif backfill:
                asset, _, parts = backfill.partition(":")
                partitions = [p for p in parts.split(",") if p] or None
                result = est.estimate_backfill(conn, instance, asset, partitions, graph, progress=progress)
            else:
                result = deploy
            result.budget_usd = None if budget is None else Decimal(str(budget))
            if record:
                est.record(conn, result)
                conn.commit()
    if reconcile_only:
        typer.echo(
            json.dumps({"reconciled": reconciled}, indent=2)
            if as_json
            else "\n".join(
                f"estimate {r['id']} ({r['code_location']}): estimated ${r['estimate_usd']:.6f},"
                f" actual ${r['actual_usd']:.6f}"
                for r in reconciled
            )
            or "nothing to reconcile"
        )
        return
    if as_json:
        typer.echo(json.dumps({**result.to_json(), "reconciled": reconciled}, indent=2))
    else:
        typer.echo(
            f"{result.kind} estimate: ${result.total_usd:.6f}"
            + (f" (budget ${budget:.2f})" if budget is not None else "")
        )
        for a in result.assets:
            typer.echo(
                f"  {a.code_location:10} {a.asset_key:22} units {a.partitions:>6} (stale code {a.stale_code}, deps"
                f" {a.stale_dependencies}, missing {a.missing})  x ${a.per_partition_usd:.8f} = ${a.cost_usd:.6f}  [{a.method}]"
            )
        for loc, usd in result.by_location.items():
            typer.echo(f"  {loc}: ${usd:.6f}")
        for r in reconciled:
            typer.echo(
                f"  reconciled estimate {r['id']} ({r['code_location']}): ${r['estimate_usd']:.6f} -> actual ${r['actual_usd']:.6f}"
            )
    if result.over_budget:
        typer.echo(f"over budget: ${result.total_usd:.6f} > ${budget:.2f}", err=True)
        raise typer.Exit(EXIT_OVER_BUDGET)


def _plain_helps(group: typer.Typer) -> None:
    """Every command's and group's help through :func:`plain_help` (typer reads them when it builds
    the click commands, on each invocation)."""
    for command in group.registered_commands:
        command.help = plain_help(command.help or inspect.getdoc(command.callback))
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            sub.typer_instance.info.help = plain_help(sub.typer_instance.info.help)
            _plain_helps(sub.typer_instance)


_plain_helps(app)


def main() -> None:
    # Ctrl-C / SIGINT stops every command, also when the parent started us with SIGINT ignored (a
    # background job of a non-interactive shell, some CI runners): Python only installs its
    # KeyboardInterrupt handler when SIGINT is not ignored at start-up.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
