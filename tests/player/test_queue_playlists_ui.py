"""The queue and the playlists as a person edits them: drag, Delete, Alt+arrows, another pick,
keep, save as playlist, play it, export it, and both surviving a restart."""

from __future__ import annotations

import json
from pathlib import Path

from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer
from PySide6.QtGui import QDropEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QInputDialog, QListWidget

from player.library.db import Library
from player.library.playlists import PlaylistStore
from player.library.scanner import scan_folders
from player.ui.track_drag import track_ids_from, track_ids_mime
from tests.player.conftest import make_app


def scanned(data_dir: Path, music_dir: Path) -> list[int]:
    lib = Library.open(data_dir)
    try:
        scan_folders(lib, [music_dir])
        return [r["id"] for r in lib.db.query("SELECT id FROM tracks ORDER BY path")]
    finally:
        lib.close()


def drag_rows(view: QListWidget, rows: list[int], onto_row: int, below: bool = False) -> None:
    """Drag the rows and drop them on ``onto_row``'s upper (or lower) part: the drop event a
    mouse drag ends with, carrying the rows as Qt's item views pack them. (Offscreen, Qt
    has no drag loop: ``QDrag.exec`` returns at once, so the drop is handed to the view.)"""
    view.clearSelection()
    for r in rows:
        view.item(r).setSelected(True)
    mime: QMimeData = view.model().mimeData([view.model().index(r, 0) for r in rows])
    rect = view.visualItemRect(view.item(onto_row))
    point = QPointF(rect.center().x(), rect.bottom() - 2 if below else rect.top() + 2)
    view.dropEvent(QDropEvent(point, Qt.DropAction.MoveAction, mime,
                              Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))


def answer_input(text: str) -> None:
    """Type ``text`` into the next modal input dialog and press OK (as a person would)."""
    def fill() -> None:
        dialog = QApplication.activeModalWidget()
        if not isinstance(dialog, QInputDialog):
            QTimer.singleShot(20, fill)
            return
        dialog.setTextValue(text)
        dialog.accept()
    QTimer.singleShot(0, fill)


def titles(view: QListWidget) -> list[str]:
    return [view.item(i).text() for i in range(view.count())]


def test_queue_drag_delete_and_alt_arrows(music_dir: Path, data_dir: Path, qtbot) -> None:
    ids = scanned(data_dir, music_dir)
    app = make_app(data_dir, qtbot)
    try:
        engine, view = app.engine, app.window.queue_view.list
        engine.enqueue(ids[:5])
        a, b, c, d, e = ids[:5]
        drag_rows(view, [3], 1)  # d dropped above b
        assert engine.queue == [a, d, b, c, e]
        assert view.selected_positions() == [1]  # the moved row stays selected
        drag_rows(view, [0, 1], 4, below=True)  # a and d to the end
        assert engine.queue == [b, c, e, a, d]
        view.setFocus()
        view.clearSelection()
        view.item(2).setSelected(True)
        QTest.keyClick(view, Qt.Key.Key_Up, Qt.KeyboardModifier.AltModifier)
        assert engine.queue == [b, e, c, a, d] and view.selected_positions() == [1]
        QTest.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
        QTest.keyClick(view, Qt.Key.Key_Down, Qt.KeyboardModifier.AltModifier)
        assert engine.queue == [b, c, a, e, d]
        view.clearSelection()
        view.item(0).setSelected(True)
        view.item(4).setSelected(True)
        QTest.keyClick(view, Qt.Key.Key_Delete)
        assert engine.queue == [c, a, e]
        assert titles(view)[0].startswith("1. ") and len(
            [t for t in titles(view) if not t.startswith("✦")]) == 3
        app.window.queue_view.clear_button.click()
        assert engine.queue == []
    finally:
        app.shutdown()


def test_another_pick_and_keep_from_up_next(music_dir: Path, data_dir: Path, qtbot) -> None:
    ids = scanned(data_dir, music_dir)
    app = make_app(data_dir, qtbot)
    try:
        engine, qv = app.engine, app.window.queue_view
        engine.play_track(ids[0])
        qtbot.waitUntil(lambda: engine.auto_pick is not None, timeout=10_000)
        first = engine.auto_pick.track_id
        assert qv.another_button.isEnabled() and titles(qv.list)[-1].startswith("✦ Auto")
        qv.another_button.click()
        qtbot.waitUntil(lambda: engine.auto_pick is not None, timeout=10_000)
        assert engine.auto_pick.track_id != first
        kept = engine.auto_pick.track_id
        qv.pin_button.click()
        assert engine.queue == [kept]
        assert titles(qv.list)[0].startswith("1. ")
        qtbot.waitUntil(lambda: engine.auto_pick is not None, timeout=10_000)
        assert engine.auto_pick.track_id not in (kept, first)
    finally:
        app.shutdown()


