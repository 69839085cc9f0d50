"""How long the Qt event loop ever stalls: a 10 ms timer notes the gap between its ticks.

    watch = LoopWatch(); watch.start()
    ...                      # run the event loop
    watch.stop(); watch.figures()  # {"event_loop_max_stall_ms": ..., ...}

A stall is a tick's lateness (gap minus the 10 ms interval): what a user feels as a frozen
window. ``label`` (any callable) names what was going on, for the stalls over 100 ms; with
``sample_stacks`` a watcher thread also notes where the GUI thread was while the loop was late
(when the GIL lets it run: a C call that holds the GIL hides, which is itself a clue), and
where the threads named in ``threads`` (name prefixes, e.g. ``("segue-retrain",)``) were: the
likely holders of the GIL the GUI thread waited for.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

INTERVAL_MS = 10
REPORTED_STALL_MS = 100


class LoopWatch:
    """Measure event-loop stalls while the loop runs (create it after the QApplication)."""

    def __init__(self, label: Callable[[], str] = lambda: "", sample_stacks: bool = True,
                 threads: tuple[str, ...] = ()) -> None:
        from PySide6.QtCore import QTimer

        self.label = label
        self.gaps: list[float] = []
        self.late: list[tuple[float, float, str]] = []  # (seconds in, ms, label [| stack])
        self._started = self._last = time.perf_counter()
        self._timer = QTimer(interval=INTERVAL_MS)
        self._timer.timeout.connect(self._tick)
        self._gui_thread = threading.get_ident()
        self._sample_stacks = sample_stacks
        self._threads = threads
        self._stack: str = ""  # where the GUI thread was during the current late tick
        self._running = threading.Event()

    def start(self) -> None:
        self._started = self._last = time.perf_counter()
        self._timer.start()
        if self._sample_stacks:
            self._running.set()
            threading.Thread(target=self._watch, name="loopwatch", daemon=True).start()

    def stop(self) -> None:
        self._timer.stop()
        self._running.clear()

    def _watch(self) -> None:
        while self._running.is_set():
            time.sleep(0.02)
            if time.perf_counter() - self._last > 0.08 and not self._stack:
                frames = sys._current_frames()
                stack = _where(frames.get(self._gui_thread), 5)
                for t in threading.enumerate():
                    if self._threads and t.ident is not None and t.name.startswith(self._threads):
                        stack += f" || {t.name}: {_where(frames.get(t.ident), 4)}"
                self._stack = stack

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = (now - self._last) * 1000
        self.gaps.append(gap)
        if gap - INTERVAL_MS > REPORTED_STALL_MS:
            what = self.label() + (f" | {self._stack}" if self._stack else "")
            self.late.append((round(now - self._started, 2), round(gap - INTERVAL_MS), what))
        self._stack = ""
        self._last = now

    def figures(self) -> dict[str, Any]:
        if not self.gaps:
            return {"event_loop_ticks": 0}
        stalls = sorted(g - INTERVAL_MS for g in self.gaps)
        return {
            "event_loop_max_stall_ms": round(stalls[-1], 1),
            "event_loop_p99_stall_ms": round(stalls[int(0.99 * (len(stalls) - 1))], 1),
            "event_loop_median_tick_ms": round(statistics.median(self.gaps), 1),
            "stalls_over_50ms": sum(1 for s in stalls if s > 50),
            "stalls_over_100ms": len(self.late),
            "stalls_at": self.late[:10],
        }


def _where(frame: Any, depth: int) -> str:
    """The innermost ``depth`` frames of a stack, innermost first, in one line."""
    if frame is None:
        return "?"
    return " <- ".join(f"{f.name}@{f.filename.rsplit('/', 1)[-1]}:{f.lineno}"
                       for f in reversed(traceback.extract_stack(frame)[-depth:]))
