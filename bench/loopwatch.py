"""How long the Qt event loop ever stalls: a 10 ms timer notes the gap between its ticks.

    watch = LoopWatch(); watch.start()
    ...                      # run the event loop
    watch.stop(); watch.figures()  # {"event_loop_max_stall_ms": ..., ...}

A stall is a tick's lateness (gap minus the 10 ms interval): what a user feels as a frozen
window. ``label`` (any callable) names what was going on, for the stalls over 100 ms.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

INTERVAL_MS = 10
REPORTED_STALL_MS = 100


class LoopWatch:
    """Measure event-loop stalls while the loop runs (create it after the QApplication)."""

    def __init__(self, label: Callable[[], str] = lambda: "") -> None:
        from PySide6.QtCore import QTimer

        self.label = label
        self.gaps: list[float] = []
        self.late: list[tuple[float, float, str]] = []  # (seconds in, ms, label)
        self._started = self._last = time.perf_counter()
        self._timer = QTimer(interval=INTERVAL_MS)
        self._timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._started = self._last = time.perf_counter()
        self._timer.start()

    def stop(self) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = time.perf_counter()
        gap = (now - self._last) * 1000
        self.gaps.append(gap)
        if gap - INTERVAL_MS > REPORTED_STALL_MS:
            self.late.append((round(now - self._started, 2), round(gap - INTERVAL_MS),
                              self.label()))
        self._last = now

    def figures(self) -> dict[str, Any]:
        if not self.gaps:
            return {"event_loop_ticks": 0}
        stalls = sorted(g - INTERVAL_MS for g in self.gaps)
        return {
            "event_loop_max_stall_ms": round(stalls[-1], 1),
            "event_loop_p99_stall_ms": round(stalls[int(0.99 * (len(stalls) - 1))], 1),
            "event_loop_median_tick_ms": round(statistics.median(self.gaps), 1),
            "stalls_over_100ms": len(self.late),
            "stalls_at": self.late[:10],
        }
