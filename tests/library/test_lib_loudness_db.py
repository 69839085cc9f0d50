"""The loudness side of the library: schema v4, stored measurements, what playback reads."""

from __future__ import annotations

import math
from dataclasses import asdict
import os
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from player.audiogen import TrackSpec, make_library
from player.library import db as dbmod
from player.library.db import AnalysisTask, Library, Measurement
from player.library.scanner import scan_folders


def make_v3_database(path: Path, music: Path | None = None) -> None:
    """A library as schema 3 wrote it: tracks (real files when ``music`` is given), listens."""
    db = sqlite_utils.Database(sqlite3.connect(path, isolation_level=None))
    for migrate in dbmod.MIGRATIONS[:3]:
        migrate(db)
    files = sorted(music.rglob("*.flac")) if music else []
    for i in range(50):
        p = str(files[i]) if i < len(files) else f"/music/{i}.mp3"
        st = os.stat(p) if i < len(files) else None
        db.conn.execute(
            "INSERT INTO tracks(path, mtime, size, title, artist, album, duration_ms, format, "
            "has_cover, added_at, missing, search) VALUES (?, ?, ?, ?, 'A', 'Alb', 1000, "
            "'flac', 0, 2.0, 0, ?)",
            (p, st.st_mtime if st else 1.0, st.st_size if st else 100, f"Song {i}", f"song {i}"))
    for i in range(300):
        db.conn.execute("INSERT INTO listens(track_id, started_at, ended_at, played_ms, skipped, "
                        "source, session_id) VALUES (?, ?, ?, 1000, 0, 'user', 1)",
                        (i % 50 + 1, 1000.0 + i, 1001.0 + i))
    db.conn.execute("PRAGMA user_version = 3")
    db.conn.close()


def test_migration_from_schema_3_keeps_every_row(data_dir: Path) -> None:
    path = data_dir / "library.db"
    make_v3_database(path)
    conn = sqlite3.connect(path)
    before = (conn.execute("SELECT * FROM tracks ORDER BY id").fetchall(),
              conn.execute("SELECT * FROM listens ORDER BY id").fetchall())
    conn.close()
    lib = Library(path)
    try:
        assert lib.schema_version == dbmod.SCHEMA_VERSION >= 4
        assert lib.integrity_check() == "ok"
        rows = lib.db.conn.execute("SELECT * FROM tracks ORDER BY id").fetchall()
        old_width = len(before[0][0])
        # Old columns untouched, but the derived search text (schema 6 refolds it without
        # punctuation: the last of the v3 columns).
        assert [r[:old_width - 1] for r in rows] == [r[:-1] for r in before[0]]
        assert [r[old_width - 1] for r in rows] == [
            dbmod.search_text({"title": r[4], "artist": r[5], "album": r[6],
                               "albumartist": r[7]}) for r in before[0]]
        assert lib.db.conn.execute("SELECT * FROM listens ORDER BY id").fetchall() == before[1]
        assert lib.track(1).rg_track_gain is None
        assert (lib.track(1).artist_key, lib.track(1).album_key) == ("a", "alb")
        assert lib.analysis_remaining() == 50 and lib.tags_outdated() == 50
    finally:
        lib.close()


def test_after_the_upgrade_a_scan_reads_the_replaygain_tags(tmp_path: Path,
                                                             data_dir: Path) -> None:
    music = tmp_path / "music"
    spec = TrackSpec("T", "A", "Alb", gain_tags=(("REPLAYGAIN_TRACK_GAIN", "-7.25 dB"),),
                     seconds=0.3)
    make_library(music, [(f"{i:02d}", "flac", spec) for i in range(3)])
    make_v3_database(data_dir / "library.db", music)
    lib = Library.open(data_dir)
    try:
        lib.add_root(music)
        before = {r.id: (r.mtime, r.size) for r in lib.tracks_by_id([1, 2, 3]).values()}
        result = scan_folders(lib, [], workers=0)
        assert result.updated == 3 and result.added == 0  # re-read in place, same ids
        after = lib.tracks_by_id([1, 2, 3])
        assert {r.rg_track_gain for r in after.values()} == {-7.25}
        assert {i: (r.mtime, r.size) for i, r in after.items()} == before
        assert result.missing == 47 and lib.tags_outdated() == 0  # (invented paths: missing)
        assert scan_folders(lib, [], workers=0).updated == 0  # once only
    finally:
        lib.close()


