"""A hand-edited or damaged settings.json never stops Segue: each bad value becomes its
default with a warning, and the file is written again, corrected."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from player.library.db import Library
from player.library.scanner import scan_folders
from player.settings import SETTINGS_FILE, Settings
from tests.reliability.conftest import CHECKOUT

#: The values the adversarial pass tried, each of which stopped the app or the music.
HOSTILE = {
    "window_geometry": 5,
    "exploration": "nan",
    "autoqueue": "no",
    "volume": "loud",
    "playback_rate": 0,
}


def write_settings(data_dir: Path, values: dict | str) -> Path:
    path = data_dir / SETTINGS_FILE
    path.write_text(values if isinstance(values, str) else json.dumps(values))
    return path


@pytest.mark.parametrize("key, value", [
    *HOSTILE.items(),
    ("exploration", float("nan")),  # JSON's NaN literal
    ("exploration", 1e999),  # Infinity
    ("playback_rate", -2.0),
    ("volume", 100_000),
    ("volume", True),
    ("repeat_window_plays", 2.5),
    ("current_track", -1),
    ("current_position_ms", "later"),
    ("finetune_every", 0),
    ("window_geometry", "x" * 1_000_000),
])
def test_a_bad_value_becomes_its_default_and_the_file_is_rewritten(
        data_dir: Path, key: str, value, caplog: pytest.LogCaptureFixture) -> None:
    path = write_settings(data_dir, {key: value, "volume": 33} if key != "volume"
                          else {key: value, "exploration": 0.5})
    with caplog.at_level(logging.WARNING, logger="player.settings"):
        settings = Settings.load(data_dir)
    default = getattr(Settings(), key)
    assert getattr(settings, key) == default
    assert settings.volume == 33 or key == "volume"  # the good values stay
    assert key in caplog.text
    assert json.loads(path.read_text())[key] == default  # corrected on disk
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="player.settings"):
        assert Settings.load(data_dir) == settings
    assert caplog.text == ""  # said once


def test_good_values_and_unknown_keys_survive_a_correction(data_dir: Path) -> None:
    path = write_settings(data_dir, {"volume": 12, "exploration": 1, "queue": [4, 5],
                                     "current_track": None, "from_a_newer_segue": {"x": 1},
                                     "autoqueue": "no"})
    settings = Settings.load(data_dir)
    assert (settings.volume, settings.exploration) == (12, 1.0)
    assert settings.pop_legacy_queue() == [4, 5]  # an older Segue's queue, for the database
    on_disk = json.loads(path.read_text())
    assert on_disk["from_a_newer_segue"] == {"x": 1} and on_disk["autoqueue"] is True


@pytest.mark.parametrize("value", [5, [1, "two", 3], [[[[]]]], "x" * 10_000])
def test_a_bad_legacy_queue_is_ignored_with_a_warning(
        data_dir: Path, value, caplog: pytest.LogCaptureFixture) -> None:
    """The queue lives in the database now; an older Segue's file may still hold one."""
    write_settings(data_dir, {"queue": value, "volume": 33})
    settings = Settings.load(data_dir)
    with caplog.at_level(logging.WARNING, logger="player.settings"):
        assert settings.pop_legacy_queue() == []
    assert "queue = " in caplog.text
    settings.save(data_dir)
    assert "queue" not in json.loads((data_dir / SETTINGS_FILE).read_text())


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", "5", "[" * 100_000])
def test_a_file_that_is_not_an_object_is_kept_aside(data_dir: Path, text: str) -> None:
    path = write_settings(data_dir, text)
    assert Settings.load(data_dir) == Settings()
    assert (data_dir / (SETTINGS_FILE + ".bad")).read_text() == text
    assert Settings.from_dict(json.loads(path.read_text())) == (Settings(), [])


def test_every_setting_is_declared_with_a_check() -> None:
    import dataclasses

    from player.settings import Check

    for f in dataclasses.fields(Settings):
        assert isinstance(f.metadata.get("check"), Check), f.name
        assert f.metadata["check"](getattr(Settings(), f.name)) == getattr(Settings(), f.name)


def test_the_app_starts_and_plays_with_every_hostile_value(tmp_path: Path, data_dir: Path,
                                                           music_dir: Path) -> None:
    """The real process, all of the reported values at once: before, a traceback at start."""
    lib = Library.open(data_dir)
    scan_folders(lib, [music_dir])
    lib.close()
    path = write_settings(data_dir, HOSTILE)
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SEGUE_BACKEND": "null"}
    proc = subprocess.Popen([sys.executable, "-m", "player", "--data-dir", str(data_dir),
                             "--play"], env=env, cwd=CHECKOUT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)

    def listens() -> int:
        conn = sqlite3.connect(data_dir / "library.db")
        try:
            return conn.execute("SELECT count(*) FROM listens").fetchone()[0]
        finally:
            conn.close()

    try:
        while listens() == 0 and proc.poll() is None:  # music plays: a listen opens
            time.sleep(0.1)
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and "Traceback" not in err, err[-3000:]
    assert listens() >= 1
    for key in HOSTILE:
        assert f"{key} = " in err
    on_disk = json.loads(path.read_text())
    defaults = Settings()
    assert on_disk["autoqueue"] is True and on_disk["exploration"] == defaults.exploration
    assert on_disk["playback_rate"] == defaults.playback_rate