def test_save_queue_as_playlist_play_export_and_restart(music_dir: Path, data_dir: Path,
                                                         tmp_path: Path, qtbot) -> None:
    ids = scanned(data_dir, music_dir)
    app = make_app(data_dir, qtbot)
    try:
        win, engine = app.window, app.engine
        panel = win.playlists_panel
        assert panel.empty_hint.isVisible()
        engine.enqueue([ids[4], ids[2], ids[7]])
        answer_input("Road trip")
        win.queue_view.save_button.click()
        assert titles(panel.lists) == ["Road trip  (3)"]
        assert panel.entries.count() == 3
        # Edit it: drag the last entry to the top, Delete the middle one.
        drag_rows(panel.entries, [2], 0)
        panel.entries.setFocus()
        panel.entries.clearSelection()
        panel.entries.item(1).setSelected(True)
        QTest.keyClick(panel.entries, Qt.Key.Key_Delete)
        playlist_id = panel.current_id()
        assert PlaylistStore(app.library).playable_ids(playlist_id) == [ids[7], ids[2]]
        assert titles(panel.lists) == ["Road trip  (2)"]
        # Double-click plays it: the first entry now, the rest in front of the queue.
        engine.clear_queue()
        panel.play_selected()
        assert engine.current.id == ids[7] and engine.queue == [ids[2]]
        out = panel.export_selected(str(tmp_path / "road trip"))
        assert out == tmp_path / "road trip.m3u8"
        lines = out.read_text(encoding="utf-8").splitlines()
        paths = [app.library.track(t).path for t in (ids[7], ids[2])]
        assert [ln for ln in lines if not ln.startswith("#")] == paths
        assert app.settings.last_folder == str(tmp_path)  # the next dialog starts here
        engine.enqueue([ids[1]])
        app.window.close()
    finally:
        app.shutdown()
    again = make_app(data_dir, qtbot)
    try:
        assert titles(again.window.playlists_panel.lists) == ["Road trip  (2)"]
        assert again.engine.queue == [ids[2], ids[1]]
    finally:
        again.shutdown()


def test_an_older_settings_queue_moves_into_the_library_once(music_dir: Path, data_dir: Path,
                                                             qtbot) -> None:
    ids = scanned(data_dir, music_dir)
    (data_dir / "settings.json").write_text(json.dumps({"queue": [ids[3], ids[0]]}))
    app = make_app(data_dir, qtbot)
    try:
        assert app.engine.queue == [ids[3], ids[0]]
        app.engine.remove_indices([0])
        app.window.close()
    finally:
        app.shutdown()
    assert "queue" not in json.loads((data_dir / "settings.json").read_text())
    again = make_app(data_dir, qtbot)
    try:
        assert again.engine.queue == [ids[0]]
    finally:
        again.shutdown()


def test_add_to_playlist_from_the_library_menu(music_dir: Path, data_dir: Path, qtbot) -> None:
    from PySide6.QtWidgets import QMenu

    ids = scanned(data_dir, music_dir)
    app = make_app(data_dir, qtbot)
    try:
        panel = app.window.playlists_panel
        pid = panel.new_playlist([ids[0]], name="Mine")
        menu = QMenu()
        panel.fill_add_menu(menu, [ids[5], ids[6]])
        [action] = [a for a in menu.actions() if a.text() == "Mine"]
        action.trigger()
        assert PlaylistStore(app.library).playable_ids(pid) == [ids[0], ids[5], ids[6]]
        assert panel.entries.count() == 3
    finally:
        app.shutdown()


def real_drag(data_dir: Path, mode: str) -> dict:
    """Run drag_child.py on a private Xvfb (skipped where there is none) and read its answer."""
    import os
    import shutil
    import subprocess
    import sys

    import pytest

    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        pytest.skip("Xvfb is not installed (.ci/install installs it)")
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen([xvfb, "-displayfd", str(write_fd), "-screen", "0",
                               "1280x800x24", "-nolisten", "tcp"], pass_fds=(write_fd,),
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_fd)
    try:
        with os.fdopen(read_fd) as fd:
            display = fd.readline().strip()  # Xvfb writes it once it accepts clients
        assert display, "Xvfb did not start"
        env = {**os.environ, "DISPLAY": f":{display}", "QT_QPA_PLATFORM": "xcb"}
        child = subprocess.run([sys.executable, str(Path(__file__).with_name("drag_child.py")),
                                str(data_dir), mode], env=env, capture_output=True, text=True,
                               timeout=120, cwd=Path(__file__).resolve().parents[2])
    finally:
        server.terminate()
        server.wait(timeout=30)
    assert child.returncode == 0, child.stderr[-3000:]
    return json.loads(child.stdout.strip().splitlines()[-1])


