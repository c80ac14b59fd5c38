"""Progress for the long commands: redrawn in place on a terminal, plain lines anywhere else.

It goes to stderr, so stdout keeps only a command's result (``--json`` stays parseable). When stderr
is a terminal, rich draws a spinner per step, a bar per counted task and a line per status, redrawn
in place. When it is not (a CI log, a pipe, a file), the same events are plain lines without
control codes: a step when it starts and when it ends, a task or status at most every ``interval``
seconds while it changes and once at its end, so a log stays short and still says where a command
waits.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import IO, Any

from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, SpinnerColumn, Task, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.text import Text


class _Mark(SpinnerColumn):
    """A spinner while a row runs, then a check mark, or a cross when its step failed."""

    def render(self, task: Task) -> Any:
        if task.fields.get("failed"):
            return Text("✗", style="red")
        return super().render(task)


class _Bar(BarColumn):
    """Only counted tasks have a bar: steps and statuses have no total."""

    def render(self, task: Task) -> Any:
        return super().render(task) if task.fields.get("kind") == "task" else Text("")


class _Count(ProgressColumn):
    def render(self, task: Task) -> Text:
        if task.fields.get("kind") == "task":
            return Text(f"{int(task.completed)}/{int(task.total or 0)} {task.fields.get('unit', '')}".rstrip())
        return Text(str(task.fields.get("info", "")))


def _seconds(start: float) -> str:
    return f"{time.monotonic() - start:.1f}s"


class Counted:
    """A count towards a known total (records written, assets priced)."""

    def __init__(self, progress: Progress, description: str, total: int, unit: str) -> None:
        self.progress, self.description, self.total, self.unit = progress, description, total, unit
        self.completed = 0
        self.started = self.printed = time.monotonic()
        self.closed = False
        self.id = progress._add(description, kind="task", total=total, unit=unit)

    def advance(self, n: int = 1) -> None:
        self.completed += n
        if self.progress.live:
            self.progress._rich.update(self.id, completed=self.completed)
        elif time.monotonic() - self.printed >= self.progress.interval:
            self.progress._line(f"{self.description}: {self.completed}/{self.total} {self.unit}".rstrip())
            self.printed = time.monotonic()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.progress.live:
            self.progress._rich.update(self.id, completed=self.completed, total=max(self.total, self.completed))
            self.progress._rich.stop_task(self.id)
        else:
            line = f"{self.description}: {self.completed}/{self.total} {self.unit}".rstrip()
            self.progress._line(f"{line} ({_seconds(self.started)})")


class Status:
    """A line whose text changes (counts while a platform works)."""

    def __init__(self, progress: Progress, description: str) -> None:
        self.progress, self.description = progress, description
        self.text = self.shown = ""
        # None until the first line: the first text is shown at once (a start of 0.0 read the
        # monotonic clock, seconds since boot, as time since the last line)
        self.printed: float | None = None
        self.id = progress._add(description, kind="status", info="")

    def update(self, text: str) -> None:
        self.text = text
        if self.progress.live:
            self.progress._rich.update(self.id, info=text)
        elif text != self.shown and (self.printed is None or time.monotonic() - self.printed >= self.progress.interval):
            self._print()

    def _print(self) -> None:
        self.progress._line(f"{self.description}: {self.text}")
        self.shown, self.printed = self.text, time.monotonic()

    def close(self) -> None:
        if self.progress.live:
            self.progress._rich.update(self.id, total=1, completed=1)
        elif self.text and self.text != self.shown:
            self._print()


class Progress:
    """Steps, counted tasks and status lines of one command; a context manager.

    ``live`` None decides from the stream: live when it is a terminal (and not a dumb one)."""

    def __init__(self, *, live: bool | None = None, stream: IO[str] | None = None, interval: float = 5.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.console = Console(file=self.stream)
        self.live = (self.console.is_terminal and not self.console.is_dumb_terminal) if live is None else live
        self.interval = interval
        self._open: list[Counted | Status] = []
        self._rich = RichProgress(
            _Mark(finished_text=Text("✓", style="green")),
            TextColumn("{task.description}"),
            _Bar(bar_width=30),
            _Count(),
            TimeElapsedColumn(),
            console=self.console,
            refresh_per_second=4,
            disable=not self.live,
        )

    def __enter__(self) -> Progress:
        if self.live:
            self._rich.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    def stop(self) -> None:
        """Close what is open and leave the last state on screen (idempotent)."""
        for item in self._open:
            item.close()
        self._open.clear()
        if self.live:
            self._rich.stop()

    def _add(self, description: str, **fields: Any) -> Any:
        total = fields.pop("total", None)
        return self._rich.add_task(description, total=total, **fields) if self.live else None

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def note(self, text: str) -> None:
        """A line that stays (printed above the live rows on a terminal)."""
        if self.live:
            self._rich.console.print(text, markup=False, highlight=False)
        else:
            self._line(text)

    @contextmanager
    def step(self, description: str, done: str = "done") -> Iterator[None]:
        """One thing being started or waited for; marked done, or failed when the block raises."""
        start = time.monotonic()
        task = self._add(description, kind="step", info="")
        if not self.live:
            self._line(f"{description} ...")
        try:
            yield
        except BaseException:
            if self.live:
                self._rich.update(task, failed=True, info="failed", total=1, completed=0)
                self._rich.stop_task(task)
            else:
                self._line(f"{description}: failed after {_seconds(start)}")
            raise
        if self.live:
            self._rich.update(task, info=done, total=1, completed=1)
        else:
            self._line(f"{description}: {done} ({_seconds(start)})")

    def task(self, description: str, total: int, unit: str = "") -> Counted:
        task = Counted(self, description, total, unit)
        self._open.append(task)
        return task

    def status(self, description: str) -> Status:
        status = Status(self, description)
        self._open.append(status)
        return status
