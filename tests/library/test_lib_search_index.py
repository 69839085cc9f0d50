"""The search index (``tracks_fts``, schema 9): what it finds, that it stays current as tracks
are scanned, changed and removed, that a big library is indexed in the background (resumable,
never holding the app's start), and that a SQLite without the trigram tokenizer still opens and
searches. Real SQLite files throughout."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest

import player.library.db as dbmod
from player.library import folders
from player.library.db import SEARCH_INDEX_COMPLETE, Library, TrackFilter, fts_match, search_fold
from player.library.scanner import scan_folders

TITLES = ["God's Own", "Sandra’s Song", "Rock-and-Roll", "Björk Night", "Midnight Echo",
          "Blue River", "Gold", "Nightingale", "A", "Zebra 12"]


def _track(n: int, title: str, artist: str = "Artist", album: str = "Album") -> dict[str, Any]:
    return {"path": f"/m/{n:04d}.flac", "mtime": 1.0, "size": 1, "title": title,
            "artist": artist, "album": album, "albumartist": None, "track_number": n,
            "disc_number": 1, "year": 2000, "duration_ms": 1000, "format": "flac"}


def _library_before_the_index(path: Path, monkeypatch: pytest.MonkeyPatch,
                      rows: list[dict[str, Any]]) -> None:
    """A library as Segue wrote it before the search index (schema 8), with ``rows``."""
    before = dbmod.MIGRATIONS.index(dbmod._migrate_to_9)
    with monkeypatch.context() as m:
        m.setattr(dbmod, "MIGRATIONS", dbmod.MIGRATIONS[:before])
        m.setattr(dbmod, "SCHEMA_VERSION", before)
        lib = Library(path)
        lib.add_tracks(rows)
        assert lib.schema_version == before
        lib.close()


def _ids_of(lib: Library, titles: list[str]) -> set[int]:
    marks = ",".join("?" * len(titles))
    return {r[0] for r in lib.db.conn.execute(
        f"SELECT id FROM tracks WHERE title IN ({marks})", titles)}


def _has_index(lib: Library, name: str) -> bool:
    return lib.db.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?",
                               (name,)).fetchone() is not None


def _found(lib: Library, text: str) -> set[int]:
    found = lib.search_ids(text)
    assert found is not None, "the index should answer"
    return {int(i) for i in found}


def _scanned(lib: Library, text: str) -> set[int]:
    """What a scan of every track's text finds: the truth the index must agree with (a
    word of three characters or more anywhere; a shorter one at the start of a word)."""
    found = set()
    for tid, search in lib.db.conn.execute("SELECT id, coalesce(search, '') FROM tracks"):
        words = search.split()
        if all((w in search) if len(w) >= 3 else any(x.startswith(w) for x in words)
               for w in search_fold(text).split()):
            found.add(tid)
    return found


QUERIES = ["gods", "GOD'S", "sandras", "rock and roll", "rockandroll", "bjork", "night",
           "ight", "echo mid", "n", "ni", "bl riv", "a", "12", "zebra 1", "zzz", "old"]


def test_the_index_finds_what_the_search_box_promises(tmp_path: Path) -> None:
    lib = Library(tmp_path / "library.db")
    lib.add_tracks([_track(i, t) for i, t in enumerate(TITLES)])
    assert lib.build_search_index() and lib.search_index_ready()
    assert _found(lib, "gods") == _ids_of(lib, ["God's Own"])
    assert _found(lib, "sandras") == _ids_of(lib, ["Sandra’s Song"])
    assert _found(lib, "rock and roll") == _found(lib, "rockandroll") == \
        _ids_of(lib, ["Rock-and-Roll"])
    assert _found(lib, "night") == _ids_of(lib, ["Björk Night", "Midnight Echo", "Nightingale"])
    # Short words: the start of a word ("ni" is not inside "Midnight" for the index).
    assert _found(lib, "ni") == _ids_of(lib, ["Björk Night", "Nightingale"])
    assert _found(lib, "n") == _ids_of(lib, ["Björk Night", "Nightingale"])
    assert _found(lib, "a") == _ids_of(lib, ["A", "Rock-and-Roll"]) | _ids_of(
        lib, TITLES)  # every track's artist is "Artist", its album "Album"
    for query in QUERIES:
        assert _found(lib, query) == _scanned(lib, query), query
    lib.close()


def test_a_bulk_insert_is_left_to_the_builder_with_its_upserts(tmp_path: Path) -> None:
    """add_tracks leaves its new rows to the builder (the insert trigger steps aside: a scan
    does not pay for the index); a path already there (another scan meanwhile) is updated in
    the index at once; until the builder has run, searches do without the index."""
    lib = Library(tmp_path / "library.db")
    lib.add_tracks([_track(i, t) for i, t in enumerate(TITLES)])
    assert lib.build_search_index()
    lib.add_tracks([_track(100, "Platypus"), _track(0, "Gods Replaced")])  # 0: same path
    assert not lib.search_index_ready() and lib.search_ids("platypus") is None
    assert lib.build_search_index() and lib.search_index_ready()
    assert _found(lib, "platypus") == _ids_of(lib, ["Platypus"])
    assert _found(lib, "replaced") == _ids_of(lib, ["Gods Replaced"])
    assert _found(lib, "own") == set()  # "God's Own" was that path's old title
    for query in QUERIES:
        assert _found(lib, query) == _scanned(lib, query), query
    lib.db.conn.execute("INSERT INTO tracks_fts(tracks_fts) VALUES ('integrity-check')")
    lib.close()


def test_words_the_index_cannot_look_up_fall_back() -> None:
    assert fts_match([]) is None
    assert fts_match(["ж"]) is None  # one letter outside a-z/0-9: scanned instead
    assert fts_match(["жа"]) == '" жа"'
    assert fts_match(["night", "ab"]) == '"night" AND " ab"'


def test_the_index_follows_scans_changes_and_removals(library: Library, music_dir: Path,
                                                      tmp_path: Path) -> None:
    import shutil

    other = tmp_path / "other"
    shutil.copytree(music_dir / "Björk", other / "Björk")
    scan_folders(library, [music_dir, other])
    assert library.build_search_index() and library.search_index_ready()
    def in_folder(found: set[int], folder: Path) -> set[int]:
        return {t for t in found
                if (track := library.track(t)) and track.path.startswith(f"{folder}/")}

    joga, hunter = _found(library, "joga"), _found(library, "hunter")
    assert len(joga) == len(hunter) == 2  # one in each folder
    # A tag edited by a rescan: the old words leave the index, the new ones come in.
    (tid,) = in_folder(joga, music_dir)
    track = library.track(tid)
    assert track is not None
    row = {f: getattr(track, f) for f in dbmod.TRACK_FIELDS if hasattr(track, f)}
    library.update_tracks([(tid, {**row, "title": "Jóga Remix Ünïcode"})])
    assert _found(library, "joga remix unicode") == {tid} == _found(library, "remix")
    library.update_tracks([(tid, {**row, "title": "Something Else"})])
    assert _found(library, "remix") == set() and _found(library, "something") == {tid}
    assert _found(library, "joga") == in_folder(joga, other)
    # Removing a folder removes its tracks from the index.
    folders.remove_folder(library, other)
    assert _found(library, "joga") == set()
    assert _found(library, "hunter") == in_folder(hunter, music_dir) != set()
    for query in ["andata", "duo", "mix", "various", "aac song", "a", "ja"]:
        assert _found(library, query) == _scanned(library, query), query
    library.db.conn.execute("INSERT INTO tracks_fts(tracks_fts) VALUES ('integrity-check')")


def test_a_big_library_is_indexed_in_the_background_and_resumes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "library.db"
    rows = [_track(i, f"{TITLES[i % len(TITLES)]} {i}") for i in range(60)]
    _library_before_the_index(path, monkeypatch, rows)
    monkeypatch.setattr(dbmod, "SEARCH_INDEX_INLINE_TRACKS", 10)  # "big": more than that
    lib = Library(path)  # the migration creates the index, empty: the start is not held
    assert lib.schema_version == 9
    assert lib.search_index_built_upto() == 0 and not lib.search_index_ready()
    assert lib.search_ids("night") is None  # not ready: the caller scans instead
    ids = sorted(r[0] for r in lib.db.conn.execute("SELECT id FROM tracks"))

    # Stopped after two chunks (as when the app quits), with changes meanwhile...
    cancel = threading.Event()
    chunks = 0
    real = lib.transaction

    def counting_transaction():
        nonlocal chunks
        chunks += 1
        if chunks >= 2:  # the second chunk is the last
            cancel.set()
        return real()

    monkeypatch.setattr(lib, "transaction", counting_transaction)
    assert lib.build_search_index(cancel, chunk=7) is False
    monkeypatch.undo()
    built = lib.search_index_built_upto()
    assert built == ids[13]  # two chunks of 7 tracks
    early, late = ids[3], ids[40]  # one indexed already, one not yet
    row = lib.track(early)
    assert row is not None
    lib.update_tracks([(early, {**_track(3, "Quokka Early"), "path": row.path})])
    lib.update_tracks([(late, {**_track(40, "Quokka Late"), "path": f"/m/{40:04d}.flac"})])
    lib.db.conn.execute("DELETE FROM tracks WHERE id = ?", (ids[5],))
    lib.add_tracks([_track(999, "Quokka New")])
    lib.close()

    # ... and resumed by the next run (a new process), to the end.
    lib = Library(path)
    assert not _has_index(lib, "tracks_present_browse")
    assert lib.build_search_index(chunk=7) is True
    assert lib.search_index_ready()
    # With it, the whole library's list in the browser's order is read from an index alone.
    assert _has_index(lib, "tracks_present_browse")
    assert lib.browse_order().tolist() == lib.browse_track_ids(TrackFilter())
    assert _found(lib, "quokka") == _ids_of(lib, ["Quokka Early", "Quokka Late", "Quokka New"])
    for query in QUERIES:
        assert _found(lib, query) == _scanned(lib, query), query
    lib.db.conn.execute("INSERT INTO tracks_fts(tracks_fts) VALUES ('integrity-check')")
    # Complete: new tracks wait for the builder (the app runs it when a scan ends).
    lib.add_tracks([_track(1000, "Wombat")])
    assert lib.build_search_index() is True
    assert _found(lib, "wombat") == _ids_of(lib, ["Wombat"])
    lib.close()


def test_a_small_library_is_indexed_by_the_migration(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "library.db"
    _library_before_the_index(path, monkeypatch, [_track(i, t) for i, t in enumerate(TITLES)])
    lib = Library(path)
    assert lib.search_index_built_upto() == SEARCH_INDEX_COMPLETE
    assert _found(lib, "gods") == _ids_of(lib, ["God's Own"])
    lib.close()


def test_without_the_trigram_tokenizer_the_library_opens_and_searches_by_scanning(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbmod, "trigram_available", lambda: False)
    lib = Library(tmp_path / "library.db")
    assert lib.schema_version == 9
    lib.add_tracks([_track(i, t) for i, t in enumerate(TITLES)])
    assert lib.search_index_built_upto() is None
    assert lib.search_ids("gods") is None
    assert lib.build_search_index() is False
    assert lib.browse_track_ids(TrackFilter(text="gods")) == sorted(_ids_of(lib, ["God's Own"]))
    with pytest.raises(sqlite3.OperationalError):
        lib.db.conn.execute("SELECT * FROM tracks_fts")
    lib.close()


def test_id_arrays_are_parsed_in_pieces() -> None:
    text = ",".join(str(i * 7) for i in range(5000))
    assert dbmod.id_array(text, piece=100).tolist() == [i * 7 for i in range(5000)]
    assert dbmod.id_array(None).tolist() == [] and dbmod.id_array("").tolist() == []
