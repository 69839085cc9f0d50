"""The position comes back after a restart, with the real ``segue`` process on each real
audio backend (issue 11: with QtMultimedia the restored seek was dropped, the window showed 0:00
and the next quit saved 0)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bench import pulse
from player.audiogen import TrackSpec, make_library
from player.library.db import Library
from player.library.scanner import scan_folders
from tests.player.test_app_process import wait_for


def _open_listen_ms(data_dir: Path) -> int:
    """The open listen's milliseconds as last saved (every few seconds of play), or 0."""
    conn = sqlite3.connect(data_dir / "library.db")
    try:
        row = conn.execute("SELECT played_ms FROM listens WHERE ended_at IS NULL").fetchone()
        return (row[0] or 0) if row else 0
    finally:
        conn.close()


def _settings(data_dir: Path) -> dict:
    return json.loads((data_dir / "settings.json").read_text())


class Run:
    """One ``segue`` process; its stderr lines collected as they come."""

    def __init__(self, env: dict[str, str], data_dir: Path, *extra: str) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "player", "--data-dir", str(data_dir), "-v", *extra],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self._reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stderr),
                                        daemon=True)
        self._reader.start()

    def said(self, text: str) -> bool:
        return any(text in line for line in self.lines)

    def quit(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        self._reader.join(30)
        assert self.proc.returncode == 0, "".join(self.lines)[-3000:]


@pytest.mark.slow
@pytest.mark.audio
@pytest.mark.parametrize("backend", ["stream", "qt"])
def test_the_position_survives_a_restart(tmp_path: Path, data_dir: Path, backend: str) -> None:
    if not pulse.available():
        pytest.skip("pulseaudio/pactl not installed")
    make_library(tmp_path / "music", [
        (f"t{i}", "flac", TrackSpec(f"Long {i}", f"Artist {i}", seconds=60, pitch=300 + 90 * i))
        for i in range(2)])
    lib = Library.open(data_dir)
    scan_folders(lib, [tmp_path / "music"])
    lib.close()
    with pulse.private_pulse(tmp_path / "pulse", "minimal") as env:
        env = {**env, "QT_QPA_PLATFORM": "offscreen", "SEGUE_BACKEND": backend}
        first = Run(env, data_dir, "--play")
        try:
            wait_for(lambda: _open_listen_ms(data_dir) >= 3000, timeout=90)  # seconds in
        finally:
            first.quit()
        saved = _settings(data_dir)
        position = saved["current_position_ms"]
        assert saved["current_track"] is not None and position >= 3000

        # Started again, not playing: the track is cued at its position. The background work
        # starts a few seconds after the restore; by then the media is open.
        second = Run(env, data_dir)
        try:
            wait_for(lambda: second.said("loudness analysis"), timeout=90)
        finally:
            second.quit()
        again = _settings(data_dir)
        assert again["current_track"] == saved["current_track"]
        assert abs(again["current_position_ms"] - position) < 500, (position, again)
        assert not any("Traceback" in line for line in second.lines), "".join(second.lines)
    assert os.path.exists(data_dir / "library.db")


@pytest.mark.audio
def test_the_window_shows_the_restored_position_on_the_qt_backend(tmp_path: Path,
                                                                   data_dir: Path,
                                                                   qtbot) -> None:
    """QMediaPlayer drops a seek made while it is still opening the file: the backend keeps
    it and applies it once the media is open, and the window shows it."""
    from player.app import SegueApp
    from player.playback.qt import QtBackend
    from player.settings import Settings

    make_library(tmp_path / "music", [("t", "flac", TrackSpec("Long", "Someone", seconds=60))])
    lib = Library.open(data_dir)
    scan_folders(lib, [tmp_path / "music"])
    track = next(iter(lib.db.query("SELECT id FROM tracks")))["id"]
    lib.close()
    settings = Settings.load(data_dir)
    settings.current_track, settings.current_position_ms = track, 8_467
    settings.save(data_dir)
    app = SegueApp(data_dir, backend_factory=QtBackend, enable_mpris=False)
    qtbot.addWidget(app.window)
    try:
        app.window.show()
        app.start_playback()
        np = app.window.now_playing
        qtbot.waitUntil(lambda: app.engine.duration() > 0 and np.remaining.text() == "-0:51",
                        timeout=20_000)
        assert np.elapsed.text() == "0:08"
        assert np.seek.value() == 8_467
        player = app.engine.backend._player  # the media itself is there, not only the label
        qtbot.waitUntil(lambda: player.position() == 8_467, timeout=20_000)
        assert app.settings.current_position_ms == 8_467
        app.save_state()
        assert Settings.load(data_dir).current_position_ms == 8_467
    finally:
        app.shutdown()
