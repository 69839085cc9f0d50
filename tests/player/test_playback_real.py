"""Real playback through the stream backend (PyAV in the audio process): generated files
of every format, played to their end.

Without a sound server the audio process plays on a real-time clock; playback runs at 8x to
keep the tests short. One test starts a private PulseAudio server with a null sink and records
what Segue plays, proving that sound reaches an audio device (tests/audio measures it).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench import pulse

from player.app import SegueApp
from player.audiogen import TrackSpec, make_library
from player.library.db import Library
from player.library.scanner import scan_folders
from player.playback.base import PlaybackState
from player.settings import Settings

pytestmark = pytest.mark.audio  # the audio process, to a real (null) sink where there is one

RATE = 4.0
SHORT = [
    ("a/one", "mp3", TrackSpec("One", "Ann", "X", seconds=1.5, pitch=330)),
    ("b/two", "flac", TrackSpec("Two", "Bob", "Y", seconds=1.5, pitch=392)),
    ("c/three", "vorbis", TrackSpec("Three", "Cid", "Z", seconds=1.5, pitch=440)),
    ("d/four", "opus", TrackSpec("Four", "Dee", "W", seconds=1.5, pitch=494)),
    ("e/five", "aac", TrackSpec("Five", "Eve", "V", seconds=1.5, pitch=523)),
]


@pytest.fixture
def short_library(tmp_path: Path, data_dir: Path) -> list[int]:
    make_library(tmp_path / "short", SHORT)
    lib = Library.open(data_dir)
    scan_folders(lib, [tmp_path / "short"])
    ids = [r["id"] for r in lib.db.query("SELECT id FROM tracks ORDER BY path")]
    lib.close()
    settings = Settings(playback_rate=RATE)
    settings.save(data_dir)
    return ids


@pytest.fixture
def real_app(short_library, data_dir: Path, qtbot):
    app = SegueApp(data_dir, enable_mpris=False)  # the default, real backend
    qtbot.addWidget(app.window)
    app.start_playback()
    assert app.engine.backend.name == "stream"
    # Start-up work (the audio process, torch loading in the background) settles first:
    # at 4x a 1.5 s track lasts 0.4 s, less than a busy start-up can hold the GUI thread.
    qtbot.waitUntil(lambda: app.engine.backend.ready and app.learning.loaded, timeout=30_000)
    yield app
    app.shutdown()


def closed_listens(app: SegueApp) -> list[dict]:
    return [r for r in app.library.listens() if r.ended_at is not None]


def test_hands_free_real_playback_logs_every_listen(real_app: SegueApp, qtbot) -> None:
    engine = real_app.engine
    positions: list[int] = []
    starts: list[int] = []
    engine.positionChanged.connect(lambda pos, dur: positions.append(pos))
    engine.trackChanged.connect(lambda t: starts.append(t.id) if t else None)
    engine.play()  # nothing queued: the auto-queue picks, then keeps going
    qtbot.waitUntil(lambda: len(closed_listens(real_app)) >= 4, timeout=30_000)
    rows = closed_listens(real_app)[:4]
    assert [r.track_id for r in rows] == starts[:4]  # logged in the order played
    assert all(r.source == "auto" and r.skipped == 0 for r in rows)
    assert all(1400 <= r.played_ms <= 1700 for r in rows)
    assert len(set(starts[:4])) == 4  # no repeats
    assert max(positions) >= 1000 and len(positions) >= 8  # positions advanced
    qtbot.waitUntil(lambda: len(starts) >= 5, timeout=10_000)  # and it goes on


def test_user_skip_on_real_playback(real_app: SegueApp, short_library: list[int], qtbot) -> None:
    engine = real_app.engine
    engine.play_track(short_library[0])
    qtbot.waitUntil(lambda: engine.backend.position() >= 100, timeout=10_000)
    engine.next()
    qtbot.waitUntil(lambda: len(closed_listens(real_app)) >= 1, timeout=5_000)
    first = closed_listens(real_app)[0]
    assert first.track_id == short_library[0] and first.source == "user"
    assert first.skipped == 1 and first.played_ms < 750, first
    qtbot.waitUntil(lambda: engine.state is PlaybackState.PLAYING, timeout=10_000)
    assert engine.current.id != short_library[0]


def test_undecodable_file_is_skipped_on_real_playback(real_app: SegueApp,
                                                      short_library: list[int], qtbot) -> None:
    engine = real_app.engine
    broken = real_app.library.track(short_library[1])
    Path(broken.path).write_bytes(b"\x00garbage, not audio" * 100)  # corrupted since the scan
    messages: list[str] = []
    engine.message.connect(messages.append)
    engine.stall_timeout_s = 2.0  # FFmpeg may "play" such a file silently for ever
    engine.play_track(short_library[1])
    qtbot.waitUntil(lambda: engine.current is not None
                    and engine.current.id != short_library[1], timeout=15_000)
    qtbot.waitUntil(lambda: engine.state is PlaybackState.PLAYING, timeout=15_000)
    assert real_app.writer.flush(timeout=10)  # the mark is written off the GUI thread
    assert real_app.library.track(short_library[1]).play_error
    assert any("Cannot play" in m for m in messages)
    assert all(r.track_id != short_library[1] for r in real_app.library.listens())


# -- a real audio device ---------------------------------------------------------------------

PLAY_SCRIPT = r"""
import os, sys, time
os.environ["QT_QPA_PLATFORM"] = "offscreen"
from pathlib import Path
from PySide6.QtWidgets import QApplication
from PySide6.QtCore import QTimer
from player.app import SegueApp
app = QApplication([])
segue = SegueApp(Path(sys.argv[1]), enable_mpris=False)
segue.start_playback()
segue.engine.set_volume(100)
segue.engine.play()
def check():
    done = [r for r in segue.library.listens() if r.ended_at is not None]
    if len(done) >= 2:
        segue.shutdown(); app.quit()
