"""One progress display across a study's stages: stage, done/total, ETA.

On a terminal it is one tqdm bar per stage, labelled `[i/N] stage`. Anywhere else (a log file, CI)
a bar would be redrawn thousands of times into the file, so it prints one line when a stage starts,
a line at each quarter of its work (and at most every `interval` seconds in between), and one line
when it ends: a 53,248-evaluation sweep leaves a handful of lines in a log, not 53,248 redraws.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, TextIO


def _duration(seconds: float) -> str:
    """`42 s`, `7.5 min`, `2.3 h`."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


class Stage:
    """The progress of one stage. Use as a context manager; `update(n)` after each unit of work."""

    def __init__(self, display: Display, name: str, total: int | None, unit: str, index: int) -> None:
        self.display, self.name, self.total, self.unit = display, name, total, unit
        self.done = 0
        # Optional weights: when units differ in cost (an attacked row costs hundreds of clean ones),
        # the caller passes each unit's expected `work` and the ETA follows the work, not the count.
        self.work_total = 0.0
        self.work_done = 0.0
        self.index = index
        self._start = display.clock()
        self._last_line = self._last_note = self._start
        self._next_quarter = 1
        self._bar: Any = None
        self._announced = False
        if not display.enabled:
            return
        if display.tty:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total, desc=self.label, unit=unit, file=display.stream, dynamic_ncols=True)
        elif total is not None:
            self._announce()

    def _announce(self) -> None:
        """Off a terminal: the stage's first line, once its size is known (or when it ends)."""
        if not self._announced:
            self._announced = True
            size = "" if self.total is None else f": {self.total:,} {self.unit}"
            self.display.write(f"{self.label}{size}")

    @property
    def label(self) -> str:
        n = self.display.stages
        return f"[{self.index}/{n}] {self.name}" if n else self.name

    def eta(self) -> float | None:
        """Seconds left at the rate so far, or None before any work or without a total."""
        if not self.done or self.total is None:
            return None
        elapsed = self.display.clock() - self._start
        if self.work_total > 0 and self.work_done > 0:
            return elapsed / self.work_done * max(self.work_total - self.work_done, 0.0)
        return elapsed / self.done * max(self.total - self.done, 0)

    def add_total(self, n: int, work: float | None = None) -> None:
        """Grow the total (sampled sweeps learn how much work there is as they go); `work`: its expected cost."""
        self.total = (self.total or 0) + n
        self.work_total += work or 0.0
        if self._bar is not None:
            self._bar.total = self.total
            self._bar.refresh()
        elif self.display.enabled:
            self._announce()

    def update(self, n: int = 1, work: float | None = None, **postfix: str) -> None:
        """Record `n` more units done (of expected cost `work`, when the total was given one);
        `postfix` (e.g. tok_s="5400") shows beside the bar."""
        self.done += n
        self.work_done += work or 0.0
        if not self.display.enabled:
            return
        if self._bar is not None:
            self._bar.update(n)
            eta = self.eta() if self.work_total else None
            if eta is not None:  # tqdm's own ETA counts units; this one weighs them
                postfix = {"eta": _duration(eta), **postfix}
            if postfix:
                self._bar.set_postfix(postfix)
            return
        self._announce()
        now = self.display.clock()
        due = now - self._last_line >= self.display.interval
        if self.total:
            quarter = 4 * self.done // self.total
            if quarter >= self._next_quarter and self.done < self.total:
                due = True
                self._next_quarter = quarter + 1
        if due:
            self._last_line = now
            of = f"/{self.total:,}" if self.total is not None else ""
            eta = self.eta()
            extra = "".join(f", {k} {v}" for k, v in postfix.items())
            tail = "" if eta is None else f", ETA {_duration(eta)}"
            self.display.write(f"{self.label}: {self.done:,}{of} {self.unit}{tail}{extra}")

    def note(self, text: str) -> None:
        """Say how far the unit of work under way is (a long attacked row), without counting any done.

        On a terminal it replaces the bar's postfix; off one it is a line, at most one per `interval`.
        """
        if not self.display.enabled:
            return
        if self._bar is not None:
            self._bar.set_postfix_str(text)
            return
        now = self.display.clock()
        if now - self._last_note >= self.display.interval:
            self._last_note = now
            self._announce()
            self.display.write(f"{self.label}: {text}")

    def close(self) -> None:
        """End the stage (prints its closing line off a terminal)."""
        if not self.display.enabled:
            return
        if self._bar is not None:
            self._bar.close()
            self._bar = None
            return
        self._announce()
        took = self.display.clock() - self._start
        self.display.write(f"{self.label}: done, {self.done:,} {self.unit} in {_duration(took)}")

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


class Display:
    """The study's progress display: stages one after another.

    Args:
        enabled: False shows nothing (`--quiet`, tests).
        stages: how many stages the study has (for the `[i/N]` label); 0 leaves it out.
        stream: where to write (stderr by default).
        tty: a terminal (bars) or not (lines); default: `stream.isatty()`.
        clock: seconds (injectable for tests).
        interval: off a terminal, the longest gap between two progress lines of a stage, in seconds.
    """

    def __init__(self, enabled: bool = True, stages: int = 0, stream: TextIO | None = None, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, interval: float = 300.0) -> None:
        self.enabled = enabled
        self.stages = stages
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(tty) if tty is not None else bool(getattr(self.stream, "isatty", lambda: False)())
        self.clock = clock
        self.interval = interval
        self._count = 0

    def stage(self, name: str, total: int | None = None, unit: str = "evals") -> Stage:
        """Start the next stage."""
        self._count += 1
        return Stage(self, name, total, unit, self._count)

    def write(self, line: str) -> None:
        """One line, flushed (so a log shows it at once)."""
        if self.enabled:
            print(line, file=self.stream, flush=True)
