"""The main window, offscreen: first run, the library table, menus, keys and restored state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest

from player.library.db import Library
from player.library.playlists import PlaylistStore
from player.library.scanner import scan_folders
from player.playback.base import PlaybackState
from player.ui.library_model import LibraryModel, format_ms
from tests.conftest import GOOD_TRACKS
from tests.player.conftest import make_app



def test_first_run_offers_folder_and_demo_and_plays_the_demo(data_dir: Path, qtbot) -> None:
    app = make_app(data_dir, qtbot)
    try:
        win = app.window
        assert win.stack.currentWidget() is win.empty_state
        assert win.demo_button.isVisible()
        win.demo_button.click()
        qtbot.waitUntil(lambda: app.engine.current is not None, timeout=20_000)
        assert win.stack.currentWidget() is not win.empty_state
        qtbot.waitUntil(lambda: win.model.total() == 8, timeout=10_000)  # read in the background
        assert app.engine.state is PlaybackState.PLAYING
        assert app.engine.current_source == "auto"  # hands-free from the first track
        assert win.now_playing.title.text() == app.engine.current.title
        assert app.engine.current.path.startswith(str(data_dir / "demo"))
    finally:
        app.shutdown()


def _answered(model: LibraryModel, qtbot) -> None:
    """Wait for the model's latest query (they run on a thread of their own)."""
    qtbot.waitUntil(lambda: not model.busy(), timeout=5000)


def test_library_model_is_a_sound_qt_model(library: Library, qtbot, qtmodeltester) -> None:
    library.add_tracks([{"path": f"/m/{i}.mp3", "mtime": 1, "size": 1, "title": f"Song {i}",
                         "artist": f"A{i % 7}" if i % 5 else None, "album": f"B{i % 3}",
                         "duration_ms": 1000 * i} for i in range(2500)])
    model = LibraryModel(library)
    assert model.rowCount() == 0  # the answer comes from the query thread
    with qtbot.waitSignal(model.resultsShown) as shown:
        pass
    assert shown.args == [2500] and model.rowCount() == 2500
    assert len(model._blocks) == 0  # rows are read when seen, a block at a time
    assert model.index(2499, 0).data().startswith("Song ")
    assert len(model._blocks) == 1
    qtmodeltester.check(model)
    # A second model for filter and sort (the tester stays attached to the first).
    model2 = LibraryModel(library)
    model2.set_filter("song 12")  # words match anywhere, case-insensitively
    _answered(model2, qtbot)
    titles = {model2.index(r, 0).data() for r in range(model2.rowCount())}
    assert "Song 12" in titles and all("12" in t for t in titles)
    model2.set_filter("")
    model2.sort(3, Qt.SortOrder.DescendingOrder)
    _answered(model2, qtbot)
    assert model2.index(0, 0).data() == "Song 2499"
    assert model2.index(0, 3).data() == format_ms(2_499_000) == "41:39"
    shown_rows = {model2.track_id(r): model2.index(r, 1).data() for r in range(model2.rowCount())}
    assert "Unknown artist" in shown_rows.values()  # a fifth of the tracks have no artist
    assert all(text == (library.track(t).artist or "Unknown artist")
               for t, text in shown_rows.items())
    model.close()
    model2.close()


def test_search_box_filters_the_table(music_dir: Path, data_dir: Path, qtbot) -> None:
    lib = Library.open(data_dir)
    scan_folders(lib, [music_dir])
    lib.close()
    app = make_app(data_dir, qtbot)
    try:
        win = app.window
        _answered(win.model, qtbot)
        assert win.model.total() == len(GOOD_TRACKS)
        qtbot.keyClicks(win.search, "HOMO")  # typed, case-insensitive, matches the album
        qtbot.waitUntil(lambda: win.model.total() == 2, timeout=3000)
        assert win.count_label.text() == "2 tracks"
        win.search.setText("坂本")  # QTest cannot type non-ASCII keys
        qtbot.waitUntil(lambda: win.model.total() == 1, timeout=3000)
        for query in ("BJÖRK", "bjork jóga", "ｂｊｏｒｋ"):  # case, accents, full-width forms
            win.search.setText(query)
            qtbot.waitUntil(lambda q=query: win.model.total() == (1 if "j" in q.split()[-1]
                                                                   and " " in q else 2),
                            timeout=3000)
        win.search.clear()
        qtbot.waitUntil(lambda: win.model.total() == len(GOOD_TRACKS), timeout=3000)
    finally:
        app.shutdown()


