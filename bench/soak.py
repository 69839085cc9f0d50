"""Hands-free for half an hour, heard: ``python -m bench soak [--minutes 30] [--retrains 10]
[--rescans 10] [--config default|minimal] [--track-seconds 20]``.

The real app (stream backend) plays hands-free into a private PulseAudio null sink while
``parec`` records its monitor, and meanwhile the model is retrained ``--retrains`` times
(the menu's full retrain, on a seeded history) and the library rescanned ``--rescans`` times,
spread evenly over the run; fine-tunes happen as listens pile up. Every track is a steady
tone without fades, so the recording must be sound from the first sample to the last: any
run of silence over 1 ms is a dropout (the device starved) or a gap between songs. Printed:
the silences heard (count, longest, where), the underruns the audio process counted, the
tracks played, the retrains and rescans done, the event loop's longest stall and the app's
memory at the start and the end. Target (issue 10): 0 underruns, 0 silences.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import pulse, soundrig
from bench import soundcheck as sc
from bench.loopwatch import LoopWatch

log = logging.getLogger(__name__)

SOAK_FORMATS = ("flac", "mp3", "vorbis", "opus", "aac")
TRACKS = 60
ARTISTS = 15


def _library(music: Path, track_s: float) -> None:
    """Steady sines (no fade in or out: a song's edge is never quiet), each of its own pitch,
    over many artists and albums so that the auto-queue has real choices."""
    from player.audiogen import (FORMATS, TrackSpec, available_formats, encode, tag_file,
                                 tone_wav)

    formats = [f for f in SOAK_FORMATS if f in available_formats()] or ["wav"]
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(TRACKS):
            fmt = formats[i % len(formats)]
            dest = music / f"{i % ARTISTS:02d}" / f"{i:03d}{FORMATS[fmt][0]}"
            dest.parent.mkdir(parents=True, exist_ok=True)
            wav = Path(tmp) / f"{i}.wav"
            tone_wav(wav, track_s, freq=200.0 + 7.0 * i, dbfs=-10.0, channels=2,
                     rate=48000 if fmt == "opus" else 44100)
            encode(wav, fmt, dest, fidelity=True)
            tag_file(dest, fmt, TrackSpec(f"Tone {i}", f"Artist {i % ARTISTS}",
                                          f"Album {i % 25}", seconds=track_s))


def run(minutes: float = 30.0, retrains: int = 10, rescans: int = 10, config: str = "default",
        track_s: float = 20.0) -> dict[str, Any]:
    if not pulse.available(config):
        raise RuntimeError("pulseaudio, pactl and parec must be installed")
    # ignore_cleanup_errors: the server may still be writing its runtime files as it quits
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp, \
            pulse.private_pulse(Path(tmp), config) as env:
        saved = dict(os.environ)
        os.environ.update(env)
        try:
            return _soak(Path(tmp), env, minutes, retrains, rescans, track_s) | {"config": config}
        finally:
            os.environ.clear()
            os.environ.update(saved)


def _soak(tmp: Path, env: dict[str, str], minutes: float, retrains: int, rescans: int,
          track_s: float) -> dict[str, Any]:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    os.environ["SEGUE_BACKEND"] = "stream"
    os.environ.setdefault("QT_LOGGING_RULES", "qt.multimedia.*=false")
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from bench.handsfree import _rss_mb, _seed_history
    from player.app import SegueApp
    from player.bridge import train
    from player.library.db import Library
    from player.library.scanner import scan_folders
    from player.settings import Settings

    music, data = tmp / "music", tmp / "data"
    _library(music, track_s)
    lib = Library.open(data)
    scan_folders(lib, [music])
    _seed_history(lib, 3000)
    train(lib, data)  # a model from the start: retrains replace it, fine-tunes follow plays
    lib.close()
    Settings(volume=100, playback_rate=1.0, replaygain_mode="off", crossfade_s=0,
             finetune_every=10).save(data)

    app = QApplication.instance() or QApplication([])
    segue = SegueApp(data, enable_mpris=False)
    segue.start_playback()
    engine = segue.engine
    done = {"retrains": 0, "rescans": 0, "tracks": 0, "retrain_busy": 0}
    engine.trackChanged.connect(lambda t: done.__setitem__("tracks", done["tracks"] + 1)
                                if t is not None else None)
    segue.library_service.scanEnded.connect(
        lambda *_: done.__setitem__("rescans", done["rescans"] + 1))
    errors: list[str] = []
    engine.message.connect(lambda m: errors.append(m) if "Cannot" in m or "Stopped" in m
                           else None)
    total_s = minutes * 60

    def retrain() -> None:
        job = segue.learning.retrain()
        if job is None:  # a fine-tune is running: try again shortly, as a user would
            done["retrain_busy"] += 1
            QTimer.singleShot(2000, retrain)
            return
        job.done.connect(lambda *_: done.__setitem__("retrains", done["retrains"] + 1))

    # Spread evenly, retrains and rescans interleaved (never both at the very same instant).
    for k in range(retrains):
        QTimer.singleShot(int((k + 0.3) * total_s / max(retrains, 1) * 1000), retrain)
    for k in range(rescans):
        QTimer.singleShot(int((k + 0.8) * total_s / max(rescans, 1) * 1000), segue.window.rescan)

    scanning = [False]
    segue.library_service.scanStarted.connect(lambda: scanning.__setitem__(0, True))
    segue.library_service.scanEnded.connect(lambda: scanning.__setitem__(0, False))

    def busy() -> str:
        """What ran in the background when the loop stalled (a stall's label)."""
        what = [segue.learning.job_kind] if segue.learning.job_kind else []
        return "+".join(what + (["scan"] if scanning[0] else [])) or "playing"

    watch = LoopWatch(label=busy, threads=("segue-",))
    rss_start = _rss_mb()
    spec = pulse.sink_spec(env)
    # parec writes straight to a file: no reader thread in this process (it would compete
    # with the app for the interpreter lock and hold the recording in memory).
    with open(tmp / "take.raw", "wb") as take_file:
        parec = subprocess.Popen(
            pulse.parec_command(spec, soundrig.RECORDER_LATENCY_MS), stdout=take_file,
            stderr=subprocess.DEVNULL, env=env, preexec_fn=pulse.try_realtime)
        try:
            started = time.monotonic()
            engine.play()
            watch.start()
            QTimer.singleShot(int(total_s * 1000), app.quit)
            app.exec()
            watch.stop()
            played_s = time.monotonic() - started
            rss_end = _rss_mb()
            segue.shutdown()  # the audio process reports its counters as it quits
        finally:
            parec.terminate()
            parec.wait(10)
    underruns = engine.backend.underruns()
    x = sc.from_s16le((tmp / "take.raw").read_bytes(), spec.channels)
    rate = spec.rate
    gaps = sc.silences(x, rate, min_ms=1.0)
    first = sc.first_audible(x)
    last = sc.last_audible(x)
    heard_s = (last - first) / rate if first is not None and last is not None else 0.0
    return {
        "minutes": round(played_s / 60, 1),
        "sound_heard_s": round(heard_s, 1),
        "silences_over_1ms": len(gaps),
        "longest_silence_ms": round(max((g.ms for g in gaps), default=0.0), 2),
        "silences_at_s": [round(g.start / rate, 1) for g in gaps[:10]],
        "underruns": underruns,
        "tracks_started": done["tracks"],
        "retrains_done": done["retrains"],
        "rescans_done": done["rescans"],
        "errors": len(errors),
        **watch.figures(),
        "rss_mb_start": round(rss_start, 1),
        "rss_mb_end": round(rss_end, 1),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench soak")
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--retrains", type=int, default=10)
    parser.add_argument("--rescans", type=int, default=10)
    parser.add_argument("--config", choices=pulse.CONFIGS, default="default")
    parser.add_argument("--track-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    return run(args.minutes, args.retrains, args.rescans, args.config, args.track_seconds)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if os.environ.get("SEGUE_SOAK_DEBUG"):
        logging.getLogger("player").setLevel(logging.INFO)
    for key, value in main().items():
        print(f"{key:24} {value}")
