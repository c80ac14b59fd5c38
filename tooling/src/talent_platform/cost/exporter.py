"""Prometheus exporter over the LLM usage ledger (``talent.llm_usage``).

The ledger is the source of truth: every LLM or
embedding call is one row. This long-lived exporter turns it into aggregates on each scrape with a
few ``GROUP BY`` queries, so counters are monotonic sums that survive pod restarts and need no
Pushgateway. Query them with ``increase()``/``rate()``.

Labels are bounded: ``code_location``, ``asset``, ``provider``, ``model``, ``operation`` (plus
``token_type``/``status``/``entity`` where a metric needs them). Run, partition, candidate and job
ids never become labels: per-run and per-partition cost stays in the ledger and asset metadata.

When the database is unreachable a scrape still answers, with ``talent_exporter_db_up 0`` and
``talent_exporter_scrape_errors_total`` incremented; the LLM series are then absent for that scrape
(Prometheus marks them stale) rather than frozen at old values.

Deploy estimates come from ``talent.cost_estimates(id, created_at, code_location, estimate_usd,
actual_usd)``, which the lead adds later; until then those gauges are simply not exported.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import psycopg
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import ThreadingWSGIServer, make_wsgi_app
from prometheus_client.registry import Collector, CollectorRegistry

from talent_shared.db.connection import SEARCH_PATH

log = logging.getLogger(__name__)

DEFAULT_PORT = 9108

# The labels every ledger-derived series carries, in this order.
LABELS: tuple[str, ...] = ("code_location", "asset", "provider", "model", "operation")
# Label values a ledger row may leave empty (calls outside an asset, e.g. from a sensor).
UNKNOWN = "unknown"
STATUSES: tuple[str, ...] = ("ok", "error", "billed_error")
TOKEN_TYPES: tuple[str, ...] = ("input", "cached", "output")
ENTITIES: tuple[str, ...] = ("candidate", "job")
# Upper bounds (seconds) of the latency histogram; +Inf is added.
LATENCY_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)

# Daily budget per code location, read over the scrape's own connection.
BudgetSource = Callable[[psycopg.Connection], Mapping[str, float]]
UrlSource = str | Callable[[], str] | None


def ledger_budgets(conn: psycopg.Connection) -> Mapping[str, float]:
    """Daily budget (USD) per code location, from the one source enforcement reads too
    (``talent_shared.cost.budget.daily_budgets``: ``talent.llm_budgets``, else the deployment's
    ``TALENT_DAILY_BUDGET_USD``). So raising a budget in the table moves the gauge, and with it the
    alert rules built on ``talent_llm_budget_usd``, at the next scrape."""
    from talent_shared.cost.budget import daily_budgets
    from talent_shared.keys import LOCATIONS  # imports dagster: only when actually needed

    return {location: float(usd) for location, usd in daily_budgets(conn, LOCATIONS).items()}


def _le(bound: float) -> str:
    return "+Inf" if bound == float("inf") else repr(float(bound))


def _ledger_sql() -> str:
    # One scan: every per-group aggregate, latency buckets as cumulative FILTERed counts.
    buckets = ",\n".join(f"count(*) FILTER (WHERE latency_ms <= {float(b) * 1000!r})" for b in LATENCY_BUCKETS)
    statuses = ",\n".join(f"count(*) FILTER (WHERE status = '{s}')" for s in STATUSES)
    return f"""
        SELECT coalesce(nullif(code_location, ''), '{UNKNOWN}'),
               coalesce(nullif(asset_key, ''), '{UNKNOWN}'),
               provider, model, operation,
               coalesce(sum(cost_usd), 0)::float8,
               sum(input_tokens)::float8,
               sum(cached_tokens)::float8,
               sum(output_tokens)::float8,
               sum(saved_usd)::float8,
               count(*) FILTER (WHERE NOT priced),
               count(*) FILTER (WHERE cache_hit),
               count(*),
               (sum(latency_ms) / 1000.0)::float8,
               {statuses},
               {buckets}
          FROM talent.llm_usage
         GROUP BY 1, 2, 3, 4, 5
         ORDER BY 1, 2, 3, 4, 5
    """


LEDGER_SQL = _ledger_sql()

SPEND_TODAY_SQL = f"""
    SELECT coalesce(nullif(code_location, ''), '{UNKNOWN}'), coalesce(sum(cost_usd), 0)::float8
      FROM talent.llm_usage
     WHERE created_at >= date_trunc('day', now(), 'UTC')
     GROUP BY 1
"""

LOCATIONS_SQL = f"SELECT DISTINCT coalesce(nullif(code_location, ''), '{UNKNOWN}') FROM talent.llm_usage"

RECORDS_SQL = "SELECT entity, count(*) FROM talent.raw_records GROUP BY entity"

ESTIMATES_SQL = """
    SELECT DISTINCT ON (code_location)
           code_location, estimate_usd::float8, actual_usd::float8, extract(epoch FROM created_at)::float8
      FROM talent.cost_estimates
     WHERE code_location IS NOT NULL
     ORDER BY code_location, created_at DESC, id DESC