def test_double_click_enter_queue_and_keys(music_dir: Path, data_dir: Path, qtbot) -> None:
    lib = Library.open(data_dir)
    scan_folders(lib, [music_dir])
    lib.close()
    app = make_app(data_dir, qtbot)
    try:
        win, engine = app.window, app.engine
        _answered(win.model, qtbot)
        index = win.model.index(2, 0)
        rect = win.table.visualRect(index)
        # Qt 6's view wants the press before the double-click, as a real mouse sends
        QTest.mouseClick(win.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
        QTest.mouseDClick(win.table.viewport(), Qt.MouseButton.LeftButton,
                          pos=rect.center())
        assert engine.current.id == win.model.track_id(2)
        assert engine.current_source == "user"
        win.table.selectRow(4)
        win.table.setFocus()
        QTest.keyClick(win.table, Qt.Key.Key_Return)
        assert engine.current.id == win.model.track_id(4)
        engine.enqueue([win.model.track_id(0)])
        assert win.queue_view.list.item(0).text().startswith("1. ")
        win.act_play.trigger()  # Space
        assert engine.state is PlaybackState.PAUSED
        win.act_play.trigger()
        assert engine.state is PlaybackState.PLAYING
        win.act_next.trigger()  # Ctrl+Right: the queue first
        assert engine.current.id == win.model.track_id(0)
        win.act_autoqueue.trigger()
        assert not engine.autoqueue_enabled and "off" in win.queue_view.empty_hint.text()
    finally:
        app.shutdown()


def test_state_survives_a_restart(music_dir: Path, data_dir: Path, qtbot) -> None:
    lib = Library.open(data_dir)
    scan_folders(lib, [music_dir])
    ids = [r["id"] for r in lib.db.query("SELECT id FROM tracks ORDER BY id")]
    lib.close()
    app = make_app(data_dir, qtbot)
    app.window.resize(700, 500)  # inside the offscreen 800x600 screen
    app.engine.play_track(ids[0])
    app.engine.backend.advance(700)
    app.engine.enqueue([ids[3], ids[1]])
    app.engine.set_volume(42)
    app.window.close()
    app.shutdown()

    lib = Library.open(data_dir)
    try:  # the queue lives in the library, not in settings.json
        assert PlaylistStore(lib).load_queue() == [ids[3], ids[1]]
    finally:
        lib.close()
    assert "queue" not in json.loads((data_dir / "settings.json").read_text())
    again = make_app(data_dir, qtbot)
    try:
        assert again.engine.queue == [ids[3], ids[1]]
        assert again.engine.current.id == ids[0]
        assert again.engine.backend.position() == 700
        assert again.engine.state is PlaybackState.STOPPED  # restored, not blaring at start
        assert again.engine.backend.volume() == 42
        assert again.window.now_playing.volume.value() == 42
        assert again.window.size().width() == 700
        again.engine.play()
        assert again.engine.backend.position() == 700
    finally:
        again.shutdown()


@pytest.mark.parametrize("action", ["act_add", "act_rescan", "act_import", "act_retrain"])
def test_menu_entries_exist(data_dir: Path, qtbot, action: str) -> None:
    app = make_app(data_dir, qtbot)
    try:
        assert getattr(app.window, action).text()
    finally:
        app.shutdown()
