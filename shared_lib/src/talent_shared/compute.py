"""Per-asset compute: resource profiles and the executor each location runs.

Under ``K8sRunLauncher`` alone, asset ``op_tags`` are ignored (dagster#22865); with
``k8s_job_executor`` every step gets its own pod built from them. So every asset declares a
profile here and every location asks :func:`executor` for its executor: the in-process one locally
(``TALENT_EXECUTOR=in_process``, the default) and the k8s one on a cluster.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Literal

import dagster as dg

Profile = Literal["small", "medium", "large"]

PROFILES: dict[Profile, dict[str, dict[str, str]]] = {
    "small": {"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "500m", "memory": "1Gi"}},
    "medium": {"requests": {"cpu": "500m", "memory": "1Gi"}, "limits": {"cpu": "1", "memory": "2Gi"}},
    "large": {"requests": {"cpu": "1", "memory": "4Gi"}, "limits": {"cpu": "2", "memory": "8Gi"}},
}

K8S_CONFIG_TAG = "dagster-k8s/config"

# Every asset step retries a failure in place: a database restart or a dropped connection inside a
# step would otherwise fail its run for good, because automation does not request a partition
# again after a failed run and run retries skip step failures (retryOnAssetOrOpFailure: false, so
# a broken record is not re-run forever). 1 s, 2 s, 4 s covers a PostgreSQL restart or an RDS
# failover's first seconds; a retried step re-reads paid LLM answers from the response cache, so
# it never pays twice. A step that still fails leaves its records failed, visible in Dagster. An LLM
# call that failed for good is not retried in place (llm_failures_not_retried, below).
STEP_RETRY = dg.RetryPolicy(max_retries=3, delay=1, backoff=dg.Backoff.EXPONENTIAL)


@contextmanager
def llm_failures_not_retried() -> Iterator[None]:
    """Around a step's work: an LLM call that failed for good fails the step without
    :data:`STEP_RETRY`. Its client has already retried with backoff; in place, a refusal or an
    unusable answer would be paid for again, an exhausted budget cannot refill in seconds, and a
    provider outage would be hammered by every retry's own client retries."""
    from talent_shared.llm.client import is_failed_call

    try:
        yield
    except dg.Failure:
        raise
    except Exception as exc:
        if not is_failed_call(exc):
            raise
        raise dg.Failure(
            description=f"LLM call failed ({type(exc).__name__}: {exc}); not retried in place",
            allow_retries=False,
        ) from exc


def op_tags(profile: Profile, *, pool: str | None = None) -> dict[str, Any]:
    """The ``op_tags`` for an asset: its container resources and, optionally, its concurrency pool."""
    tags: dict[str, Any] = {K8S_CONFIG_TAG: {"container_config": {"resources": PROFILES[profile]}}}
    if pool:
        tags["dagster/concurrency_key"] = pool
    return tags


# What every step pod gets over the run pod's config (k8s_job_executor's step_k8s_config). The run
# pod needs a ServiceAccount token to launch and watch its step Jobs; a step only runs its asset, so
# it gets none: code in a step (a dependency included) cannot call the Kubernetes API as the team.
STEP_K8S_CONFIG: dict[str, Any] = {"pod_spec_config": {"automount_service_account_token": False}}


def executor(kind: str | None = None) -> dg.ExecutorDefinition:
    """The executor for a location's ``Definitions``.

    Imported lazily so a local definitions import does not pay for the kubernetes client.
    """
    from talent_shared.settings import get_settings

    kind = kind or get_settings().executor
    if kind == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor.configured(
            {"enable_owner_references": True, "max_concurrent": 4, "step_k8s_config": STEP_K8S_CONFIG}
        )
    return dg.in_process_executor
