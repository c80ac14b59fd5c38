"""Timing, result records and the results file every suite writes into."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / ".bench"
RESULTS = BENCH / "results.json"


@dataclass
class Metric:
    name: str
    value: float
    unit: str
    target: str = ""  # e.g. "<= 20 s"; empty when the number is context, not a goal
    met: bool | None = None
    note: str = ""


@dataclass
class Suite:
    name: str
    metrics: list[Metric] = field(default_factory=list)
    info: dict = field(default_factory=dict)
    started: float = field(default_factory=time.time)
    seconds: float = 0.0

    def add(self, name: str, value: float, unit: str, *, target: str = "", note: str = "") -> Metric:
        metric = Metric(name, round(float(value), 4), unit, target, _meets(value, target), note)
        self.metrics.append(metric)
        flag = "" if metric.met is None else ("  [met]" if metric.met else "  [MISSED]")
        goal = f"  (target {target})" if target else ""
        print(f"  {name:<58} {_fmt(value):>12} {unit:<6}{goal}{flag}{'  ' + note if note else ''}", flush=True)
        return metric


def _fmt(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 1000 else f"{value:,.1f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.4f}"


def _meets(value: float, target: str) -> bool | None:
    if not target:
        return None
    op, _, number = target.partition(" ")
    bound = float(number.split()[0])
    return value <= bound if op == "<=" else value >= bound if op == ">=" else None


def log(message: str) -> None:
    print(f"    {message}", flush=True)


@contextmanager
def timed() -> Iterator[list[float]]:
    """``with timed() as t: ...`` then ``t[0]`` is the elapsed seconds."""
    box: list[float] = []
    start = time.perf_counter()
    try:
        yield box
    finally:
        box.append(time.perf_counter() - start)


def p50(values: list[float]) -> float:
    return statistics.median(values)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def machine() -> dict:
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    return {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_1m": round(load[0], 2),
    }


def save(suites: list[Suite]) -> Path:
    """Merge these suites into the results file (a subset run keeps the other suites' last numbers)."""
    BENCH.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(RESULTS.read_text())
    except (OSError, ValueError):
        data = {}
    data.setdefault("suites", {})
    for suite in suites:
        data["suites"][suite.name] = {
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(suite.started)),
            "seconds": round(suite.seconds, 1),
            "machine": machine(),
            "info": suite.info,
            "metrics": [m.__dict__ for m in suite.metrics],
        }
    RESULTS.write_text(json.dumps(data, indent=2) + "\n")
    return RESULTS
