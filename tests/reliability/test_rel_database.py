"""Database safety: migrations keep every row; two processes share one library safely."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from player.history import ListenLog
from player.library import db as dbmod
from player.library.db import SCHEMA_VERSION, Library


def make_v1_database(path: Path) -> None:
    """A library as the previous schema (v1) wrote it, with data in every table."""
    conn = sqlite3.connect(path)
    for statement in dbmod._SCHEMA_V1.split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("INSERT INTO roots(path, added_at) VALUES ('/music', 1.0)")
    for i in range(200):
        conn.execute(
            "INSERT INTO tracks(path, mtime, size, title, artist, album, duration_ms, format, "
            "has_cover, added_at, missing) VALUES (?, 1.0, 100, ?, ?, 'Alb', 180000, 'mp3', 0, "
            "2.0, ?)", (f"/music/{i}.mp3", f"Song {i}", f"Artist {i % 9}", int(i % 50 == 0)))
    for i in range(1000):
        conn.execute(
            "INSERT INTO listens(track_id, started_at, ended_at, played_ms, skipped, source, "
            "session_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (i % 200 + 1, 1000.0 + i * 200, 1000.0 + i * 200 + 180, 180000 - (i % 3) * 90000,
             int(i % 3 == 2), ("user", "auto")[i % 2], i // 10))
    conn.execute("INSERT INTO scan_errors(path, reason, seen_at) VALUES ('/music/x.mp3', 'bad', 3)")
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()


def dump(path: Path, table: str, columns: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT {columns} FROM {table} ORDER BY rowid").fetchall()
    finally:
        conn.close()


def test_migration_from_the_previous_schema_keeps_every_row(data_dir: Path) -> None:
    path = data_dir / "library.db"
    make_v1_database(path)
    track_cols = "id, path, mtime, size, title, artist, album, duration_ms, missing"
    listen_cols = "id, track_id, started_at, ended_at, played_ms, skipped, source, session_id"
    before = {t: dump(path, t, c) for t, c in (("tracks", track_cols), ("listens", listen_cols),
                                               ("roots", "path"), ("scan_errors", "path"))}
    lib = Library(path)
    try:
        assert lib.schema_version == SCHEMA_VERSION
        assert lib.integrity_check() == "ok"
        after = {t: dump(path, t, c) for t, c in (("tracks", track_cols),
                                                  ("listens", listen_cols),
                                                  ("roots", "path"), ("scan_errors", "path"))}
        assert after == before
        assert lib.track(1).no_autoqueue == 0 and lib.track(1).play_error is None
        assert lib.stats()["listens"] == 1000
        # Song 12, 112, 120-129: the search column was filled for the old rows
        assert lib.count_tracks("song 12") == 12
    finally:
        lib.close()


def test_a_failed_migration_changes_nothing(data_dir: Path, monkeypatch) -> None:
    path = data_dir / "library.db"
    make_v1_database(path)

    def broken(db):  # the first statement runs, then the step fails
        db.conn.execute("ALTER TABLE tracks ADD COLUMN no_autoqueue INTEGER")
        raise sqlite3.OperationalError("disk I/O error (simulated)")

    monkeypatch.setattr(dbmod, "MIGRATIONS", [dbmod._migrate_to_1, broken])
    try:
        Library(path)
    except Exception:  # noqa: BLE001 - whatever it raises, the file must stay intact
        pass
    conn = sqlite3.connect(path)
    cols = [r[1] for r in conn.execute("PRAGMA table_info(tracks)")]
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert "no_autoqueue" not in cols  # rolled back whole
    conn.close()
    monkeypatch.undo()
    lib = Library(path)  # and the real migration still succeeds afterwards
    assert lib.schema_version == SCHEMA_VERSION
    lib.close()


WRITER = r"""
import sys, time
from player.library.db import Library
lib = Library.open(sys.argv[1])
for i in range(int(sys.argv[2])):
    lib.add_root(f"/other/{sys.argv[3]}/{i}")
