"""The scanner on a real generated library: first scan, rescans, moves, deletions, errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from player.audiogen import TrackSpec, make_library
from player.library import scanner as scanner_mod
from player.library import tagworkers
from player.library.db import Library
from player.library.scanner import Scanner, ScanProgress, scan_folders
from tests.conftest import GOOD_TRACKS, shared_path, without_root_powers

N_GOOD = len(GOOD_TRACKS)


def add_broken_files(music: Path, good_mp3: Path) -> dict[str, str]:
    """Every kind of bad entry a real music folder holds; returns name -> expected reason."""
    broken = music / "broken"
    broken.mkdir()
    (broken / "empty.mp3").write_bytes(b"")
    (broken / "notes.mp3").write_text("not music at all\n" * 50)
    flac = next(music.rglob("*.flac"))
    (broken / "truncated.flac").write_bytes(flac.read_bytes()[:60])
    os.symlink("nowhere.mp3", broken / "dangling.mp3")
    os.symlink("..", broken / "loop")  # broken/loop -> music: a cycle
    os.mkfifo(broken / "pipe.mp3")  # opening it would block for ever
    shutil.copy(good_mp3, broken / ".hidden.mp3")  # hidden: ignored, not an error
    (broken / "cover.jpg").write_bytes(b"\xff\xd8\xff")  # not audio by name: ignored
    # a name holding the code points that stand for bytes that are not UTF-8 (see
    # player.library.paths): it would read back as another name, so it is refused
    shutil.copy(good_mp3, broken / "reserved \U0010ffe9.mp3")
    return {
        "empty.mp3": "empty file",
        "notes.mp3": "audio",
        "truncated.flac": "truncated",
        "dangling.mp3": "broken symbolic link",
        "loop": "loop",
        "pipe.mp3": "not a regular file",
        "reserved \U0010ffe9.mp3": "private-use",
    }


def rows(library: Library) -> dict[str, dict]:
    return {r["path"]: r for r in library.db.query("SELECT * FROM tracks")}


def test_first_scan_reads_everything(library: Library, music_dir: Path, good_paths) -> None:
    expected_errors = add_broken_files(music_dir, good_paths[1])
    events: list[ScanProgress] = []
    result = scan_folders(library, [music_dir], progress=events.append)

    assert result.added == N_GOOD and not result.cancelled
    assert (result.updated, result.unchanged, result.missing) == (0, 0, 0)
    tracks = rows(library)
    assert set(tracks) == {str(p) for p in good_paths}
    joga = tracks[str(music_dir / "Björk/Homogenic/01 Jóga.flac")]
    assert (joga["title"], joga["artist"], joga["year"], joga["has_cover"]) == (
        "Jóga", "Björk", 1997, 1)
    assert joga["size"] == os.path.getsize(joga["path"]) and joga["missing"] == 0

    failed = {os.path.basename(p): reason for p, reason in result.failed}
    assert set(failed) == set(expected_errors)
    for name, words in expected_errors.items():
        assert words in failed[name], (name, failed[name])
    stored = {os.path.basename(e.path): e.reason for e in library.scan_errors()}
    assert stored == failed
    assert events[-1].phase == "done" and events[-1].read == events[-1].to_read


def test_rescan_reads_nothing_unchanged(library: Library, music_dir: Path, good_paths) -> None:
    add_broken_files(music_dir, good_paths[1])
    scan_folders(library, [music_dir])
    before = rows(library)
    events: list[ScanProgress] = []
    result = Scanner(library).scan(progress=events.append)
    assert (result.added, result.updated, result.unchanged) == (0, 0, N_GOOD)
    assert events[-1].to_read == 0  # nothing re-read, not even the broken files
    assert len(result.failed) == 7  # still reported
    assert rows(library) == before


def test_changed_file_is_reread_and_keeps_its_id(library: Library, music_dir: Path) -> None:
    scan_folders(library, [music_dir])
    path = music_dir / "Björk/Homogenic/02 Hunter.mp3"
    old = library.track_by_path(str(path))
    make_library(music_dir, [("Björk/Homogenic/02 Hunter", "mp3",
                              TrackSpec("Hunter (live)", "Björk", "Homogenic", seconds=2.0))])
    result = Scanner(library).scan()
    assert (result.updated, result.added, result.unchanged) == (1, 0, N_GOOD - 1)
    new = library.track_by_path(str(path))
    assert new.id == old.id and new.title == "Hunter (live)"
    assert new.added_at == old.added_at


def _add_listen(library: Library, track_id: int) -> None:
    with library.transaction() as db:
        db.conn.execute(
            "INSERT INTO listens(track_id, started_at, ended_at, played_ms, skipped, source) "
            "VALUES (?, 1, 2, 1000, 0, 'user')", (track_id,))


def test_moved_and_renamed_files_keep_their_id(library: Library, music_dir: Path) -> None:
    scan_folders(library, [music_dir])
    src = music_dir / "坂本龍一/async/andata.ogg"
    old = library.track_by_path(str(src))
    _add_listen(library, old.id)
    dest = music_dir / "Sakamoto" / "renamed andata.ogg"
    dest.parent.mkdir()
    os.rename(src, dest)
    result = Scanner(library).scan()
    assert (result.moved, result.added, result.missing) == (1, 0, 0)
    moved = library.track_by_path(str(dest))
    assert moved.id == old.id and moved.missing == 0
    assert library.track_by_path(str(src)) is None
    assert library.db.conn.execute(
        "SELECT count(*) FROM listens WHERE track_id = ?", (old.id,)).fetchone()[0] == 1


def test_deleted_file_is_missing_and_comes_back(library: Library, music_dir: Path,
                                                tmp_path: Path) -> None:
    scan_folders(library, [music_dir])
    path = music_dir / "loose/aiff song.aiff"
    old = library.track_by_path(str(path))
    _add_listen(library, old.id)
    shutil.move(path, tmp_path / "aside.aiff")
    result = Scanner(library).scan()
    assert result.missing == 1 and result.unchanged == N_GOOD - 1
    gone = library.track(old.id)
    assert gone.missing == 1 and gone.path == str(path)  # kept, not deleted
    assert library.stats()["listens"] == 1
    shutil.move(tmp_path / "aside.aiff", path)
    result = Scanner(library).scan()
    assert result.returned == 1 and result.missing == 0
    assert library.track(old.id).missing == 0


def test_unmounted_root_marks_missing_and_returns_same_ids(
    library: Library, music_dir: Path, tmp_path: Path
) -> None:
    scan_folders(library, [music_dir])
    ids_before = {p: r["id"] for p, r in rows(library).items()}
    os.rename(music_dir, tmp_path / "unplugged")
    result = Scanner(library).scan()
    assert result.missing == N_GOOD
    assert any("not found" in reason for _, reason in result.failed)
    assert all(r["missing"] == 1 for r in rows(library).values())
    os.rename(tmp_path / "unplugged", music_dir)
    result = Scanner(library).scan()
    assert result.returned == N_GOOD and result.failed == []
    assert {p: r["id"] for p, r in rows(library).items()} == ids_before
    assert all(r["missing"] == 0 for r in rows(library).values())


def test_cancel_keeps_committed_rows_and_resumes(
    library: Library, music_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanner_mod, "CHUNK", 2)  # results in several small steps
    monkeypatch.setattr(scanner_mod, "BATCH_ROWS", 1)  # commit each row
    monkeypatch.setattr(scanner_mod, "PROGRESS_INTERVAL", 0)
    cancel = threading.Event()

    def stop_after_three(event: ScanProgress) -> None:
        if event.read >= 3:
            cancel.set()

    result = scan_folders(library, [music_dir], progress=stop_after_three, cancel=cancel)
    assert result.cancelled and 3 <= result.added < N_GOOD
    assert result.missing == 0
    partial = len(rows(library))
    resumed = Scanner(library).scan()
    assert not resumed.cancelled
    assert resumed.unchanged == partial and resumed.added == N_GOOD - partial
    assert len(rows(library)) == N_GOOD


def test_parallel_scan_equals_serial_scan(
    tmp_path: Path, music_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(scanner_mod, "PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr(scanner_mod, "CHUNK", 3)
    results = []
    for workers in (0, 2):
        lib = Library.open(tmp_path / f"data{workers}")
        try:
            res = scan_folders(lib, [music_dir], workers=workers)
            assert res.added == N_GOOD
            results.append({p: {k: v for k, v in r.items() if k not in ("id", "added_at")}
                            for p, r in rows(lib).items()})
        finally:
            lib.close()
    assert results[0] == results[1]


def test_symlinked_folder_is_scanned_once(library: Library, music_dir: Path, tmp_path) -> None:
    outside = tmp_path / "elsewhere"
    shutil.copytree(music_dir / "loose", outside)
    os.symlink(outside, music_dir / "linked")
    os.symlink(outside, music_dir / "linked again")
    result = scan_folders(library, [music_dir])
    assert result.added == N_GOOD + 3  # the three loose tracks, reached twice, added once
    assert result.failed == []


def test_unreadable_folder_and_file(tmp_path: Path, good_paths) -> None:
    music, data = tmp_path / "perm", tmp_path / "perm-data"
    music.mkdir()
    shutil.copy(good_paths[0], music / "ok.flac")
    (music / "locked").mkdir()
    shutil.copy(good_paths[1], music / "locked" / "inside.mp3")
    shutil.copy(good_paths[1], music / "secret.mp3")
    os.chmod(music / "locked", 0o000)
    os.chmod(music / "secret.mp3", 0o000)
    try:
        cmd = [sys.executable, "-m", "player", "--data-dir", str(data), "scan", str(music),
               "--json"]
        proc = subprocess.run(without_root_powers(cmd), capture_output=True, text=True,
                              timeout=120)
    finally:
        os.chmod(music / "locked", 0o755)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["added"] == 1
    reasons = {os.path.basename(f["path"]): f["reason"] for f in out["failed"]}
    assert "permission denied" in reasons["locked"]
    assert "permission denied" in reasons["secret.mp3"]


def test_mutagen_corpus_scans_without_loss(library: Library, tmp_path: Path) -> None:
    """Every real odd file ends up either a track or an error: nothing crashes, nothing lost."""
    corpus = shared_path("corpora", "mutagen-testdata")
    music = tmp_path / "corpus"
    shutil.copytree(corpus, music)
    result = scan_folders(library, [music])
    audio = [p for p in music.iterdir() if scanner_mod._is_audio_name(p.name)]
    stored = set(rows(library))
    failed = {p for p, _ in result.failed}
    assert stored | failed == {str(p) for p in audio}
    assert not stored & failed
    assert result.added > 60 and len(failed) >= 3
    assert library.integrity_check() == "ok"


def test_scan_survives_a_worker_that_dies(music_dir: Path, library: Library,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A tag-reading worker killed mid-scan (out of memory, say): its batch is read again
    and the scan finishes with every file."""
    monkeypatch.setattr(scanner_mod, "PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr(scanner_mod, "CHUNK", 1)
    started: list[subprocess.Popen] = []
    real_start = tagworkers.WorkerPool._start

    def start_and_remember(self):
        proc = real_start(self)
        started.append(proc)
        return proc

    monkeypatch.setattr(tagworkers.WorkerPool, "_start", start_and_remember)

    def kill_one_worker(event: ScanProgress) -> None:
        if event.phase == "read" and event.read == 2 and started[0].poll() is None:
            started[0].kill()

    monkeypatch.setattr(scanner_mod, "PROGRESS_INTERVAL", 0)
    result = scan_folders(library, [music_dir], progress=kill_one_worker, workers=2)
    assert started[0].poll() is not None  # it really died
    assert result.added == N_GOOD and result.failed == []


def test_scan_without_any_worker(music_dir: Path, library: Library,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no worker process can start at all, the scan reads in its own process."""
    monkeypatch.setattr(scanner_mod, "PARALLEL_THRESHOLD", 1)
    monkeypatch.setattr(tagworkers.WorkerPool, "_start", lambda self: None)
    result = scan_folders(library, [music_dir], workers=2)
    assert result.added == N_GOOD and result.failed == []


def test_workers_do_not_rerun_the_parent_program(music_dir: Path, data_dir: Path) -> None:
    """A program fed on stdin (no importable main module) scans in parallel fine: the
    workers are fresh interpreters, not copies of the parent."""
    script = (
        "from player.library import scanner\n"
        "from player.library.db import Library\n"
        "scanner.PARALLEL_THRESHOLD = 1\n"
        f"lib = Library.open({str(data_dir)!r})\n"
        f"res = scanner.scan_folders(lib, [{str(music_dir)!r}], workers=2)\n"
        "print(res.added, len(res.failed))\n"
    )
    proc = subprocess.run([sys.executable, "-"], input=script, capture_output=True, text=True,
                          timeout=120, cwd=os.getcwd())
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split() == [str(N_GOOD), "0"]
    assert "worker" not in proc.stderr  # no worker died, nothing fell back


def test_this_process_reads_while_a_worker_starts(good_paths: list[Path],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that never gets ready (here: one that never says so) takes no batch: this
    process reads them all, and the pool kills the worker at the end instead of waiting."""
    started: list[subprocess.Popen] = []

    def never_ready(self):
        proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        started.append(proc)
        return proc

    monkeypatch.setattr(tagworkers.WorkerPool, "_start", never_ready)
    pool = tagworkers.WorkerPool(1)
    batches = [[str(p)] for p in good_paths]
    results = list(pool.run(batches, threading.Event()))
    assert sorted(p for p, _, _ in results) == sorted(str(p) for p in good_paths)
    assert pool.read_here == len(batches) and pool.read_by_workers == 0
    assert len(started) == 1 and started[0].poll() is not None  # stopped, not left running


def test_a_ready_worker_shares_the_reading(good_paths: list[Path]) -> None:
    pool = tagworkers.WorkerPool(1, parent_reads=False)
    batches = [[str(p)] for p in good_paths]
    results = list(pool.run(batches, threading.Event()))
    assert len(results) == len(good_paths) and all(row for _, row, _ in results)
    assert pool.read_by_workers == len(batches) and pool.read_here == 0


@pytest.mark.parametrize(("cores", "load", "spare"), [(2, 0.2, 1), (2, 1.0, 1), (2, 2.0, 0),
                                                      (2, 8.0, 0), (8, 1.0, 7), (8, 4.0, 4),
                                                      (1, 0.0, 0)])
def test_workers_only_on_spare_cores(monkeypatch: pytest.MonkeyPatch, cores: int, load: float,
                                     spare: int) -> None:
    """By default a scan starts one worker per core nobody else is using, keeping one core
    for itself: on a busy machine, extra processes only share the same CPU time."""
    monkeypatch.setattr(scanner_mod, "usable_cores", lambda: cores)
    monkeypatch.setattr(os, "getloadavg", lambda: (load, load, load))
    assert scanner_mod.spare_cores() == spare


def test_a_file_name_that_is_not_utf8_is_scanned_and_opens(library: Library, tmp_path: Path,
                                                           good_paths) -> None:
    """Latin-1 bytes in a name: stored as text (player.library.paths), opened by its bytes."""
    from player.library.paths import to_fs
    from player.playback.decoder import TrackDecoder

    folder = tmp_path / "latin"
    folder.mkdir()
    name = os.fsencode(folder) + b"/caf\xe9 latin-1.flac"
    flac = next(p for p in good_paths if str(p).endswith(".flac"))
    shutil.copy(flac, name)
    result = scan_folders(library, [folder])
    assert result.added == 1 and result.failed == []
    (row,) = library.db.query("SELECT * FROM tracks")
    assert os.fsencode(to_fs(row["path"])) == name
    assert row["title"]  # its tags were read through the stored name
    again = scan_folders(library, [folder])
    assert (again.added, again.unchanged, again.missing) == (0, 1, 0)
    decoder = TrackDecoder(row["path"])
    try:
        block = decoder.read()
        assert block is not None and len(block) > 0
    finally:
        decoder.close()