def test_a_real_mouse_drag_reorders_the_queue(music_dir: Path, data_dir: Path) -> None:
    """On a real X server (Xvfb), with Qt's own drag loop: press, move, release."""
    scanned(data_dir, music_dir)
    result = real_drag(data_dir, "queue")
    a, b, c, d, e = result["before"]
    assert result["after"] == [a, d, b, c, e]  # the fourth song dropped above the second


def test_a_real_mouse_drag_from_the_library_into_up_next(music_dir: Path,
                                                         data_dir: Path) -> None:
    scanned(data_dir, music_dir)
    result = real_drag(data_dir, "table")
    a, b, c, d, e = result["before"]
    assert result["after"] == [a, result["dragged"], b, c, d, e]


def test_songs_dropped_on_up_next_and_on_playlists(music_dir: Path, data_dir: Path,
                                                   qtbot) -> None:
    """What a drop from the library carries, and where it lands (the drop events handed to
    the lists, as a drag offscreen cannot run Qt's drag loop)."""
    ids = scanned(data_dir, music_dir)
    app = make_app(data_dir, qtbot)
    try:
        win, engine = app.window, app.engine
        qtbot.waitUntil(lambda: win.model.rowCount() == len(ids), timeout=10_000)
        model = win.model
        rows = [2, 5]
        mime = model.mimeData([model.index(r, c) for r in rows for c in range(3)])
        songs = [model.track_id(r) for r in rows]
        engine.enqueue(ids[:2])
        view = win.queue_view.list
        rect = view.visualItemRect(view.item(1))
        view.dropEvent(QDropEvent(QPointF(rect.center().x(), rect.top() + 2),
                                  Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                                  Qt.KeyboardModifier.NoModifier))
        assert engine.queue == [ids[0], *songs, ids[1]]
        assert view.selected_positions() == [1, 2]
        panel = win.playlists_panel
        pid = panel.new_playlist([ids[7]], name="Dropped")
        item = panel.lists.item(0)
        at = panel.lists.visualItemRect(item).center()
        panel.lists.dropEvent(QDropEvent(QPointF(at), Qt.DropAction.CopyAction, mime,
                                         Qt.MouseButton.LeftButton,
                                         Qt.KeyboardModifier.NoModifier))
        assert PlaylistStore(app.library).playable_ids(pid) == [ids[7], *songs]
        entries = panel.entries
        top = entries.visualItemRect(entries.item(0))
        # A queued song dragged onto the playlist: its songs (Qt's rows are for Up next).
        queued = track_ids_mime(track_ids_from(view.mimeData([view.item(0)])))
        entries.dropEvent(QDropEvent(QPointF(top.center().x(), top.top() + 2),
                                     Qt.DropAction.CopyAction, queued,
                                     Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier))
        assert PlaylistStore(app.library).playable_ids(pid) == [ids[0], ids[7], *songs]
        assert engine.queue == [ids[0], *songs, ids[1]]  # copied, not taken from the queue
    finally:
        app.shutdown()


def test_an_imported_m3u_shows_in_the_sidebar(music_dir: Path, data_dir: Path, tmp_path: Path,
                                              qtbot) -> None:
    scanned(data_dir, music_dir)
    m3u = tmp_path / "Mix tape.m3u"
    m3u.write_text(f"#EXTM3U\n#EXTINF:5,Björk - Hunter\n{music_dir}/Björk/Homogenic/02 Hunter.mp3"
                   "\n#EXTINF:200,Nobody - Not Here\nelsewhere/not-here.mp3\n", encoding="utf-8")
    app = make_app(data_dir, qtbot)
    try:
        win = app.window
        job = win.start_import([str(m3u)])
        qtbot.waitUntil(lambda: job.finished, timeout=10_000)
        assert "1 playlist (in the Playlists sidebar)" in win.statusBar().currentMessage()
        panel = win.playlists_panel
        assert titles(panel.lists) == ["Mix tape  (2)"]
        panel.lists.setCurrentRow(0)
        assert titles(panel.entries) == ["1. Hunter — Björk", "2. Not Here — Nobody"]
        assert "Imported from" in panel.lists.item(0).toolTip()
        assert panel.entries.item(1).foreground().color() != panel.entries.item(0).foreground() \
            .color()  # not in the library: greyed
    finally:
        app.shutdown()
