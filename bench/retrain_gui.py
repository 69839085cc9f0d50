"""Retrain on ~50,000 listens with the GUI up and music playing: how long it takes, and how
long the event loop ever stalls meanwhile (a 10 ms timer measures every gap).

The history is a Spotify export (imported against a generated library of its most played
tracks): ``--export DIR``, by default the public one of ``../shared/datasets/
spotify-streaming-history-jonas-mika`` (one person's account data, 54,429 plays); where that
folder is absent, a synthetic history of ``--listens`` plays, and the result says which.
Run: ``python -m bench retrain_gui [--export DIR] [--synthetic]``.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.import_speed import EXPORT
from bench.loopwatch import LoopWatch


def _prepare(data: Path, listens: int, synthetic: bool, export: Path = EXPORT) -> str:
    """A library and a history in ``data``: the export's when it is there (and not
    ``synthetic``), else ``listens`` synthetic plays. Returns which, in words."""
    from bench.handsfree import _seed_history
    from bench.import_speed import export_records, library_of_top_tracks
    from player.audiogen import TrackSpec, make_library
    from player.importer import import_history
    from player.library.db import Library
    from player.library.scanner import scan_folders

    lib = Library.open(data)
    try:
        if export.is_dir() and not synthetic:
            records = export_records(export)
            library_of_top_tracks(lib, data / "music", records)
            import_history(lib, [export])
            return f"Spotify export {export.name} ({len(records):,} plays)"
        make_library(data / "music", [(f"t{i:04d}", "wav", TrackSpec(f"T{i}", f"A{i % 40}",
                                                                        seconds=0.2))
                                      for i in range(400)])
        scan_folders(lib, [data / "music"])
        _seed_history(lib, listens)
        return f"synthetic ({listens:,} plays)"
    finally:
        lib.close()


def _cancel_latencies(app: Any, segue: Any, at: tuple[float, ...]) -> list[int | None]:
    """Start a retrain, press Cancel after each of ``at`` seconds (reading the history,
    training, ranking the held-out tail...): milliseconds until the job has stopped."""
    from PySide6.QtCore import QTimer

    out: list[int | None] = []
    for delay in at:
        marks: dict[str, float] = {}
        job = segue.learning.retrain()

        def cancel(job: Any = job, marks: dict[str, float] = marks) -> None:
            marks["cancel"] = time.perf_counter()
            job.cancel()

        job.ended.connect(lambda marks=marks: (marks.setdefault("ended", time.perf_counter()),
                                               app.quit()))
        QTimer.singleShot(int(delay * 1000), cancel)
        app.exec()
        out.append(round((marks["ended"] - marks["cancel"]) * 1000) if "cancel" in marks
                   else None)  # None: it finished before the cancel
    return out


def run(listens: int = 50_000, synthetic: bool = False,
        cancel_at: tuple[float, ...] = (1.0, 8.0, 27.0), export: Path = EXPORT
        ) -> dict[str, Any]:
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6.QtWidgets import QApplication

    from player.app import SegueApp
    from player.playback.null import NullBackend

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        source = _prepare(data, listens, synthetic, export)
        segue = SegueApp(data, backend_factory=lambda: NullBackend(realtime=True),
                         enable_mpris=False)
        segue.window.show()
        segue.start_playback()
        while not segue.learning.loaded:  # torch imported, (no) model loaded
            app.processEvents()
            time.sleep(0.01)
        segue.engine.play()
        phase = ["start"]
        watch = LoopWatch(label=lambda: phase[0])
        outcome: dict[str, Any] = {}
        started = time.perf_counter()
        job = segue.learning.retrain()
        job.progress.connect(lambda e: phase.__setitem__(0, f"{e.phase} {e.detail}"))
        job.done.connect(lambda res: outcome.update(result=res[1]))
        job.failed.connect(lambda error: outcome.update(error=error))
        job.ended.connect(app.quit)
        watch.start()
        app.exec()
        watch.stop()
        seconds = time.perf_counter() - started
        playing = segue.engine.state.value
        cancel_ms = _cancel_latencies(app, segue, at=cancel_at)
        segue.shutdown()
    if "error" in outcome:
        raise RuntimeError("the retrain failed") from outcome["error"]
    result = outcome["result"]
    return {
        "history": source,
        "listens_trained": result.plays,
        "retrain_s": round(seconds, 1),
        **watch.figures(),
        "music_state_after": playing,
        "cancel_at_s": list(cancel_at),
        "cancel_to_stopped_ms": cancel_ms,
        "heldout_gru_hr@20": result.heldout.get("gru", {}).get("hr@20"),
        "heldout_markov_hr@20": result.heldout.get("markov", {}).get("hr@20"),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench retrain_gui")
    parser.add_argument("--listens", type=int, default=50_000,
                        help="size of the synthetic history (the public log is its own size)")
    parser.add_argument("--synthetic", action="store_true",
                        help="a synthetic history even when the export is present")
    parser.add_argument("--export", type=Path, default=EXPORT, metavar="DIR",
                        help="a Spotify export folder (default: the public one in ../shared; "
                             "synthetic history where it is absent)")
    args = parser.parse_args(argv)
    return run(args.listens, args.synthetic, export=args.export)


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key:28} {value}")
