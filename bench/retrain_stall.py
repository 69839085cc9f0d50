"""Does the window stall while the model trains? ``python -m bench retrain_stall
[--listens 3000] [--rounds 1] [--busy N] [--idle SECONDS]``: a few minutes, where the soak
takes half an hour.

The real app window (offscreen, the silent backend on a real-time clock, music "playing") on
a generated library with ``--listens`` seeded listens: first ``--idle`` seconds with nothing
training (the baseline: what the machine's other load alone costs the window), then,
``--rounds`` times, the menu's full retrain and a fine-tune on 200 new listens. A 10 ms timer
measures every gap of the event loop (:class:`bench.loopwatch.LoopWatch`); printed per job:
its seconds, the loop's longest stall, the count of stalls over 100 ms and, for each, what
the training was doing (its last progress report, and where the GUI thread and the app's
background threads were), and the CPU seconds of this (GUI) process and of its children: on
a shared machine wall-clock figures depend on the other processes' load, CPU seconds much
less. ``--busy N`` runs N CPU-bound processes meanwhile (a machine busy with other work, as
the soak's was): a thread holding the interpreter lock can then be descheduled while the
GUI thread waits for it. ``gui_thread_steps``: how long the job's end took on the GUI thread
(the model swap; handing freed memory back to the system).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.loopwatch import LoopWatch

#: New listens before the fine-tune (the app fine-tunes every 50 by default).
FINETUNE_LISTENS = 200
#: The threads whose stacks a stall notes: every background thread of the app (the training
#: job's, the auto-queue's picks, the scan's...).
TRAINING_THREADS = ("segue-",)
#: Every song lasts this long (as songs do: the generated files' 0.2 s would make the
#: auto-queue pick five times a second, a load of its own).
SONG_MS = 180_000


def _cpu() -> tuple[float, float]:
    """CPU seconds (user + system) of this process, and of its waited-for children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def _add_listens(library: Any, count: int) -> None:
    """``count`` more listens, after every earlier one: what a fine-tune learns."""
    from player.history import SESSION_GAP_S

    ids = [r.id for r in library.all_track_meta()]
    start = max(r.started_at for r in library.listens(limit=10, newest_first=True)) + 7200
    stamp = time.time_ns()
    rows = [{"track_id": ids[(7 * n) % len(ids)], "started_at": start + 61 * n,
             "ended_at": start + 61 * n + 60, "played_ms": 60_000, "skipped": 0,
             "artist": None, "title": None, "import_key": f"stall{stamp}-{n}"}
            for n in range(count)]
    library.add_imported_listens(rows, SESSION_GAP_S)


def _timed(steps: dict[str, list[float]], name: str, fn: Any) -> Any:
    """``fn``, noting how long each call takes (milliseconds) under ``steps[name]``."""

    def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return fn(*args)
        finally:
            steps.setdefault(name, []).append(round((time.perf_counter() - started) * 1000, 1))

    return timed


def _time_gui_steps(segue: Any) -> dict[str, list[float]]:
    """Time the steps a training job's end runs on the GUI thread: the swap (and whatever
    ``modelChanged`` starts) and handing freed memory back to the system."""
    import player.memory

    steps: dict[str, list[float]] = {}
    learning = segue.learning
    learning._trained = _timed(steps, "swap_ms", learning._trained)
    player.memory.release_free_memory = _timed(steps, "malloc_trim_ms",
                                               player.memory.release_free_memory)
    return steps


def _run_job(app: Any, start: Any, label: list[str]) -> dict[str, Any]:
    """Run one training job (``start()`` returns it) with the event loop watched."""
    watch = LoopWatch(label=lambda: label[0], threads=TRAINING_THREADS)
    outcome: dict[str, Any] = {}
    cpu_before = _cpu()
    started = time.perf_counter()
    job = start()
    if job is None:
        raise RuntimeError("the training job did not start")
    job.progress.connect(lambda e: label.__setitem__(0, f"{e.phase} {e.detail}".strip()))
    job.done.connect(lambda res: outcome.update(result=res))
    job.failed.connect(lambda error: outcome.update(error=error))
    job.ended.connect(app.quit)
    watch.start()
    app.exec()
    watch.stop()
    seconds = time.perf_counter() - started
    cpu_after = _cpu()
    if "error" in outcome:
        raise RuntimeError(f"the {label[0]} failed") from outcome["error"]
    return {"seconds": round(seconds, 1),
            "gui_process_cpu_s": round(cpu_after[0] - cpu_before[0], 1),
            "children_cpu_s": round(cpu_after[1] - cpu_before[1], 1),
            **watch.figures()}


