"""Schema migrations, applied in order, each once, under an advisory lock.

Plain SQL kept in this one module so the whole schema reads top to bottom. A migration is never
edited once released; a change is a new entry. ``{dim}`` is the embedding dimension from settings:
changing it on an existing database is refused with a clear message instead of silently mixing
dimensions.
"""

from __future__ import annotations

import psycopg

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_core",
        """
        CREATE EXTENSION IF NOT EXISTS vector;
        CREATE SCHEMA IF NOT EXISTS talent;

        -- What each landing source looked like when a sensor last read it.
        CREATE TABLE talent.ingested_sources (
            entity       text NOT NULL,
            source       text NOT NULL,
            fingerprint  text NOT NULL,
            read_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (entity, source)
        );

        -- Rows producers (and the webhook) write; a sensor reads them by id.
        CREATE TABLE talent.inbox (
            id               bigserial PRIMARY KEY,
            entity           text NOT NULL CHECK (entity IN ('candidate', 'job')),
            payload          jsonb NOT NULL,
            idempotency_key  text NOT NULL,
            received_at      timestamptz NOT NULL DEFAULT now(),
            UNIQUE (entity, idempotency_key)
        );

        CREATE TABLE talent.rejects (
            id           bigserial PRIMARY KEY,
            entity       text NOT NULL,
            source       text NOT NULL,
            line         integer,
            reason       text NOT NULL,
            excerpt      text,
            rejected_at  timestamptz NOT NULL DEFAULT now(),
            UNIQUE (entity, source, line, reason)
        );

        -- The validated records (what raw_candidates / raw_jobs materialize). ``seq`` grows on
        -- every content change, so a sensor's cursor can resume exactly where it stopped.
        CREATE SEQUENCE talent.raw_records_seq;
        CREATE TABLE talent.raw_records (
            entity        text NOT NULL CHECK (entity IN ('candidate', 'job')),
            record_id     text NOT NULL,
            content_hash  text NOT NULL,
            payload       jsonb NOT NULL,
            source        text NOT NULL,
            line          integer,
            seq           bigint NOT NULL DEFAULT nextval('talent.raw_records_seq'),
            stored_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (entity, record_id)
        );
        CREATE INDEX raw_records_seq_idx ON talent.raw_records (entity, seq);

        CREATE TABLE talent.profiles (
            entity        text NOT NULL,
            record_id     text NOT NULL,
            profile       jsonb NOT NULL,
            data_version  text NOT NULL,
            code_version  text NOT NULL,
            updated_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (entity, record_id)
        );

        CREATE TABLE talent.candidate_vectors (
            record_id     text PRIMARY KEY,
            embedding     vector({dim}) NOT NULL,
            data_version  text NOT NULL,
            model         text NOT NULL,
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE talent.job_vectors (LIKE talent.candidate_vectors INCLUDING ALL);
        ALTER TABLE talent.candidate_vectors ALTER COLUMN embedding SET STORAGE PLAIN;
        ALTER TABLE talent.job_vectors ALTER COLUMN embedding SET STORAGE PLAIN;

        CREATE TABLE talent.matches (
            candidate_id       text NOT NULL,
            job_id             text NOT NULL,
            score              double precision NOT NULL,
            candidate_rank     integer,
            job_rank           integer,
            similarity         double precision NOT NULL,
            skill_overlap      double precision NOT NULL,
            experience_fit     double precision NOT NULL,
            candidate_version  text NOT NULL,
            job_version        text NOT NULL,
            explanation        text,
            computed_at        timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (candidate_id, job_id)
        );
        CREATE INDEX matches_job_idx ON talent.matches (job_id, job_rank);
        CREATE INDEX matches_candidate_idx ON talent.matches (candidate_id, candidate_rank);

        -- The vector versions the last matches run consumed, per side.
        CREATE TABLE talent.match_inputs (
            entity        text NOT NULL,
            record_id     text NOT NULL,
            data_version  text NOT NULL,
            PRIMARY KEY (entity, record_id)
        );
        """,
    ),
    (
        "0002_llm_ledger",
        """
        -- One row per LLM or embedding call, keyed so a retried step never counts a call twice.
        CREATE TABLE talent.llm_usage (
            call_id          text PRIMARY KEY,
            run_id           text,
            step_key         text,
            asset_key        text,
            partition_key    text,
            code_location    text,
            code_version     text,
            provider         text NOT NULL,
            model            text NOT NULL,
            operation        text NOT NULL,
            input_tokens     bigint NOT NULL DEFAULT 0,
            cached_tokens    bigint NOT NULL DEFAULT 0,
            output_tokens    bigint NOT NULL DEFAULT 0,
            cost_usd         numeric(18, 10),
            priced           boolean NOT NULL DEFAULT true,
            price_timestamp  timestamptz,
            latency_ms       double precision NOT NULL DEFAULT 0,
            status           text NOT NULL,
            cache_hit        boolean NOT NULL DEFAULT false,
            saved_usd        numeric(18, 10) NOT NULL DEFAULT 0,
            created_at       timestamptz NOT NULL DEFAULT now()
        );
        CREATE INDEX llm_usage_run_idx ON talent.llm_usage (run_id);
        CREATE INDEX llm_usage_asset_idx ON talent.llm_usage (code_location, asset_key, created_at);

        CREATE TABLE talent.llm_cache (
            cache_key       text PRIMARY KEY,
            prompt_version  text NOT NULL,
            model           text NOT NULL,
            input_hash      text NOT NULL,
            response        jsonb NOT NULL,
            cost_usd        numeric(18, 10) NOT NULL DEFAULT 0,
            created_at      timestamptz NOT NULL DEFAULT now()
        );
        """,
    ),
    (
        "0003_hnsw_vectors",
        """
        -- Approximate nearest neighbours for one new record against the other side (cosine, as the
        -- vectors are unit length). Built on empty tables at migrate time, so it costs nothing
        -- here; on a filled table expect ~40-55 s per 100k x 384 on 2 cores (benchmarks/README.md).
        CREATE INDEX IF NOT EXISTS job_vectors_embedding_hnsw ON talent.job_vectors
            USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
        CREATE INDEX IF NOT EXISTS candidate_vectors_embedding_hnsw ON talent.candidate_vectors
            USING hnsw (embedding vector_cosine_ops) WITH (m = 16, ef_construction = 64);
        """,
    ),
    (
        "0004_llm_cost_estimates_budgets",
        """
        -- Pre-deploy / backfill / new-record estimates and, once the runs they estimated have
        -- finished, what those runs actually cost (``talent cost estimate``; the exporter reads it).
        -- ``detail`` holds what was estimated (assets, code versions, partitions, method).
        CREATE TABLE IF NOT EXISTS talent.cost_estimates (
            id             bigserial PRIMARY KEY,
            created_at     timestamptz NOT NULL DEFAULT now(),
            code_location  text NOT NULL,
            estimate_usd   numeric(18, 10) NOT NULL,
            actual_usd     numeric(18, 10),
            kind           text NOT NULL DEFAULT 'deploy',
            detail         jsonb NOT NULL DEFAULT '{}'::jsonb,
            reconciled_at  timestamptz
        );
        CREATE INDEX IF NOT EXISTS cost_estimates_location_idx ON talent.cost_estimates (code_location, created_at DESC);
        CREATE INDEX IF NOT EXISTS llm_usage_created_idx ON talent.llm_usage (created_at);

        -- Daily LLM budget per code location; a missing row means TALENT_DAILY_BUDGET_USD
        -- (talent_shared.cost.budget.daily_budgets is the one reader).
        CREATE TABLE IF NOT EXISTS talent.llm_budgets (
            code_location  text PRIMARY KEY,
            daily_usd      numeric(18, 10) NOT NULL CHECK (daily_usd >= 0),
            updated_at     timestamptz NOT NULL DEFAULT now()
        );

        -- Explicit prices (USD per million tokens) for models genai-prices does not know, or whose
        -- negotiated price differs; a row here wins over genai-prices for that (provider, model).
        CREATE TABLE IF NOT EXISTS talent.llm_prices (
            provider              text NOT NULL,
            model                 text NOT NULL,
            input_per_mtok        numeric(18, 10) NOT NULL,
            cached_input_per_mtok numeric(18, 10),
            output_per_mtok       numeric(18, 10) NOT NULL DEFAULT 0,
            updated_at            timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (provider, model)
        );
        """,
    ),
    (
        "0005_lexical_signal",
        """
        -- The lexical half of the match score (talent_shared.lexical): each record's own words as a
        -- 512-bucket hashed term vector, written with its embedding; NULL for rows embedded before
        -- it (matching reads NULL as no lexical evidence). ``matches.lexical`` is that term of a
        -- pair, next to the other components.
        ALTER TABLE talent.candidate_vectors ADD COLUMN IF NOT EXISTS lexical vector(512);
        ALTER TABLE talent.job_vectors ADD COLUMN IF NOT EXISTS lexical vector(512);
        ALTER TABLE talent.matches ADD COLUMN IF NOT EXISTS lexical double precision NOT NULL DEFAULT 0;
        ALTER TABLE talent.matches ADD COLUMN IF NOT EXISTS seniority_fit double precision NOT NULL DEFAULT 1;
        """,
    ),
    (
        "0006_llm_cache_writer",
        """
        -- Who wrote a cached response: the database role, filled by the default so no writer has to
        -- say it. The cache is shared by every location and has no location column; with the
        -- per-location roles (talent_shared.db.roles) a location reads only the rows it wrote
        -- (and those written before the roles existed), so it cannot plant another's responses.
        ALTER TABLE talent.llm_cache ADD COLUMN IF NOT EXISTS writer name NOT NULL DEFAULT current_user;
        """,
    ),
    (
        "0007_match_floors",
        """
        -- The K-th entry of each entity's stored list in talent.matches (its floor): a changed record
        -- of the other side can only enter an untouched list if it is not below it, so a matching
        -- run reads one row per entity here instead of probing talent.matches per entity.
        -- -Infinity: the list holds fewer than K entries (anything enters it); floor_id is the other
        -- side's id at rank K, which breaks a tie with the same score. NULL reads as -Infinity.
        -- Filled here from the stored lists, with the K each row was matched with (its version ends
        -- in /kK); matching keeps it up to date for every list it writes.
        ALTER TABLE talent.match_inputs ADD COLUMN IF NOT EXISTS floor_score double precision;
        ALTER TABLE talent.match_inputs ADD COLUMN IF NOT EXISTS floor_id text;
        UPDATE talent.match_inputs i
        SET floor_score = coalesce(m.score, '-Infinity'), floor_id = m.job_id
        FROM talent.match_inputs i2
        LEFT JOIN talent.matches m ON m.candidate_id = i2.record_id
            AND m.candidate_rank = substring(i2.data_version FROM '/k([0-9]+)$')::integer
        WHERE i2.entity = 'candidate' AND i.entity = i2.entity AND i.record_id = i2.record_id;
        UPDATE talent.match_inputs i
        SET floor_score = coalesce(m.score, '-Infinity'), floor_id = m.candidate_id
        FROM talent.match_inputs i2
        LEFT JOIN talent.matches m ON m.job_id = i2.record_id
            AND m.job_rank = substring(i2.data_version FROM '/k([0-9]+)$')::integer
        WHERE i2.entity = 'job' AND i.entity = i2.entity AND i.record_id = i2.record_id;
        """,
    ),
    (
        "0008_inbox_commit_order",
        """
        -- The inbox is read in commit order, not id order: an id is taken at insert but seen at
        -- commit, so a producer that commits after a later id was read would be skipped by an
        -- ``id > cursor`` reader. Each row carries the id of the transaction that wrote it; a reader
        -- takes only rows whose writers are all finished (below its snapshot's xmin) in (txid, id)
        -- order (talent_shared.ingest.store.inbox_after). Rows written before this carry 0 and are
        -- read first, so an old ``inbox_id`` cursor keeps its meaning.
        ALTER TABLE talent.inbox ADD COLUMN IF NOT EXISTS txid xid8;
        UPDATE talent.inbox SET txid = '0' WHERE txid IS NULL;
        ALTER TABLE talent.inbox ALTER COLUMN txid SET DEFAULT pg_current_xact_id();
        ALTER TABLE talent.inbox ALTER COLUMN txid SET NOT NULL;
        CREATE INDEX IF NOT EXISTS inbox_commit_order_idx ON talent.inbox (entity, txid, id);
        """,
    ),
    (
        "0009_batches_and_record_lineage",
        """
        -- Records are rows; Dagster partitions are arrival batches (talent_shared.partitions). A
        -- record joins the open batch of its entity when first stored and keeps it: ``ordinal`` is
        -- its arrival number, the batch is ordinal / batch size. Records stored before this are
        -- numbered in the order they were stored, in batches of the default size (2,000).
        CREATE SEQUENCE IF NOT EXISTS talent.candidate_ordinal MINVALUE 0 START 0;
        CREATE SEQUENCE IF NOT EXISTS talent.job_ordinal MINVALUE 0 START 0;
        ALTER TABLE talent.raw_records ADD COLUMN IF NOT EXISTS ordinal bigint;
        ALTER TABLE talent.raw_records ADD COLUMN IF NOT EXISTS partition_key text;
        WITH numbered AS (
            SELECT entity, record_id, row_number() OVER (PARTITION BY entity ORDER BY seq) - 1 AS n
            FROM talent.raw_records
        )
        UPDATE talent.raw_records r
        SET ordinal = numbered.n, partition_key = 'b' || lpad((numbered.n / 2000)::text, 6, '0')
        FROM numbered WHERE r.entity = numbered.entity AND r.record_id = numbered.record_id;
        SELECT setval('talent.candidate_ordinal', coalesce(max(ordinal), -1) + 1, false)
            FROM talent.raw_records WHERE entity = 'candidate';
        SELECT setval('talent.job_ordinal', coalesce(max(ordinal), -1) + 1, false)
            FROM talent.raw_records WHERE entity = 'job';
        ALTER TABLE talent.raw_records ALTER COLUMN ordinal SET NOT NULL;
        ALTER TABLE talent.raw_records ALTER COLUMN partition_key SET NOT NULL;
        CREATE INDEX IF NOT EXISTS raw_records_partition_idx ON talent.raw_records (entity, partition_key);

        -- Record-level lineage: per record and stage, what it consumed (input version), the code
        -- version, what it produced, the run, its status and attempts, tokens and cost. A record is
        -- stale for a stage when its row is pending or failed (an input changed, or an attempt
        -- failed) or when its batch was last done at another code version (talent.batch_stages).
        -- ``pending``: to do; ``done``: done at input_version/code_version; ``failed``: the last
        -- attempt failed (reason), retried while attempts < the limit; ``quarantined``: given up
        -- at these versions, with the reason, until its input or the code changes.
        CREATE TABLE IF NOT EXISTS talent.record_stages (
            entity          text NOT NULL CHECK (entity IN ('candidate', 'job')),
            stage           text NOT NULL CHECK (stage IN ('normalized', 'vectors')),
            record_id       text NOT NULL,
            partition_key   text NOT NULL,
            status          text NOT NULL CHECK (status IN ('pending', 'done', 'failed', 'quarantined')),
            input_version   text,
            code_version    text,
            output_version  text,
            run_id          text,
            attempts        integer NOT NULL DEFAULT 0,
            reason          text,
            input_tokens    bigint NOT NULL DEFAULT 0,
            output_tokens   bigint NOT NULL DEFAULT 0,
            cost_usd        numeric(18, 10) NOT NULL DEFAULT 0,
            updated_at      timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (entity, stage, record_id)
        );
        CREATE INDEX IF NOT EXISTS record_stages_partition_idx
            ON talent.record_stages (entity, stage, partition_key);
        CREATE INDEX IF NOT EXISTS record_stages_open_idx
            ON talent.record_stages (entity, stage, partition_key) WHERE status IN ('pending', 'failed');

        -- Per batch and stage: the code version every record of the batch was last processed at
        -- (NULL until its first run). A deploy that changes a stage's code version makes every
        -- batch whose row differs stale: one row per batch to compare, not one per record.
        CREATE TABLE IF NOT EXISTS talent.batch_stages (
            entity         text NOT NULL,
            stage          text NOT NULL,
            partition_key  text NOT NULL,
            code_version   text,
            updated_at     timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (entity, stage, partition_key)
        );

        -- What a deployment with a partition per record already did is adopted, not redone: a
        -- profile written after its record's last change is done at the profile's code version; a
        -- vector written after its profile is done at a code version this migration cannot know
        -- (''), so its batch re-embeds once (paid embeddings come back from the response cache).
        INSERT INTO talent.record_stages (entity, stage, record_id, partition_key, status, input_version,
            code_version, output_version)
        SELECT r.entity, 'normalized', r.record_id, r.partition_key,
            CASE WHEN p.record_id IS NOT NULL AND p.updated_at >= r.stored_at THEN 'done' ELSE 'pending' END,
            CASE WHEN p.record_id IS NOT NULL AND p.updated_at >= r.stored_at THEN r.content_hash END,
            p.code_version, p.data_version
        FROM talent.raw_records r
        LEFT JOIN talent.profiles p ON p.entity = r.entity AND p.record_id = r.record_id
        ON CONFLICT DO NOTHING;
        INSERT INTO talent.record_stages (entity, stage, record_id, partition_key, status, input_version,
            code_version, output_version)
        SELECT r.entity, 'vectors', r.record_id, r.partition_key,
            CASE WHEN v.data_version IS NOT NULL AND v.updated_at >= p.updated_at THEN 'done' ELSE 'pending' END,
            CASE WHEN v.data_version IS NOT NULL AND v.updated_at >= p.updated_at THEN p.data_version END,
            '', v.data_version
        FROM talent.raw_records r
        LEFT JOIN talent.profiles p ON p.entity = r.entity AND p.record_id = r.record_id
        LEFT JOIN (
            SELECT 'candidate' AS entity, record_id, data_version, updated_at FROM talent.candidate_vectors
            UNION ALL SELECT 'job', record_id, data_version, updated_at FROM talent.job_vectors
        ) v ON v.entity = r.entity AND v.record_id = r.record_id
        ON CONFLICT DO NOTHING;
        -- Each location's reconciler (talent_shared.reconciler) writes what its last tick saw: records
        -- with work, how many its live runs cover, what it requested, and what it could do nothing
        -- for (stranded: held by the budget, over the run cap, or given up after failed runs), with
        -- why. The exporter turns it into gauges; an alert fires on stranded records.
        CREATE TABLE IF NOT EXISTS talent.reconciler_ticks (
            location    text PRIMARY KEY,
            stale       bigint NOT NULL DEFAULT 0,
            in_flight   bigint NOT NULL DEFAULT 0,
            requested   bigint NOT NULL DEFAULT 0,
            stranded    bigint NOT NULL DEFAULT 0,
            quarantined bigint NOT NULL DEFAULT 0,
            reason      text,
            ticked_at   timestamptz NOT NULL DEFAULT now()
        );

        INSERT INTO talent.batch_stages (entity, stage, partition_key, code_version)
        SELECT s.entity, s.stage, s.partition_key,
            CASE WHEN count(DISTINCT s.code_version) = 1 AND count(s.code_version) = count(*)
                 THEN min(s.code_version) END
        FROM talent.record_stages s GROUP BY s.entity, s.stage, s.partition_key
        ON CONFLICT DO NOTHING;
        """,
    ),
    (
        "0010_public_schema_closed",
        """
        -- Nobody but the schema's owner creates objects in ``public``: it is on every role's search
        -- path, so a table or function planted there shadows a name another role resolves. Since
        -- PostgreSQL 15 a new database starts this way, but one created on 14 or older keeps
        -- CREATE for PUBLIC through every major upgrade (and a template may grant it). Holds
        -- whether or not the least-privilege roles are on (``talent db roles`` also closes it).
        -- Run as a role that does not own ``public``, this is a warning and changes nothing.
        REVOKE CREATE ON SCHEMA public FROM PUBLIC;
        """,
    ),
    (
        "0011_match_changes_in_commit_order",
        """
        -- Matching asks "what differs from what I consumed?" on every reconciler tick and run. Comparing
        -- every vector row with match_inputs answers it in time proportional to everything stored;
        -- these columns let it compare only the rows written since its last run, in commit order,
        -- so nothing written by a transaction that commits late is passed over:
        -- * txid: the transaction that last wrote the row, set by a trigger whoever writes it;
        -- * talent.match_watermark: the xmin of the snapshot the last run read (every writer below it
        --   had finished, so every row it wrote was seen), and the stamp (score, cross-join, K) it
        --   matched with. The next run compares rows with txid >= that xmin: a writer still open
        --   then has a txid at or above it, so its rows are compared again once committed;
        -- * talent.match_recheck: the ids of deleted vectors, profiles and match_inputs rows (no row
        --   is left to carry a txid), compared with the rows written since.
        -- No watermark, or one with another stamp, means the whole comparison (a first run, a new
        -- score or K); a TRUNCATE of any table the comparison reads forgets the watermark. Rows
        -- written before this carry txid 0: the first run compares everything anyway.
        CREATE FUNCTION talent.note_writer() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            NEW.txid := pg_current_xact_id();
            RETURN NEW;
        END $$;
        -- the entity: the trigger's argument on a vector table, the row's own column elsewhere
        CREATE FUNCTION talent.note_removal() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO talent.match_recheck (entity, record_id)
            VALUES (coalesce(TG_ARGV[0], to_jsonb(OLD) ->> 'entity'), OLD.record_id);
            RETURN OLD;
        END $$;
        CREATE FUNCTION talent.forget_match_watermark() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM talent.match_watermark;
            RETURN NULL;
        END $$;

        CREATE TABLE talent.match_watermark (
            singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
            stamp         text NOT NULL,
            snapshot_xmin xid8 NOT NULL,
            updated_at    timestamptz NOT NULL DEFAULT now()
        );
        CREATE TABLE talent.match_recheck (
            entity     text NOT NULL,
            record_id  text NOT NULL,
            txid       xid8 NOT NULL DEFAULT pg_current_xact_id()
        );
        CREATE INDEX match_recheck_txid_idx ON talent.match_recheck (txid);

        ALTER TABLE talent.candidate_vectors ADD COLUMN txid xid8 NOT NULL DEFAULT '0';
        ALTER TABLE talent.job_vectors ADD COLUMN txid xid8 NOT NULL DEFAULT '0';
        ALTER TABLE talent.profiles ADD COLUMN txid xid8 NOT NULL DEFAULT '0';
        CREATE INDEX candidate_vectors_txid_idx ON talent.candidate_vectors (txid);
        CREATE INDEX job_vectors_txid_idx ON talent.job_vectors (txid);
        CREATE INDEX profiles_txid_idx ON talent.profiles (entity, txid);

        CREATE TRIGGER candidate_vectors_writer BEFORE INSERT OR UPDATE ON talent.candidate_vectors
            FOR EACH ROW EXECUTE FUNCTION talent.note_writer();
        CREATE TRIGGER job_vectors_writer BEFORE INSERT OR UPDATE ON talent.job_vectors
            FOR EACH ROW EXECUTE FUNCTION talent.note_writer();
        CREATE TRIGGER profiles_writer BEFORE INSERT OR UPDATE ON talent.profiles
            FOR EACH ROW EXECUTE FUNCTION talent.note_writer();
        CREATE TRIGGER candidate_vectors_removal AFTER DELETE ON talent.candidate_vectors
            FOR EACH ROW EXECUTE FUNCTION talent.note_removal('candidate');
        CREATE TRIGGER job_vectors_removal AFTER DELETE ON talent.job_vectors
            FOR EACH ROW EXECUTE FUNCTION talent.note_removal('job');
        CREATE TRIGGER profiles_removal AFTER DELETE ON talent.profiles
            FOR EACH ROW EXECUTE FUNCTION talent.note_removal();
        CREATE TRIGGER match_inputs_removal AFTER DELETE ON talent.match_inputs
            FOR EACH ROW EXECUTE FUNCTION talent.note_removal();
        CREATE TRIGGER candidate_vectors_truncate AFTER TRUNCATE ON talent.candidate_vectors
            FOR EACH STATEMENT EXECUTE FUNCTION talent.forget_match_watermark();
        CREATE TRIGGER job_vectors_truncate AFTER TRUNCATE ON talent.job_vectors
            FOR EACH STATEMENT EXECUTE FUNCTION talent.forget_match_watermark();
        CREATE TRIGGER profiles_truncate AFTER TRUNCATE ON talent.profiles
            FOR EACH STATEMENT EXECUTE FUNCTION talent.forget_match_watermark();
        CREATE TRIGGER match_inputs_truncate AFTER TRUNCATE ON talent.match_inputs
            FOR EACH STATEMENT EXECUTE FUNCTION talent.forget_match_watermark();
        """,
    ),
    (
        "0012_vector_models_indexed",
        """
        -- Every matches run refuses vector tables holding rows of another model than the deployment's
        -- embedding contract (talent_shared.embedding). Asked without an index that is a scan of
        -- both vector tables on every run; with one, "any row whose model is below or above the
        -- contract's?" reads only the rows that differ, none when all agree.
        CREATE INDEX candidate_vectors_model_idx ON talent.candidate_vectors (model);
        CREATE INDEX job_vectors_model_idx ON talent.job_vectors (model);
        """,
    ),
    (
        "0013_llm_spend_by_day",
        """
        -- Every LLM step's budget preflight and every ingestion tick with pending records ask what a
        -- location spent today. Summing the day's ledger rows costs the day's calls: a bulk load
        -- or a prompt bump is hundreds of thousands of rows a day. A statement trigger keeps a
        -- total per location and UTC day beside the ledger, in the inserting transaction (the
        -- meter inserts in autocommit, so the total's row is locked for one insert at a time).
        -- Ledger rows are never updated or deleted by the application (a TRUNCATE empties the
        -- totals too); rows without a location
        -- or a cost (unpriced calls) count nowhere, as in the sum they replace.
        CREATE TABLE talent.llm_spend_daily (
            code_location text NOT NULL,
            day           date NOT NULL,
            cost_usd      numeric(24, 10) NOT NULL DEFAULT 0,
            PRIMARY KEY (code_location, day)
        );
        CREATE FUNCTION talent.add_llm_spend() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            INSERT INTO talent.llm_spend_daily AS t (code_location, day, cost_usd)
            SELECT code_location, (created_at AT TIME ZONE 'UTC')::date, sum(cost_usd)
            FROM added
            WHERE code_location IS NOT NULL AND cost_usd IS NOT NULL
            GROUP BY 1, 2
            ORDER BY 1, 2  -- the totals' rows locked in one order by every writer: no deadlock
            ON CONFLICT (code_location, day) DO UPDATE SET cost_usd = t.cost_usd + EXCLUDED.cost_usd;
            RETURN NULL;
        END $$;
        CREATE TRIGGER llm_usage_spend AFTER INSERT ON talent.llm_usage
            REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION talent.add_llm_spend();
        CREATE FUNCTION talent.forget_llm_spend() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            DELETE FROM talent.llm_spend_daily;
            RETURN NULL;
        END $$;
        CREATE TRIGGER llm_usage_truncate AFTER TRUNCATE ON talent.llm_usage
            FOR EACH STATEMENT EXECUTE FUNCTION talent.forget_llm_spend();
        INSERT INTO talent.llm_spend_daily (code_location, day, cost_usd)
        SELECT code_location, (created_at AT TIME ZONE 'UTC')::date, sum(cost_usd)
        FROM talent.llm_usage
        WHERE code_location IS NOT NULL AND cost_usd IS NOT NULL
        GROUP BY 1, 2;
        """,
    ),
]