def _add(lib: Library, n: int, album: str | None = "Alb", folder: str = "/m/a",
         artist: str | None = None, **extra) -> list[int]:
    lib.add_tracks([{"path": f"{folder}/{album}-{i}.flac", "mtime": 1.0, "size": 10 + i,
                     "title": f"t{i}", "album": album, "albumartist": artist, **extra}
                    for i in range(n)])
    return [lib.track_by_path(f"{folder}/{album}-{i}.flac").id for i in range(n)]


def _task(lib: Library, track_id: int) -> AnalysisTask:
    (task,) = [t for t in lib.analysis_todo() if t.track_id == track_id]
    return task


def test_loudness_combines_tags_and_measurements(library: Library) -> None:
    (tid,) = _add(library, 1, rg_track_gain=-3.0, rg_album_peak=0.97)
    info = library.loudness(tid)
    assert (info.tag_track_gain, info.tag_album_peak, info.measured_lufs) == (-3.0, 0.97, None)
    library.save_loudness(_task(library, tid), Measurement(-11.5, 0.8, 120, 3400, 200_000))
    info = library.loudness(tid)
    assert (info.measured_lufs, info.measured_peak) == (-11.5, 0.8)
    assert (info.lead_silence_ms, info.trail_silence_ms, info.duration_ms) == (120, 3400, 200_000)
    assert info.track_gain_db == -3.0  # the tag wins
    assert library.analysis_remaining() == 0
    assert library.loudness(99999) == type(info)()  # unknown track: nothing known


def test_a_changed_file_is_analysed_again(library: Library) -> None:
    (tid,) = _add(library, 1)
    library.save_loudness(_task(library, tid), Measurement(-14.0, 0.9, 0, 0, 1000))
    assert library.analysis_todo() == []
    library.update_tracks([(tid, {**asdict(library.track(tid)), "mtime": 2.0})])
    assert [t.track_id for t in library.analysis_todo()] == [tid]
    assert library.loudness(tid).measured_lufs is None  # stale: not used
    library.save_loudness(_task(library, tid), None, error="cannot decode")
    assert library.analysis_todo() == []  # a failure is not retried until the file changes
    assert library.analysis_errors() == [("/m/a/Alb-0.flac", "cannot decode")]


def test_album_loudness_once_every_track_is_analysed(library: Library) -> None:
    ids = _add(library, 3)
    other_folder = _add(library, 1, folder="/m/b")  # same album name, another folder
    loud = [(-10.0, 0.9), (-16.0, 0.5), (-10.0, 0.95)]
    for tid, (lufs, peak) in zip(ids[:2], loud):
        library.save_loudness(_task(library, tid), Measurement(lufs, peak, 0, 0, 60_000))
    assert library.loudness(ids[0]).album_lufs is None  # the third is not analysed yet
    library.save_loudness(_task(library, ids[2]), Measurement(-10.0, 0.95, 500, 500, 61_000))
    info = library.loudness(ids[1])
    expected = 10 * math.log10((2 * 10 ** -1.0 + 10 ** -1.6) / 3)
    assert info.album_lufs == pytest.approx(expected)
    assert info.album_measured_peak == 0.95
    assert library.loudness(other_folder[0]).album_lufs is None  # not analysed, not mixed in
    assert library.loudness(_add(library, 1, album=None)[0]).album_lufs is None


def test_album_artist_joins_folders(library: Library) -> None:
    a = _add(library, 1, folder="/m/cd1", artist="Björk")
    b = _add(library, 1, folder="/m/cd2", artist="BJORK")
    for tid, lufs in ((a[0], -10.0), (b[0], -20.0)):
        library.save_loudness(_task(library, tid), Measurement(lufs, 0.5, 0, 0, 1000))
    assert library.loudness(a[0]).album_lufs == pytest.approx(
        10 * math.log10((0.1 + 0.01) / 2))


def test_typical_gain_is_the_median(library: Library) -> None:
    assert library.typical_gain_db() is None
    ids = _add(library, 4)
    library.update_tracks([(ids[0], {**asdict(library.track(ids[0])), "rg_track_gain": -2.0})])
    for tid, lufs in zip(ids[1:], (-8.0, -10.0, -30.0)):
        library.save_loudness(_task(library, tid), Measurement(lufs, 0.5, 0, 0, 1000))
    assert library.typical_gain_db() == pytest.approx(-5.0)  # median of -2, -10, -8, +12