"""


class LedgerCollector(Collector):
    """A custom collector: each ``collect()`` reads the ledger and yields metric families.

    ``url`` is a database URL, a callable returning one (resolved per scrape, so a database that
    starts after the exporter is picked up), or ``None`` for the platform's default URL.
    ``budgets`` returns the daily budget per code location; locations seen in the ledger but
    missing from it get ``default_budget`` (``TALENT_DAILY_BUDGET_USD`` when ``None``).
    """

    def __init__(
        self,
        url: UrlSource = None,
        *,
        budgets: BudgetSource | None = None,
        default_budget: float | None = None,
        connect_timeout: int = 5,
        statement_timeout_ms: int = 10_000,
    ) -> None:
        self._url = url
        self._budgets = budgets or ledger_budgets
        self._default_budget = default_budget
        self._connect_timeout = connect_timeout
        self._statement_timeout_ms = statement_timeout_ms
        self._lock = threading.Lock()
        self.scrape_errors = 0
        self._last_success: float | None = None

    # -- plumbing --------------------------------------------------------------------------

    def _resolve_url(self) -> str:
        if callable(self._url):
            return self._url()
        if self._url:
            return self._url
        from talent_shared.db.connection import database_url

        return database_url()

    def _connect(self) -> psycopg.Connection:
        options = (
            f"{SEARCH_PATH} -c statement_timeout={int(self._statement_timeout_ms)} -c default_transaction_read_only=on"
        )
        return psycopg.connect(
            self._resolve_url(),
            autocommit=True,
            connect_timeout=self._connect_timeout,
            options=options,
            application_name="talent-cost-exporter",
        )

    def _budget_for(self) -> float:
        if self._default_budget is not None:
            return self._default_budget
        from talent_shared.settings import get_settings

        return get_settings().daily_budget_usd

    # -- Collector API ---------------------------------------------------------------------

    def describe(self) -> Iterable[Metric]:
        # Names only, without touching the database (the registry calls this on register()).
        return list(self._families(fill=False))

    def collect(self) -> Iterable[Metric]:
        with self._lock:
            return list(self._families(fill=True))

    # -- the metrics -----------------------------------------------------------------------

    def _families(self, *, fill: bool) -> Iterator[Metric]:
        started = time.monotonic()
        db_up = 0
        failed = False
        families: list[Metric] = []
        if fill:
            try:
                with self._connect() as conn:
                    db_up = 1
                    for section in (self._ledger, self._spend_today, self._records, self._estimates, self._reconcilers):
                        try:
                            families.extend(section(conn))
                        except Exception:  # one failing query must not hide the others
                            failed = True
                            log.exception("cost exporter: %s failed", section.__name__)
            except Exception as exc:
                failed = True
                log.warning("cost exporter: database unavailable: %s", exc)
            if failed:
                self.scrape_errors += 1
            else:
                self._last_success = time.time()
        else:
            families = list(self._empty_families())
        yield from families

        errors = CounterMetricFamily(
            "talent_exporter_scrape_errors",
            "Scrapes in which a ledger query (or the database connection) failed.",
        )
        errors.add_metric([], float(self.scrape_errors))
        yield errors
        up = GaugeMetricFamily("talent_exporter_db_up", "1 when the last scrape reached the database, else 0.")
        up.add_metric([], float(db_up))
        yield up
        if fill:
            duration = GaugeMetricFamily(
                "talent_exporter_scrape_duration_seconds", "Time the last scrape spent querying the ledger."
            )
            duration.add_metric([], time.monotonic() - started)
            yield duration
            if self._last_success is not None:
                last = GaugeMetricFamily(
                    "talent_exporter_last_success_timestamp_seconds",
                    "Unix time of the last scrape in which every query succeeded.",
                )
                last.add_metric([], self._last_success)
                yield last

    def _empty_families(self) -> Iterator[Metric]:
        yield from self._ledger_families()
        yield from self._budget_families()
        yield self._records_family()
        yield from self._estimate_families()
        yield from self._reconciler_families()

    @staticmethod
    def _reconciler_families() -> tuple[GaugeMetricFamily, ...]:
        labels = ["code_location"]
        return (
            GaugeMetricFamily(
                "talent_records_stale", "Records with work for a stage at the last reconciler tick.", labels=labels
            ),
            GaugeMetricFamily(
                "talent_records_in_flight", "Stale records a live run covers (last reconciler tick).", labels=labels
            ),
            GaugeMetricFamily(
                "talent_records_stranded",
                "Stale records no later tick runs by itself (held by the LLM budget, runs failing in a row): must be 0.",
                labels=labels,
            ),
            GaugeMetricFamily(
                "talent_reconciler_last_tick_timestamp_seconds", "Unix time of the last reconciler tick.", labels=labels
            ),
        )

    @staticmethod
    def _ledger_families() -> tuple[
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        CounterMetricFamily,
        HistogramMetricFamily,
    ]:
        labels = list(LABELS)
        return (
            CounterMetricFamily(
                "talent_llm_cost_usd", "LLM spend in USD from the ledger (unpriced calls count 0).", labels=labels
            ),
            CounterMetricFamily(
                "talent_llm_tokens",
                "LLM tokens by type; input includes cached (cache reads are a subset of input).",
                labels=[*labels, "token_type"],
            ),
            CounterMetricFamily("talent_llm_requests", "LLM calls by outcome.", labels=[*labels, "status"]),
            CounterMetricFamily(
                "talent_llm_cache_savings_usd",
                "USD not spent because a response came from the LLM cache.",
                labels=labels,
            ),
            CounterMetricFamily("talent_llm_cache_hits", "LLM calls answered from the cache.", labels=labels),
            CounterMetricFamily(
                "talent_llm_unpriced_requests", "LLM calls whose price was unknown (cost not counted).", labels=labels
            ),
            HistogramMetricFamily(
                "talent_llm_request_duration_seconds", "LLM call latency as recorded in the ledger.", labels=labels
            ),
        )

    @staticmethod
    def _budget_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily("talent_llm_budget_usd", "Daily LLM budget in USD.", labels=["code_location"]),
            GaugeMetricFamily(
                "talent_llm_spend_today_usd", "LLM spend in USD since 00:00 UTC today.", labels=["code_location"]
            ),
        )

    @staticmethod
    def _records_family() -> CounterMetricFamily:
        return CounterMetricFamily(
            "talent_records_processed", "Records stored by the raw assets (talent.raw_records).", labels=["entity"]
        )

    @staticmethod
    def _estimate_families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        labels = ["code_location"]
        return (
            GaugeMetricFamily(
                "talent_llm_deploy_estimate_usd", "Estimated LLM cost of the last deploy, USD.", labels=labels
            ),
            GaugeMetricFamily(
                "talent_llm_deploy_actual_usd", "Actual LLM cost so far of the last deploy, USD.", labels=labels
            ),
            GaugeMetricFamily(
                "talent_llm_deploy_timestamp_seconds", "Unix time the last deploy estimate was made.", labels=labels
            ),
        )

    def _ledger(self, conn: psycopg.Connection) -> Iterator[Metric]:
        cost, tokens, requests, savings, hits, unpriced, latency = self._ledger_families()
        nbuckets = len(LATENCY_BUCKETS)
        for row in conn.execute(LEDGER_SQL).fetchall():
            labels = [str(v) for v in row[:5]]
            (cost_usd, input_t, cached_t, output_t, saved, n_unpriced, n_hits, n_total, latency_sum) = row[5:14]
            by_status = row[14 : 14 + len(STATUSES)]
            bucket_counts = row[14 + len(STATUSES) : 14 + len(STATUSES) + nbuckets]
            cost.add_metric(labels, cost_usd)
            for token_type, value in zip(TOKEN_TYPES, (input_t, cached_t, output_t), strict=True):
                tokens.add_metric([*labels, token_type], value)
            # Every status is exported (0 when none) so rate() sees the first error.
            for status, count in zip(STATUSES, by_status, strict=True):
                requests.add_metric([*labels, status], float(count))
            other = n_total - sum(by_status)
            if other:
                requests.add_metric([*labels, "other"], float(other))
            savings.add_metric(labels, saved)
            hits.add_metric(labels, float(n_hits))
            unpriced.add_metric(labels, float(n_unpriced))
            buckets = [(_le(b), float(c)) for b, c in zip(LATENCY_BUCKETS, bucket_counts, strict=True)]
            buckets.append(("+Inf", float(n_total)))
            latency.add_metric(labels, buckets, latency_sum)
        yield from (cost, tokens, requests, savings, hits, unpriced, latency)

    def _spend_today(self, conn: psycopg.Connection) -> Iterator[Metric]:
        budget_family, spend_family = self._budget_families()
        spent = {loc: value for loc, value in conn.execute(SPEND_TODAY_SQL).fetchall()}
        seen = {loc for (loc,) in conn.execute(LOCATIONS_SQL).fetchall()}
        budgets: dict[str, float] = dict(self._budgets(conn))
        default = self._budget_for()
        for location in sorted(seen | set(budgets) | set(spent)):
            budget_family.add_metric([location], float(budgets.get(location, default)))
            spend_family.add_metric([location], float(spent.get(location, 0.0)))
        yield budget_family
        yield spend_family

    def _records(self, conn: psycopg.Connection) -> Iterator[Metric]:
        family = self._records_family()
        counts = {entity: 0 for entity in ENTITIES}
        counts.update({entity: n for entity, n in conn.execute(RECORDS_SQL).fetchall()})
        for entity in sorted(counts):
            family.add_metric([entity], float(counts[entity]))
        yield family

    def _estimates(self, conn: psycopg.Connection) -> Iterator[Metric]:
        (exists,) = conn.execute("SELECT to_regclass('talent.cost_estimates') IS NOT NULL").fetchone() or (False,)
        if not exists:
            return  # the table arrives with a later migration: nothing to export yet
        estimate, actual, stamp = self._estimate_families()
        for location, estimate_usd, actual_usd, created in conn.execute(ESTIMATES_SQL).fetchall():
            if estimate_usd is not None:
                estimate.add_metric([location], estimate_usd)
            if actual_usd is not None:
                actual.add_metric([location], actual_usd)
            stamp.add_metric([location], created)
        yield from (estimate, actual, stamp)

    def _reconcilers(self, conn: psycopg.Connection) -> Iterator[Metric]:
        (exists,) = conn.execute("SELECT to_regclass('talent.reconciler_ticks') IS NOT NULL").fetchone() or (False,)
        if not exists:
            return
        stale, in_flight, stranded, ticked = self._reconciler_families()
        for location, n_stale, n_flight, n_stranded, at in conn.execute(RECONCILER_SQL).fetchall():
            stale.add_metric([location], float(n_stale))
            in_flight.add_metric([location], float(n_flight))
            stranded.add_metric([location], float(n_stranded))
            ticked.add_metric([location], float(at))
        yield from (stale, in_flight, stranded, ticked)


RECONCILER_SQL = (
    "SELECT location, stale, in_flight, stranded, extract(epoch FROM ticked_at) FROM talent.reconciler_ticks"
    " ORDER BY location"
)


def make_registry(collector: LedgerCollector) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)
    registry.register(collector)
    return registry


class ExporterServer:
    """A running exporter; ``stop()`` (or leaving the ``with`` block) shuts it down."""

    def __init__(self, httpd: Any, thread: threading.Thread, collector: LedgerCollector) -> None:
        self._httpd = httpd
        self._thread = thread
        self.collector = collector
        self._stop_requested = threading.Event()
        self._stop_lock = threading.Lock()
        self._stopped = False

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def address(self) -> str:
        return str(self._httpd.server_address[0])

    def stop(self) -> None:
        """Shut the HTTP server down and join its thread; safe to call twice or from any thread."""
        self._stop_requested.set()
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
            self._httpd.shutdown()
            self._httpd.server_close()
            self._thread.join(timeout=10)

    def wait(self) -> None:
        """Block until ``stop()`` is called, SIGTERM arrives, or Ctrl-C; then stop."""
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, lambda *_: self._stop_requested.set())
        try:
            while not self._stop_requested.wait(1.0):
                pass
        except KeyboardInterrupt:
            pass
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
            self.stop()

    def __enter__(self) -> ExporterServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def make_app(registry: CollectorRegistry) -> Callable:
    """``/healthz`` answers without touching the database (for probes); any other path is metrics."""
    metrics = make_wsgi_app(registry)

    def app(environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"ok\n"]
        return metrics(environ, start_response)

    return app


def serve(
    port: int = DEFAULT_PORT,
    url: UrlSource = None,
    *,
    addr: str = "0.0.0.0",
    budgets: BudgetSource | None = None,
    block: bool = True,
) -> ExporterServer:
    """Serve ``/metrics`` (and a database-free ``/healthz``) on ``addr:port``; ``port=0`` picks one.

    ``url`` as in :class:`LedgerCollector` (``None``: ``TALENT_DATABASE_URL`` or the embedded
    server). With ``block=True`` (the CLI) this returns only after SIGTERM or Ctrl-C; with
    ``block=False`` it returns the running :class:`ExporterServer` at once (tests).
    """
    collector = LedgerCollector(url, budgets=budgets)
    if budgets is None:
        # The default budgets import the asset-key contract (and dagster): pay that once here,
        # not inside the first scrape's timeout.
        try:
            import talent_shared.cost.budget
            import talent_shared.keys  # noqa: F401
        except Exception:  # reported by the scrapes themselves
            log.exception("cost exporter: budgets unavailable")

    class Server(ThreadingWSGIServer):
        address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET

    httpd = make_server(addr, port, make_app(make_registry(collector)), Server, handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, name="talent-cost-exporter", daemon=True)
    thread.start()
    server = ExporterServer(httpd, thread, collector)
    log.info("cost exporter listening on %s:%s", server.address, server.port)
    if block:
        server.wait()
    return server
