"""``dagster-daemon run`` with the sensor and automation loops at the local platform's pace.

Dagster's sensor daemon and asset daemon each evaluate at most once every 5 s, whatever a sensor's
``minimum_interval_seconds`` says (module constants in dagster 1.13: ``dagster._daemon.sensor.
MIN_INTERVAL_LOOP_TIME`` and ``dagster._daemon.asset_daemon.MIN_INTERVAL_LOOP_SECONDS``). One
record waits for three of those loops on its way to matched (the ingestion sensor, then the
candidates' automation, then matching's): ~7.5 s on average and up to 15 s of pure waiting, half
of the 15 s a record may take. Here both loops run every ``LOOP_SECONDS``
(``TALENT_LOCAL_DAEMON_LOOP_SECONDS`` overrides it; 5 is Dagster's own); how often a sensor really
ticks is still its own ``minimum_interval_seconds`` (``TALENT_SENSOR_INTERVAL_SECONDS``).

The loop is a quarter of the sensors' 1 s interval, not equal to it: a sensor ticks on the first
loop at least its interval after its last tick started, and that start is stamped a little after
its loop began, so with a 1 s loop the next loop often came a few milliseconds early and a 1 s sensor
waited a second loop: it ticked every 2 s (benchmarks/README.md, "Orchestration").

Local platform only, like ``code_server``: on the cluster the chart runs Dagster's daemon as
shipped. ``tooling/tests/test_local_runtime.py`` fails if a Dagster upgrade renames the constants.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

LOOP_SECONDS = 0.25


def shorten_loops(seconds: float = LOOP_SECONDS) -> None:
    from talent_platform.local.dagster_internals import set_daemon_loop_seconds

    set_daemon_loop_seconds(seconds)


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m talent_platform.local.daemon <dagster-daemon arguments>``."""
    import os

    shorten_loops(float(os.environ.get("TALENT_LOCAL_DAEMON_LOOP_SECONDS", LOOP_SECONDS)))
    from talent_platform.local.dagster_internals import get

    daemon_main = get("daemon_cli")

    sys.argv = ["dagster-daemon", *(sys.argv[1:] if argv is None else argv)]
    daemon_main()


if __name__ == "__main__":
    main()