timer = QTimer(); timer.timeout.connect(check); timer.start(100)
QTimer.singleShot(40000, app.quit)
app.exec()

"""


@pytest.fixture
def pulse_null_sink(tmp_path: Path):
    """A private PulseAudio server whose default sink is a null sink; yields its env."""
    if not pulse.available():
        pytest.skip("pulseaudio/pactl/parec not installed (bash .ci/install installs them)")
    with pulse.private_pulse(tmp_path) as env:
        yield env


@pytest.mark.slow
def test_sound_reaches_a_real_audio_device(pulse_null_sink: dict, short_library, data_dir: Path,
                                           tmp_path: Path) -> None:
    env = pulse_null_sink
    Settings(playback_rate=1.0).save(data_dir)  # real time: what a listener hears
    recording = tmp_path / "monitor.raw"
    with open(recording, "wb") as out:
        rec = subprocess.Popen(["parec", "-d", f"{pulse.SINK}.monitor", "--format=s16le",
                                "--channels=1", "--rate=8000"], stdout=out, env=env)
        try:
            proc = subprocess.run([sys.executable, "-c", PLAY_SCRIPT, str(data_dir)], env=env,
                                  capture_output=True, text=True, timeout=90, cwd=os.getcwd())
        finally:
            rec.terminate()
            rec.wait(10)
    assert proc.returncode == 0, proc.stderr[-3000:]
    samples = np.fromfile(recording, dtype="<i2").astype(np.float64)
    assert len(samples) > 8000  # at least a second recorded
    loud = np.abs(samples) > 1000  # the tunes are at -10 dBFS; silence is 0
    assert loud.sum() > 8000, f"no sound on the device (peak {np.abs(samples).max():.0f})"
    lib = Library.open(data_dir)
    try:
        done = [r for r in lib.listens() if r.ended_at is not None]
        assert len(done) >= 2 and all(r.skipped == 0 for r in done[:2])
    finally:
        lib.close()
