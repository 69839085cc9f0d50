"""Playlists in the database: made, edited, exported, imported back; the queue's row."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from player.bridge import training_data
from player.importer import import_history
from player.library.db import SCHEMA_VERSION, Library
from player.library.playlists import Entry, PlaylistStore
from player.library.scanner import scan_folders


def _ids(library: Library) -> list[int]:
    return [r["id"] for r in library.db.query("SELECT id FROM tracks ORDER BY path")]


def test_save_edit_export_and_import_back(library: Library, music_dir: Path,
                                          tmp_path: Path) -> None:
    scan_folders(library, [music_dir])
    ids = _ids(library)
    store = PlaylistStore(library)
    pid = store.create("Evening", [ids[3], ids[0], ids[5]])
    assert [p.name for p in store.all()] == ["Evening"]
    assert store.playable_ids(pid) == [ids[3], ids[0], ids[5]]
    entries = store.entries(pid)
    store.set_entries(pid, [entries[2], entries[0]])  # reordered, one removed
    store.append(pid, [ids[1]])
    assert store.playable_ids(pid) == [ids[5], ids[3], ids[1]]
    store.rename(pid, "Late evening")
    assert store.get(pid).name == "Late evening" and store.get(pid).entries == 3

    out = tmp_path / "exported" / "late.m3u8"
    out.parent.mkdir()
    result = store.export_m3u8(pid, out)
    assert (result.written, result.skipped) == (3, 0)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("#EXTM3U\n") and text.count("#EXTINF:") == 3

    # The file, imported into a second library over the same files, gives the same tracks.
    other = Library.open(tmp_path / "other")
    try:
        scan_folders(other, [music_dir])
        report = import_history(other, [out])
        assert report.playlists == 1
        imported = PlaylistStore(other).all()
        assert [p.kind for p in imported] == ["imported"]
        paths = {r["id"]: r["path"] for r in library.db.query("SELECT id, path FROM tracks")}
        other_paths = {r["id"]: r["path"] for r in other.db.query("SELECT id, path FROM tracks")}
        assert [other_paths[t] for t in PlaylistStore(other).playable_ids(imported[0].id)] == \
            [paths[t] for t in (ids[5], ids[3], ids[1])]
    finally:
        other.close()

    store.delete(pid)
    assert store.all() == []


def test_user_playlists_and_imported_ones_feed_training_not_the_queue(
        library: Library, music_dir: Path) -> None:
    scan_folders(library, [music_dir])
    ids = _ids(library)
    store = PlaylistStore(library)
    store.create("Mine", ids[:4])
    store.save_queue(ids[4:8])
    assert [pl.name for pl in library.playlists()] == ["Mine"]
    assert store.all()[0].kind == "user"
    data = training_data(library)
    assert data.playlists == 1
    assert [e.track for e in data.sessions[0]] == ids[:4]


def test_the_queue_row_and_adopting_a_settings_queue_once(library: Library,
                                                           music_dir: Path) -> None:
    scan_folders(library, [music_dir])
    ids = _ids(library)
    store = PlaylistStore(library)
    assert store.load_queue() == []
    assert store.adopt_settings_queue([ids[2], 999_999, ids[1]])  # an unknown id is dropped
    assert store.load_queue() == [ids[2], ids[1]]
    assert not store.adopt_settings_queue([ids[0]])  # once: the database's queue wins
    store.save_queue([ids[0], ids[0], ids[3]])  # a track may be queued twice
    assert store.load_queue() == [ids[0], ids[0], ids[3]]
    assert store.all() == []  # the queue is no playlist of the sidebar
    conn = sqlite3.connect(library.path)
    try:  # one queue row, whatever happens
        try:
            conn.execute("INSERT INTO playlists(name, imported_at, kind) VALUES ('q', 0, 'queue')")
        except sqlite3.IntegrityError:
            pass
        else:
            raise AssertionError("a second queue row was accepted")
    finally:
        conn.close()


def test_unmatched_entries_are_kept_and_exported_without_a_location(
        library: Library, music_dir: Path, tmp_path: Path) -> None:
    scan_folders(library, [music_dir])
    ids = _ids(library)
    store = PlaylistStore(library)
    pid = store.create("Mixed", [ids[0]])
    store.set_entries(pid, [*store.entries(pid), Entry(None, "Nobody", "Not here")])
    entries = store.entries(pid)
    assert [e.present for e in entries] == [True, False]
    assert entries[1].label() == "Not here — Nobody"
    assert store.get(pid).playable == 1 and store.playable_ids(pid) == [ids[0]]
    result = store.export_m3u8(pid, tmp_path / "mixed.m3u8")
    assert (result.written, result.skipped) == (1, 1)


def test_migration_from_schema_4_keeps_imported_playlists(tmp_path: Path) -> None:
    path = tmp_path / "library.db"
    lib = Library(path)
    lib.close()
    conn = sqlite3.connect(path)
    # Back to what schema 4 had: no kind, no updated_at (columns and index dropped).
    conn.executescript("""
        DROP INDEX playlists_one_queue; DROP INDEX playlist_items_track;
        ALTER TABLE playlists DROP COLUMN kind; ALTER TABLE playlists DROP COLUMN updated_at;
        DROP INDEX tracks_browse; DROP INDEX tracks_present_browse;
        DROP TRIGGER tracks_fts_insert; DROP TRIGGER tracks_fts_update;
        DROP TRIGGER tracks_fts_delete; DROP TABLE tracks_fts; DROP TABLE search_index;
        ALTER TABLE tracks DROP COLUMN artist_key; ALTER TABLE tracks DROP COLUMN album_key;
        ALTER TABLE tracks DROP COLUMN compilation;
        INSERT INTO playlists(id, name, source_path, imported_at) VALUES (1, 'old', '/x.m3u', 0);
        INSERT INTO playlist_items VALUES (1, 0, NULL, 'A', 'B');
        PRAGMA user_version = 4;""")
    conn.close()
    lib = Library(path)
    try:
        assert lib.schema_version == SCHEMA_VERSION
        playlists = PlaylistStore(lib).all()
        assert [(p.name, p.kind, p.entries) for p in playlists] == [("old", "imported", 1)]
    finally:
        lib.close()
