"""Time to window: from launching ``segue`` to its first frame, against a bare Qt window.

Both run as fresh processes; the figure is the wall time from spawn to the first event-loop
turn after ``show()``. Also checks that torch is not imported before the window shows.
Run: ``python -m bench startup``.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

BARE = r"""
import sys, time
from PySide6.QtWidgets import QApplication, QMainWindow
from PySide6.QtCore import QTimer
app = QApplication(sys.argv[:1])
w = QMainWindow(); w.resize(1100, 700); w.show()
QTimer.singleShot(0, lambda: (print(f"window-shown {time.time():.6f} torch=False",
                                    file=sys.stderr, flush=True), app.quit()))
app.exec()
"""


def _launch(cmd: list[str], env: dict[str, str]) -> tuple[float, bool]:
    start = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
    for line in proc.stderr.splitlines():
        if line.startswith("window-shown"):
            _, stamp, torch = line.split()
            return float(stamp) - start, torch == "torch=True"
    raise RuntimeError(f"no window: {proc.stderr[-2000:]}")


def run(repeats: int = 5) -> dict[str, Any]:
    env = {**os.environ, "SEGUE_STARTUP_PROBE": "1"}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    with tempfile.TemporaryDirectory() as data:
        segue_cmd = [sys.executable, "-m", "player", "--data-dir", data]
        _launch(segue_cmd, env)  # first run creates the database: not what users wait for
        segue, torch_seen = [], False
        bare = []
        for _ in range(repeats):
            seconds, torch = _launch(segue_cmd, env)
            segue.append(seconds)
            torch_seen |= torch
            bare.append(_launch([sys.executable, "-c", BARE], env)[0])
    return {
        "time_to_window_s": round(statistics.median(segue), 3),
        "bare_qt_window_s": round(statistics.median(bare), 3),
        "time_to_window_ratio_vs_bare_qt": round(statistics.median(segue)
                                                 / statistics.median(bare), 2),
        "torch_imported_before_window": torch_seen,
        "platform": env["QT_QPA_PLATFORM"],
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return run()


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key:34} {value}")
