"""What playing costs the CPU: ``python -m bench playcost [--seconds 30] [--baseline qt|none]``.

The real app plays a 44.1 kHz stereo FLAC (an arpeggio, so the decoder has real work) into a
private PulseAudio null sink, for ``--seconds``, once per backend: ``stream`` (Segue's own:
the GUI process plus its audio process) and, in the same run, the baseline ``qt``
(QtMultimedia's QMediaPlayer, all in the app's process). CPU time is read from
``/proc/PID/stat`` of every process involved (user + system, all threads) over the same span
of playing, and printed as a share of one core. Target (issue 10): < 5% of one core.
"""

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import pulse

log = logging.getLogger(__name__)

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (all its threads)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def _track(folder: Path, seconds: float) -> Path:
    from player.audiogen import TrackSpec, make_track

    folder.mkdir(parents=True, exist_ok=True)
    return make_track(folder / "cost.flac", "flac",
                      TrackSpec("Cost", "Bench", "Bench", seconds=seconds))


def _measure(backend: str, data: Path, seconds: float) -> dict[str, float]:
    """Play the library's one track on ``backend`` for ``seconds``; CPU shares."""
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from player.app import SegueApp
    from player.playback import create_backend
    from player.playback.base import PlaybackState

    os.environ["SEGUE_BACKEND"] = backend
    app = QApplication.instance() or QApplication([])
    segue = SegueApp(data, backend_factory=create_backend, enable_mpris=False)
    segue.start_playback()
    engine = segue.engine
    engine.set_autoqueue_enabled(False)
    track_id = segue.library.db.execute("SELECT id FROM tracks").fetchone()[0]
    figures: dict[str, float] = {}

    def pids() -> dict[str, int]:
        found = {"app": os.getpid()}
        proc = getattr(engine.backend, "_proc", None)  # the stream backend's audio process
        if proc is not None:
            found["audio process"] = proc.pid
        return found

    marks: dict[str, Any] = {}

    def begin() -> None:
        # 2 s in: the start-up (decoder opened, device buffer filled) is not the steady cost
        marks["pids"] = pids()
        marks["cpu"] = {k: cpu_seconds(p) for k, p in marks["pids"].items()}
        marks["t"] = time.monotonic()
        QTimer.singleShot(int(seconds * 1000), end)

    def end() -> None:
        wall = time.monotonic() - marks["t"]
        playing = engine.state is PlaybackState.PLAYING
        for name, pid in marks["pids"].items():
            figures[name] = (cpu_seconds(pid) - marks["cpu"][name]) / wall
        figures["still playing"] = float(playing)
        app.quit()

    def begin_when_settled() -> None:
        # The model loads in the background after start-up (importing torch takes seconds
        # of CPU): what is measured is playing, not that - nor the first seconds of a start.
        if segue.learning.loaded and time.monotonic() - started > 2.0:
            settle.stop()
            begin()

    started = time.monotonic()
    engine.play_track(track_id)
    settle = QTimer(interval=100)
    settle.timeout.connect(begin_when_settled)
    settle.start()
    app.exec()
    segue.shutdown()
    return figures


def run(seconds: float = 30.0, baseline: str = "qt") -> dict[str, Any]:
    if not pulse.available("default"):
        raise RuntimeError("pulseaudio, pactl and parec must be installed")
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")
    from player.library.db import Library
    from player.library.scanner import scan_folders
    from player.settings import Settings

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        music = Path(tmp) / "music"
        _track(music, seconds + 10)
        saved = dict(os.environ)
        try:
            with pulse.private_pulse(Path(tmp), "default") as env:
                os.environ.update(env)
                for backend in ["stream"] + ([baseline] if baseline != "none" else []):
                    data = Path(tmp) / f"data-{backend}"
                    lib = Library.open(data)
                    scan_folders(lib, [music])
                    lib.close()
                    Settings(volume=100, autoqueue=False).save(data)
                    shares = _measure(backend, data, seconds)
                    total = sum(v for k, v in shares.items() if k != "still playing")
                    for name, share in shares.items():
                        if name != "still playing":
                            out[f"{backend}: {name} % of a core"] = round(100 * share, 2)
                    out[f"{backend}: total % of a core"] = round(100 * total, 2)
                    out[f"{backend}: played throughout"] = bool(shares["still playing"])
        finally:
            os.environ.clear()
            os.environ.update(saved)
    if baseline != "none" and out.get(f"{baseline}: total % of a core"):
        out["stream / baseline (total)"] = round(
            out["stream: total % of a core"] / out[f"{baseline}: total % of a core"], 2)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench playcost")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--baseline", default="qt", help="a backend to compare with, or none")
    args = parser.parse_args(argv)
    return run(args.seconds, args.baseline)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    for key, value in main().items():
        print(f"{key:36} {value}")
