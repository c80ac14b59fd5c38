"""The local platform's run launcher: Dagster's ``DefaultRunLauncher`` with a worker health check.

Run monitoring fails a STARTED run whose worker is gone only if the launcher can say so, and
``DefaultRunLauncher`` cannot. A local run can be left STARTED with no worker: the code server
forgets an execution once its process has exited with the run finished, and a PostgreSQL crash
under the local default ``synchronous_commit=off`` can then lose that unflushed ``RUN_SUCCESS``.
Nothing would fail such a run, and the reconciler would count its records as in flight for ever.
Here the health of a run's worker is what the code server that launched it knows: a server that
answers and holds no execution for the run means the worker is gone. A server that does not answer
says nothing (it may be restarting; its workers may still run), so that run counts as running.

Local platform only: on Kubernetes ``K8sRunLauncher`` checks the run's Job.
"""

from __future__ import annotations

import dagster as dg

from talent_platform.local.dagster_internals import get


class LocalRunLauncher(dg.DefaultRunLauncher):
    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun):
        result, status = get("CheckRunHealthResult"), get("WorkerStatus")
        # DefaultRunLauncher's own way to the run's code server (the address in the run's tags)
        client = self._get_grpc_client_for_termination(run.run_id)
        if client is None:  # finished meanwhile, or launched without a code server's address
            return result(status.RUNNING, "no code server to ask")
        try:
            answer = dg.deserialize_value(
                client.can_cancel_execution(get("CanCancelExecutionRequest")(run_id=run.run_id), timeout=10),
                get("CanCancelExecutionResult"),
            )
        except Exception as exc:  # the server is down or restarting: it cannot say the worker is gone
            return result(status.RUNNING, f"its code server did not answer ({type(exc).__name__})")
        if answer.can_cancel:
            return result(status.RUNNING)
        return result(status.FAILED, "the code server that launched this run has no process for it")