print("done")
"""


def test_two_processes_write_without_locking_errors(data_dir: Path, library: Library,
                                                    tracks_for_log: list[int]) -> None:
    """A CLI process writes while this one (the "GUI") logs listens: nothing lost, no error."""
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(data_dir), "300", str(n)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for n in range(2)]
    log = ListenLog(library)
    written = 0
    while any(p.poll() is None for p in procs) or written < 100:
        log.start(tracks_for_log[written % len(tracks_for_log)], "user", 180_000)
        log.heard(40_000)
        log.finish(completed=False)
        written += 1
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0 and out.strip() == "done", err
        assert "locked" not in err
    assert len(library.roots()) == 600
    assert library.listen_count(closed_only=True) == written


def test_busy_writer_waits_instead_of_failing(data_dir: Path, library: Library) -> None:
    """Another process holding the write lock for a moment only delays our write."""
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sqlite3, sys, time\n"
         f"c = sqlite3.connect({str(data_dir / 'library.db')!r}, isolation_level=None)\n"
         "c.execute('BEGIN IMMEDIATE'); print('locked', flush=True); time.sleep(1.5)\n"
         "c.execute('COMMIT')\n"],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    started = time.monotonic()
    library.add_root("/while/locked")
    waited = time.monotonic() - started
    holder.wait(10)
    assert library.roots() == ["/while/locked"] and waited >= 0.5


def test_migration_to_never_reused_ids_keeps_every_row_and_the_loudness(data_dir: Path) -> None:
    """Schema 7 rebuilds the tracks table (AUTOINCREMENT): rows, indexes and the loudness rows
    that cascade from tracks all stay; ids of removed tracks still mentioned by the history are
    not handed out again."""
    import sqlite_utils

    path = data_dir / "library.db"
    db = sqlite_utils.Database(path)
    for step in dbmod.MIGRATIONS[:6]:
        step(db)
    conn = db.conn
    for i in range(1, 31):
        conn.execute(
            "INSERT INTO tracks(id, path, mtime, size, title, artist, added_at, search) "
            "VALUES (?, ?, 1.0, 100, ?, 'A', 2.0, '')", (i, f"/m/{i}.flac", f"Song {i}"))
        conn.execute("INSERT INTO loudness(track_id, size, mtime, version, analysed_at, "
                     "integrated_lufs, peak) VALUES (?, 100, 1.0, 1, 3.0, -14.0, 0.9)", (i,))
    # Track 40 was removed before the upgrade; a listen still names it.
    conn.execute("INSERT INTO listens(track_id, started_at, source) VALUES (40, 1.0, 'user')")
    conn.execute("PRAGMA user_version = 6")
    conn.commit()
    indexes_before = sorted(r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'tracks'"))
    before = conn.execute("SELECT * FROM tracks ORDER BY id").fetchall()
    conn.close()

    lib = Library(path)
    try:
        conn = lib.db.conn
        assert lib.schema_version == SCHEMA_VERSION
        assert lib.integrity_check() == "ok"
        # Every column kept (later schemas add some after them).
        assert [r[:len(before[0])] for r in conn.execute(
            "SELECT * FROM tracks ORDER BY id")] == before
        assert conn.execute("SELECT count(*) FROM loudness").fetchone()[0] == 30
        assert sorted(r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'tracks'")) == sorted([*indexes_before, "tracks_present_browse"])
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        with lib.transaction():
            conn.execute("DELETE FROM loudness WHERE track_id = 30")
            conn.execute("DELETE FROM tracks WHERE id = 30")
            new_id = conn.execute(
                "INSERT INTO tracks(path, mtime, size, title, added_at, search) "
                "VALUES ('/m/new.flac', 1.0, 1, 'New', 2.0, '')").lastrowid
        assert new_id == 41
    finally:
        lib.close()