@contextlib.contextmanager
def _busy(processes: int) -> Any:
    """``processes`` CPU-bound Python processes for the duration of the block."""
    hogs = [subprocess.Popen([sys.executable, "-I", "-S", "-c", "while True: pass"])
            for _ in range(processes)]
    try:
        yield
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()


def run(listens: int = 3000, rounds: int = 1, busy: int = 0, idle_s: float = 20.0
        ) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from bench.retrain_gui import _prepare
    from player.app import SegueApp
    from player.playback.null import NullBackend

    app = QApplication.instance() or QApplication([])
    out: dict[str, Any] = {"listens": listens, "busy_processes": busy,
                           "load_avg_1min_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        out["history"] = _prepare(data, listens, synthetic=True)
        segue = SegueApp(data, backend_factory=lambda: NullBackend(
            realtime=True, duration_of=lambda _path: SONG_MS),
                         enable_mpris=False)
        try:
            segue.window.show()
            segue.start_playback()
            while not segue.learning.loaded:  # torch imported, (no) model loaded
                app.processEvents()
                time.sleep(0.01)
            # The fine-tunes are the bench's: none started by the listens the music logs.
            segue.learning.finetune_every = 10**9
            segue.engine.play()
            steps = _time_gui_steps(segue)
            with _busy(busy):
                out["idle"] = _idle(app, idle_s)
                _rounds(app, segue, rounds, out)
            out["gui_thread_steps"] = steps
            out["music_state_after"] = segue.engine.state.value
            out["model_plays"] = segue.learning.holder.status().get("plays")
        finally:
            segue.shutdown()
    jobs = [v for k, v in out.items() if k.startswith(("retrain_", "finetune_"))]
    out["max_stall_ms"] = max(j.get("event_loop_max_stall_ms", 0.0) for j in jobs)
    out["stalls_over_100ms"] = sum(j.get("stalls_over_100ms", 0) for j in jobs)
    out["load_avg_1min_end"] = os.getloadavg()[0]
    return out


def _idle(app: Any, seconds: float) -> dict[str, Any]:
    """The baseline of the same run: the loop watched while the music plays and nothing
    trains (what the machine's other load alone costs the window)."""
    from PySide6.QtCore import QTimer

    watch = LoopWatch(label=lambda: "idle", threads=TRAINING_THREADS)
    watch.start()
    QTimer.singleShot(int(seconds * 1000), app.quit)
    app.exec()
    watch.stop()
    return {"seconds": seconds, **watch.figures()}


def _rounds(app: Any, segue: Any, rounds: int, out: dict[str, Any]) -> None:
    """``rounds`` times: a full retrain, then a fine-tune on new listens."""
    for r in range(rounds):
        out[f"retrain_{r + 1}"] = _run_job(app, segue.learning.retrain, ["retrain"])
        _add_listens(segue.library, FINETUNE_LISTENS)
        out[f"finetune_{r + 1}"] = _run_job(app, segue.learning.finetune_async, ["finetune"])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench retrain_stall")
    parser.add_argument("--listens", type=int, default=3000,
                        help="seeded listens before the first retrain")
    parser.add_argument("--rounds", type=int, default=1,
                        help="retrain + fine-tune this many times")
    parser.add_argument("--busy", type=int, default=0, metavar="N",
                        help="CPU-bound processes running meanwhile (a busy machine)")
    parser.add_argument("--idle", type=float, default=20.0, metavar="SECONDS",
                        help="the baseline: the loop watched this long with nothing training")
    args = parser.parse_args(argv)
    return run(args.listens, args.rounds, args.busy, args.idle)


if __name__ == "__main__":
    import json

    for key, value in main().items():
        print(f"{key:24} {json.dumps(value) if isinstance(value, dict) else value}")
