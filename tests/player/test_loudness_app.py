"""The app runs the loudness analysis in the background; Playback menu's sound settings."""

from __future__ import annotations

from pathlib import Path

from player.audiogen import TrackSpec, make_library
from player.library.db import Library
from player.library.scanner import scan_folders
from player.playback.gain import ReplayGainMode
from player.settings import Settings
from tests.player.conftest import make_app


def _music(folder: Path, n: int, album: str = "Alb") -> list[Path]:
    return make_library(folder, [(f"{album}/{i}", ("flac", "opus")[i % 2],
                                  TrackSpec(f"{album} {i}", "A", album, seconds=1.0))
                                 for i in range(n)])


def test_analysis_runs_at_start_up_and_after_a_scan(tmp_path: Path, data_dir: Path,
                                                     qtbot) -> None:
    lib = Library.open(data_dir)
    _music(tmp_path / "music", 3)
    scan_folders(lib, [tmp_path / "music"], workers=0)
    lib.close()
    app = make_app(data_dir, qtbot)
    try:
        qtbot.waitUntil(lambda: app.library.analysis_remaining() == 0, timeout=60_000)
        _music(tmp_path / "more", 2, album="Other")
        with qtbot.waitSignal(app.library_service.scanEnded, timeout=30_000):
            app.window.start_scan([tmp_path / "more"])
        qtbot.waitUntil(lambda: app.library.analysis_remaining() == 0 and
                        not app.analysis.running, timeout=60_000)
        assert len(app.library.all_track_meta()) == 5
        assert not app.window.loudness_status.isVisible()
        assert app.library.analysis_errors() == []
        assert app.analysis.typical_gain_db == app.library.typical_gain_db() is not None
    finally:
        app.shutdown()
    assert not app.analysis.running


def test_outdated_tags_are_read_again_at_start_up(tmp_path: Path, data_dir: Path,
                                                  qtbot) -> None:
    lib = Library.open(data_dir)
    _music(tmp_path / "music", 2)
    scan_folders(lib, [tmp_path / "music"], workers=0)
    with lib.transaction() as db:  # as if an older Segue had read them
        db.conn.execute("UPDATE tracks SET tags_version = 1")
    lib.close()
    app = make_app(data_dir, qtbot)
    try:
        with qtbot.waitSignal(app.library_service.scanStarted, timeout=30_000):
            pass
        qtbot.waitUntil(lambda: app.library.tags_outdated() == 0 and
                        app.library.analysis_remaining() == 0, timeout=60_000)
    finally:
        app.shutdown()


def test_sound_menus_set_the_settings(data_dir: Path, qtbot) -> None:
    app = make_app(data_dir, qtbot)
    try:
        win = app.window
        assert win.replaygain_actions[ReplayGainMode.AUTO].isChecked()
        assert win.crossfade_actions[0].isChecked() and sorted(win.crossfade_actions)[-1] == 12
        with qtbot.waitSignal(win.soundSettingsChanged):
            win.replaygain_actions[ReplayGainMode.ALBUM].trigger()
        with qtbot.waitSignal(win.soundSettingsChanged):
            win.crossfade_actions[6].trigger()
        assert (app.settings.replaygain, app.settings.crossfade_s) == (ReplayGainMode.ALBUM, 6)
        assert not win.replaygain_actions[ReplayGainMode.AUTO].isChecked()
        app.save_state()
        back = Settings.load(data_dir)
        assert (back.replaygain_mode, back.crossfade_s) == ("album", 6)
    finally:
        app.shutdown()
