"""Open with Segue: ``segue FILE_OR_FOLDER...`` plays what it is given, in order, adding it to
the library — in a new window, or in the one already running (two real processes)."""

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

from player.cli import _split_open_targets, build_parser
from player.opener import NotALocalFile, local_path
from tests.player.test_app_process import launch, wait_for


def test_files_are_told_apart_from_commands_and_options(tmp_path: Path) -> None:
    parser = build_parser()
    assert _split_open_targets(["scan", "/m"], parser) == (["scan", "/m"], [])
    assert _split_open_targets(["--data-dir", "stats", "a.mp3", "-v"], parser) == (
        ["--data-dir", "stats", "-v"], ["a.mp3"])
    assert _split_open_targets(["--play"], parser) == (["--play"], [])
    assert _split_open_targets(["--", "scan"], parser) == ([], ["scan"])  # a file named scan
    assert local_path("file:///tmp/a%20b/Bj%C3%B6rk.flac") == "/tmp/a b/Björk.flac"
    with pytest.raises(NotALocalFile):
        local_path("https://example.org/x.mp3")


def test_a_missing_file_is_a_usage_error(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "player", "--data-dir", str(tmp_path / "d"),
                           str(tmp_path / "nope.mp3")], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert proc.returncode == 2 and "nope.mp3: no such file or folder" in proc.stderr


def _order(lines: list[str]) -> list[str] | None:
    for line in lines:
        if "open: playing in order: " in line:
            return json.loads(line.split("open: playing in order: ", 1)[1])
    return None


def _reader(proc: subprocess.Popen[str]) -> tuple[list[str], threading.Thread]:
    lines: list[str] = []
    thread = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    thread.start()
    return lines, thread


def test_open_with_a_running_segue(data_dir: Path, music_dir: Path, tmp_path: Path) -> None:
    loose = music_dir / "loose" / "aiff song.aiff"
    album = music_dir / "Björk"
    first = launch(data_dir)
    lines, reader = _reader(first)
    try:
        wait_for(lambda: any("single-instance" in ln or "Segue" in ln for ln in lines)
                 or (data_dir / "segue.lock").exists())
        second = subprocess.run(
            [sys.executable, "-m", "player", "--data-dir", str(data_dir), loose.as_uri(),
             str(album)], env={**os.environ, "QT_QPA_PLATFORM": "offscreen"},
            capture_output=True, text=True, timeout=60)
        assert second.returncode == 0, second.stderr
        assert "already running; it plays what you gave it" in second.stderr
        wait_for(lambda: _order(lines) is not None, timeout=60)
        assert _order(lines) == [str(loose), str(album / "Homogenic" / "01 Jóga.flac"),
                                 str(album / "Homogenic" / "02 Hunter.mp3")]
    finally:
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=60)
        reader.join(30)
    assert first.returncode == 0, "".join(lines)[-2000:]
    conn = sqlite3.connect(data_dir / "library.db")
    try:  # in the library now, without their folders becoming music folders
        paths = {p for (p,) in conn.execute("SELECT path FROM tracks")}
        assert str(loose) in paths and len(paths) == 3
        assert conn.execute("SELECT count(*) FROM roots").fetchone()[0] == 0
    finally:
        conn.close()


def test_a_first_launch_with_files_plays_them(data_dir: Path, music_dir: Path) -> None:
    song = music_dir / "odd names" / "emoji 🎵 name.mp3"
    proc = launch(data_dir, str(song))
    lines, reader = _reader(proc)
    try:
        wait_for(lambda: _order(lines) is not None, timeout=60)
        assert _order(lines) == [str(song)]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        reader.join(30)
    assert proc.returncode == 0, "".join(lines)[-2000:]
