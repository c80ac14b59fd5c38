"""Which step failures STEP_RETRY retries in place: a transient one (a dropped database connection)
is retried and the step succeeds; an LLM call that failed for good (the provider's error after
its client's retries, a refusal, the budget's cap) fails the step at once, so nothing is asked or
paid for again."""

from __future__ import annotations

import dagster as dg
import psycopg
import pytest

from talent_shared.compute import STEP_RETRY, llm_failures_not_retried
from talent_shared.llm.client import is_failed_call, mark_failed_call
from talent_shared.llm.meter import BudgetExceeded
from talent_shared.providers.base import BilledCallError, Usage

FAST_RETRY = dg.RetryPolicy(max_retries=STEP_RETRY.max_retries)  # the same count, without the delays


def _attempts(failure: BaseException, *, failing_attempts: int) -> tuple[bool, int]:
    """Materialize an asset whose first ``failing_attempts`` attempts raise ``failure`` inside
    :func:`llm_failures_not_retried`: whether the run succeeded, and how many attempts ran."""
    attempts: list[int] = []

    @dg.asset(retry_policy=FAST_RETRY)
    def step() -> None:
        attempts.append(1)
        with llm_failures_not_retried():
            if len(attempts) <= failing_attempts:
                raise failure

    with dg.instance_for_test() as instance:
        result = dg.materialize([step], instance=instance, raise_on_error=False)
    return result.success, len(attempts)


def test_a_dropped_connection_is_retried_in_place() -> None:
    assert _attempts(psycopg.OperationalError("server closed the connection unexpectedly"), failing_attempts=2) == (
        True,
        3,
    )


def _failed_provider_call() -> Exception:
    exc = RuntimeError("Error code: 500 - {'error': {'message': 'The server had an error'}}")
    mark_failed_call(exc)
    return exc


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(_failed_provider_call(), id="provider-error-after-client-retries"),
        pytest.param(BilledCallError("refused", Usage("openai", "gpt-4o-mini", "chat", 12)), id="billed-refusal"),
        pytest.param(BudgetExceeded("budget of candidates exhausted"), id="budget"),
    ],
)
def test_a_failed_llm_call_fails_the_step_once(failure: BaseException) -> None:
    assert is_failed_call(failure)
    assert _attempts(failure, failing_attempts=1) == (False, 1)


def test_an_unmarked_error_is_not_a_failed_llm_call() -> None:
    assert not is_failed_call(RuntimeError("Error code: 500"))
    assert not is_failed_call(psycopg.OperationalError("the database system is shutting down"))
