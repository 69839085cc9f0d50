"""Hands-free playback soak: N short generated tracks in a row through real QtMultimedia.

Measures the gap between one track's end and the next one's first advancing position (the
silence a listener hears), checks that every play was logged in order with no error, and
compares the process's memory after the first tracks with the end. Optionally a rescan and
model fine-tunes run meanwhile (``--busy``), as in a long day of listening.

Run: ``python -m bench handsfree --tracks 200`` (prints a table, returns the figures).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.loopwatch import LoopWatch
from player.audiogen import TrackSpec, make_library


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _seed_history(library: Any, plays: int) -> None:
    """Imported history for a first model: the library's tracks in a few repeated orders."""
    import random

    from player.history import SESSION_GAP_S

    ids = [r.id for r in library.all_track_meta()]
    rng = random.Random(0)
    orders = [rng.sample(ids, len(ids)) for _ in range(5)]
    rows, t = [], 1_600_000_000.0
    for n in range(plays):
        order = orders[(n // 40) % len(orders)]
        track = order[n % 40 % len(order)]
        if n % 40 == 0:
            t += 3 * 3600
        rows.append({"track_id": track, "started_at": t, "ended_at": t + 60, "played_ms": 60_000,
                     "skipped": 0, "artist": None, "title": None, "import_key": f"seed{n}"})
        t += 61
    library.add_imported_listens(rows, SESSION_GAP_S)


def run(tracks: int = 200, rate: float = 8.0, seconds: float = 1.0, busy: bool = False,
        timeout_s: float = 1800, use_pulse: bool = False) -> dict[str, Any]:
    if use_pulse:
        from bench import pulse

        if not pulse.available():
            raise RuntimeError("pulseaudio is not installed")
        with tempfile.TemporaryDirectory() as tmp, pulse.private_pulse(Path(tmp)) as env:
            saved = dict(os.environ)
            os.environ.update(env)
            try:
                figures = run(tracks, rate, seconds, busy, timeout_s, use_pulse=False)
            finally:
                os.environ.clear()
                os.environ.update(saved)
            figures["audio_device"] = "pulseaudio null sink"
            return figures
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from player.app import SegueApp
    from player.library.db import Library
    from player.library.scanner import scan_folders
    from player.settings import Settings

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        music, data = Path(tmp) / "music", Path(tmp) / "data"
        formats = ("mp3", "flac", "vorbis", "opus", "aac")
        # More distinct tracks than plays within the repeat window, spread over artists
        n_files = max(120, tracks // 2)
        make_library(music, [
            (f"{i % 23}/{i:04d}", formats[i % len(formats)],
             TrackSpec(f"Track {i}", f"Artist {i % 23}", f"Album {i % 41}", seconds=seconds,
                       pitch=220.0 + 20 * (i % 9)))
            for i in range(n_files)])
        lib = Library.open(data)
        scan_folders(lib, [music])
        if busy:  # a model from the start, fine-tuned as the plays pile up
            from player.bridge import train

            _seed_history(lib, 2000)
            train(lib, data)
        # The listens of this run are those with a larger id than any seeded one.
        seeded = max((r.id for r in lib.listens()), default=0)
        lib.close()
        Settings(playback_rate=rate, finetune_every=25).save(data)
        segue = SegueApp(data, enable_mpris=False)
        segue.start_playback()
        engine = segue.engine
        finetunes = {"n": 0}
        from collections import Counter

        strategies: Counter[str] = Counter()
        engine.autoPickChanged.connect(lambda pick: strategies.update([pick.strategy])
                                       if pick is not None else None)
        segue.learning.modelChanged.connect(lambda: finetunes.__setitem__("n", finetunes["n"] + 1))
        gaps: list[float] = []
        errors: list[str] = []
        state = {"ended_at": None, "plays": 0, "rss_early": None, "started": time.monotonic()}
        rss_trail: list[int] = []

        def on_finished() -> None:
            state["ended_at"] = time.perf_counter()

        def on_position(pos: int, _dur: int) -> None:
            if pos > 0 and state["ended_at"] is not None:
                gaps.append((time.perf_counter() - state["ended_at"]) * 1000)
                state["ended_at"] = None

        def on_logged(_tid: int) -> None:
            state["plays"] += 1
            if state["plays"] == 20:
                state["rss_early"] = _rss_mb()
            if state["plays"] % 50 == 0:  # the trajectory: a plateau or a leak?
                rss_trail.append(round(_rss_mb()))
            if busy and state["plays"] % 50 == 25:
                segue.window.rescan()
            if state["plays"] >= tracks:
                app.quit()

        engine.backend.finished.connect(on_finished)
        engine.positionChanged.connect(on_position)
        engine.listenLogged.connect(on_logged)
        engine.message.connect(lambda m: errors.append(m) if "Cannot" in m or "Stopped" in m
                               else None)
        QTimer.singleShot(int(timeout_s * 1000), app.quit)
        activity = {"what": "playing"}
        segue.learning.statusChanged.connect(lambda text: activity.update(what=text))
        watch = LoopWatch(label=lambda: activity["what"] if segue.learning.loaded
                          else "loading the model (importing torch)")
        engine.play()
        watch.start()
        app.exec()
        watch.stop()
        rss_end = _rss_mb()
        listens = segue.library.listens()
        segue.shutdown()
    # In order: written in the order they were played (ids) with times that never go back.
    closed = sorted((r for r in listens if r.id > seeded and r.ended_at is not None),
                    key=lambda r: r.id)
    ordered = all(a.started_at <= b.started_at and a.ended_at <= b.started_at
                  for a, b in zip(closed, closed[1:]))
    gaps_sorted = sorted(gaps)
    return {
        "tracks_played": state["plays"],
        "errors": len(errors),
        "listens_logged": len(closed),
        "listens_in_order": ordered,
        "all_completed": all(r.skipped == 0 for r in closed),
        "gap_ms_median": round(statistics.median(gaps), 1) if gaps else None,
        "gap_ms_p95": round(gaps_sorted[int(0.95 * (len(gaps) - 1))], 1) if gaps else None,
        "gap_ms_max": round(max(gaps), 1) if gaps else None,
        **watch.figures(),
        "rss_mb_after_20": round(state["rss_early"] or 0, 1),
        "rss_mb_end": round(rss_end, 1),
        "rss_growth_pct": round(100 * (rss_end / state["rss_early"] - 1), 1)
        if state["rss_early"] else None,
        "rss_mb_every_50_plays": rss_trail,
        "wall_s": round(time.monotonic() - state["started"], 1),
        "model_swaps": finetunes["n"],
        "picks_by_strategy": dict(strategies),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench handsfree")
    parser.add_argument("--tracks", type=int, default=200)
    parser.add_argument("--rate", type=float, default=8.0)
    parser.add_argument("--busy", action="store_true",
                        help="a trained model, fine-tunes and rescans during playback")
    parser.add_argument("--pulse", action="store_true",
                        help="play to a private PulseAudio null sink (a real audio device)")
    args = parser.parse_args(argv)
    return run(args.tracks, args.rate, busy=args.busy, use_pulse=args.pulse)


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key:20} {value}")
