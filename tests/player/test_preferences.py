"""Preferences: music folders added and removed as a person does it (the history stays), the
demo replaced by real music, the scan's problems listed by file."""

from __future__ import annotations

import shutil
from pathlib import Path

from player.library.db import Library
from player.library.scanner import scan_folders
from player.ui import dialogs
from tests.player.conftest import make_app


def test_removing_a_folder_keeps_its_listens(music_dir: Path, data_dir: Path, tmp_path: Path,
                                             qtbot) -> None:
    other = tmp_path / "other"
    shutil.copytree(music_dir / "Björk", other)
    lib = Library.open(data_dir)
    scan_folders(lib, [music_dir, other])
    gone = [r["id"] for r in lib.db.query("SELECT id FROM tracks WHERE path LIKE ?",
                                          [f"{other}/%"])]
    for i, tid in enumerate(gone):
        lid = lib.open_listen(tid, 1_700_000_000 + 400 * i, "user", 1)
        lib.close_listen(lid, 1_700_000_200 + 400 * i, 200_000, False)
    total = lib.stats()["tracks"]
    lib.close()
    app = make_app(data_dir, qtbot)
    try:
        win = app.window
        app.engine.enqueue(gone[:1])
        dialog = win.preferences()
        assert dialog.folder_list.count() == 2
        dialog.folder_list.item(1).setSelected(True)
        assert dialog.remove_button.isEnabled()
        job = dialog.remove_selected(confirm=False)
        qtbot.waitUntil(lambda: job.finished, timeout=10_000)
        assert dialog.folder_list.count() == 1
        assert app.library.roots() == [str(music_dir)]
        qtbot.waitUntil(lambda: win.model.total() == total - 2, timeout=10_000)
        assert app.engine.queue == []  # its song left the queue with the library
        assert "2 songs left the library; 2 listens stay" in win.statusBar().currentMessage()
        assert app.library.listen_count() == 2
        assert {(r.artist, r.title) for r in app.library.listens()} == {
            ("Björk", "Jóga"), ("Björk", "Hunter")}
    finally:
        app.shutdown()


def test_the_first_real_folder_replaces_the_demo(music_dir: Path, data_dir: Path,
                                                 qtbot) -> None:
    app = make_app(data_dir, qtbot)
    try:
        win = app.window
        win.demo_button.click()
        qtbot.waitUntil(lambda: not win.service.scanning and win.model.total() == 8,
                        timeout=20_000)
        qtbot.waitUntil(lambda: app.engine.auto_pick is not None, timeout=10_000)
        demo_ids = {r.id for r in app.library.all_track_meta()}
        app.engine.enqueue(sorted(demo_ids)[:2])
        assert dialogs.start_folder(app.settings, app.library) != str(data_dir / "demo")
        win.add_folder(str(music_dir))
        # (the service stops "scanning" before the window's slot that says what happened)
        qtbot.waitUntil(lambda: "the demo library was removed: your music replaces it"
                        in win.statusBar().currentMessage(), timeout=20_000)
        assert not win.service.scanning
        assert app.library.roots() == [str(music_dir)]
        assert all(str(data_dir / "demo") not in r.path
                   for r in app.library.all_track_meta())
        assert app.settings.last_folder == str(music_dir)
        # Nothing of the demo is left to play: not in the queue, not the auto pick (the queue
        # forgets the removed songs once the removal's job reports back).
        qtbot.waitUntil(lambda: app.engine.queue == [], timeout=10_000)
        qtbot.waitUntil(lambda: app.engine.auto_pick is not None, timeout=10_000)
        assert app.library.track(app.engine.auto_pick.track_id) is not None
        app.engine.next()  # may wait for a background pick on a busy machine
        qtbot.waitUntil(lambda: app.engine.current is not None, timeout=10_000)
        assert app.engine.current.path.startswith(str(music_dir))
    finally:
        app.shutdown()


def test_scan_problems_are_listed_by_file(music_dir: Path, data_dir: Path, qtbot) -> None:
    broken = music_dir / "broken.mp3"
    broken.write_bytes(b"\x00" * 4000)
    empty = music_dir / "empty.flac"
    empty.write_bytes(b"")
    app = make_app(data_dir, qtbot)
    try:
        win = app.window
        win.add_folder(str(music_dir))
        qtbot.waitUntil(lambda: not win.service.scanning, timeout=20_000)
        assert win.scan_problems_button.isVisible()
        assert win.scan_problems_button.text() == "2 could not be read…"
        win.scan_problems_button.click()
        dialog = win.scan_problems_dialog
        table = dialog.table
        rows = {table.item(r, 0).text(): table.item(r, 1).text()
                for r in range(table.rowCount())}
        assert set(rows) == {str(broken), str(empty)}
        assert all(reason for reason in rows.values())
        assert str(broken) in dialog.copy()
        prefs = win.preferences()
        assert prefs.problems_label.text() == "2 files could not be read."
    finally:
        app.shutdown()
