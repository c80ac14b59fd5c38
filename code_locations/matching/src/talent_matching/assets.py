"""``matches``: one unpartitioned, incremental asset over the two vector assets of the other teams."""

from pathlib import Path

import dagster as dg

from talent_matching.versions import CROSSJOIN_VERSION, EXPLAIN_PROMPT_VERSION, SCORE_VERSION
from talent_shared.compute import STEP_RETRY, llm_failures_not_retried, op_tags
from talent_shared.keys import MATCHES
from talent_shared.prompts import Prompt, prompt_metadata
from talent_shared.providers.factory import llm_code_version
from talent_shared.resources import EmbedderResource, LLMResource, MeterResource, PostgresResource
from talent_shared.settings import get_settings
from talent_shared.stubs import candidate_vectors_stub, job_vectors_stub

EXPLAIN_PROMPT = Prompt.from_file(Path(__file__).parent / "prompts" / "explain.txt", EXPLAIN_PROMPT_VERSION)

MATCHES_CODE_VERSION = (
    f"{CROSSJOIN_VERSION}:{SCORE_VERSION}:k{get_settings().top_k}:{EXPLAIN_PROMPT.version}:{llm_code_version()}"
)


@dg.asset(
    key=MATCHES,
    deps=[
        dg.AssetDep(candidate_vectors_stub, partition_mapping=dg.AllPartitionMapping()),
        dg.AssetDep(job_vectors_stub, partition_mapping=dg.AllPartitionMapping()),
    ],
    code_version=MATCHES_CODE_VERSION,
    metadata=prompt_metadata(EXPLAIN_PROMPT),
    op_tags=op_tags("large"),
    retry_policy=STEP_RETRY,
    group_name="matching",
    kinds={"pgvector", "numpy"},
    description="Top K jobs per candidate and top K candidates per job, recomputed only for changed inputs.",
)
def matches(
    context: dg.AssetExecutionContext,
    postgres: PostgresResource,
    llm: LLMResource,
    embedder: EmbedderResource,
    meter: MeterResource,
) -> dg.MaterializeResult:
    from talent_matching.crossjoin import run_matching
    from talent_shared.cost.budget import preflight
    from talent_shared.llm.client import MeteredLLM
    from talent_shared.pipeline import metered_step

    settings = get_settings()
    with llm_failures_not_retried(), meter.for_asset(context) as step_meter:
        # explanations are the only LLM calls here: one budget check for the step, then the hard cap
        preflight(context, step_meter, 1)
        metered = MeteredLLM(llm.provider_for_step(), step_meter)

        def explain(candidate, job, overlap):
            text, _ = metered.explain_match(EXPLAIN_PROMPT, candidate, job, overlap)
            return text

        with postgres.connect() as conn:  # run_matching commits its own transactions; none is open during explain
            report = run_matching(
                conn, k=settings.top_k, explain=explain, contract=embedder.contract(), log=context.log.info
            )
        context.log.info(
            f"matched {len(report.changed_candidates)} changed candidates and {len(report.changed_jobs)} changed jobs"
        )
        return metered_step(
            context,
            step_meter,
            len(report.changed_candidates) + len(report.changed_jobs),
            {
                "changed_candidates": len(report.changed_candidates),
                "changed_jobs": len(report.changed_jobs),
                "rows_written": report.rows_written,
                "rows_deleted": report.rows_deleted,
                "explanations": report.explained,
                "waited_for_another_run_s": round(report.waited_s, 1),
            },
        )
