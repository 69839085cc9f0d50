"""The library database file: WAL, schema versions, bad files, several connections."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from player.library.db import SCHEMA_VERSION, Library, LibraryError


def test_new_library_is_wal_and_versioned(data_dir: Path) -> None:
    lib = Library.open(data_dir)
    try:
        assert (data_dir / "library.db").exists()
        assert lib.db.conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert lib.schema_version == SCHEMA_VERSION
        assert {"tracks", "listens", "scan_errors", "roots"} <= set(lib.db.table_names())
        assert lib.integrity_check() == "ok"
    finally:
        lib.close()


def test_reopen_keeps_rows(data_dir: Path) -> None:
    lib = Library.open(data_dir)
    lib.add_root(data_dir / "music")
    lib.close()
    lib = Library.open(data_dir)
    try:
        assert lib.roots() == [str(data_dir / "music")]
        assert lib.add_root(data_dir / "music") is False  # already there
    finally:
        lib.close()


def test_newer_schema_is_refused(data_dir: Path) -> None:
    conn = sqlite3.connect(data_dir / "library.db")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(LibraryError, match="newer Segue"):
        Library.open(data_dir)


def test_garbage_file_gives_a_clear_error(data_dir: Path) -> None:
    (data_dir / "library.db").write_bytes(b"this is not a database" * 100)
    with pytest.raises(LibraryError, match="cannot open the library"):
        Library.open(data_dir)


def test_folder_in_place_of_the_file(data_dir: Path) -> None:
    (data_dir / "library.db").mkdir()
    with pytest.raises(LibraryError, match="is a folder"):
        Library.open(data_dir)


def test_failed_transaction_writes_nothing(library: Library) -> None:
    with pytest.raises(RuntimeError):
        with library.transaction() as db:
            db.conn.execute("INSERT INTO roots(path, added_at) VALUES ('/x', 1)")
            raise RuntimeError("boom")
    assert library.roots() == []


def test_each_thread_has_its_own_connection(library: Library) -> None:
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(50):
                library.add_root(f"/music/{n}/{i}")
        except BaseException as exc:  # noqa: BLE001  # pragma: no cover - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(library.roots()) == 200


def test_finished_threads_do_not_keep_their_connections(library: Library) -> None:
    """A player runs a worker thread per scan, fine-tune and pick for hours: each finished
    thread's connection must close, not wait for the garbage collector."""
    def open_db_files() -> int:
        names = []
        for fd in os.listdir("/proc/self/fd"):
            with contextlib.suppress(OSError):  # the listing's own descriptor is gone already
                names.append(os.readlink(f"/proc/self/fd/{fd}"))
        return sum(name.endswith("library.db") for name in names)

    library.roots()  # this thread's connection
    before = open_db_files()
    for n in range(20):
        t = threading.Thread(target=library.add_root, args=(f"/music/{n}",))
        t.start()
        t.join()
    assert library.open_connections() <= 2  # this thread's, and the last finished one's
    # (+2: SQLite defers closing a descriptor while another connection holds locks on the
    # file - POSIX locks are per process - and reuses it for the next connection.)
    assert open_db_files() <= before + 2
    assert len(library.roots()) == 20


def test_stats(library: Library) -> None:
    library.add_tracks([
        {"path": "/a.mp3", "mtime": 1.0, "size": 1, "title": "A", "artist": "X", "album": "P"},
        {"path": "/b.mp3", "mtime": 1.0, "size": 1, "title": "B", "artist": "x", "album": "p"},
        {"path": "/c.mp3", "mtime": 1.0, "size": 1, "title": "C", "artist": None, "album": None},
    ])
    stats = library.stats()
    assert (stats["tracks"], stats["artists"], stats["albums"], stats["listens"]) == (3, 1, 1, 0)