class MigrationError(RuntimeError):
    pass


def migrate(conn: psycopg.Connection, *, dim: int) -> list[str]:
    """Apply what is missing; returns the versions applied now (empty when up to date)."""
    applied_now: list[str] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('talent.migrations'))")
        conn.execute("CREATE SCHEMA IF NOT EXISTS talent")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS talent.schema_migrations ("
            " version text PRIMARY KEY, embedding_dim integer NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        rows = conn.execute("SELECT version, embedding_dim FROM talent.schema_migrations").fetchall()
        done = {version for version, _ in rows}
        dims = {d for _, d in rows}
        if dims and dims != {dim}:
            raise MigrationError(
                f"the database holds {sorted(dims)}-dimensional vectors but TALENT_EMBEDDING_DIM={dim}; "
                "re-embed into a new database or set the dimension back"
            )
        for version, sql in MIGRATIONS:
            if version in done:
                continue
            conn.execute(sql.replace("{dim}", str(int(dim))).encode())
            conn.execute(
                "INSERT INTO talent.schema_migrations (version, embedding_dim) VALUES (%s, %s)", (version, dim)
            )
            applied_now.append(version)
    return applied_now


def pending(conn: psycopg.Connection) -> list[str]:
    """The versions :func:`migrate` would apply (all of them on an empty database); reads only."""
    exists = conn.execute("SELECT to_regclass('talent.schema_migrations') IS NOT NULL").fetchone()
    if not exists or not exists[0]:
        return [version for version, _ in MIGRATIONS]
    done = {version for (version,) in conn.execute("SELECT version FROM talent.schema_migrations")}
    return [version for version, _ in MIGRATIONS if version not in done]
