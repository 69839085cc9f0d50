"""A damaged, read-only, locked or full library, and unusable folders: one line saying why, an
exit status that says what kind, never a traceback, and never a write into a damaged file."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from player import cli
from player.library import db as dbmod
from player.library.db import Library, LibraryDamaged
from player.library.scanner import scan_folders
from tests.reliability.conftest import CHECKOUT, assert_one_line_error, run_segue

PAGE = 4096


def filled_library(data_dir: Path, music: Path | None = None, listens: int = 20_000) -> Path:
    """A library with tracks and listens enough for hundreds of pages; closed (no -wal)."""
    lib = Library.open(data_dir)
    try:
        if music is not None:
            scan_folders(lib, [music])
        lib.add_tracks([{"path": f"/m/{i}.mp3", "mtime": 1.0, "size": 1, "title": f"Song {i}",
                         "artist": f"Artist {i % 50}", "album": f"Album {i % 200}",
                         "duration_ms": 180_000} for i in range(3000)])
        ids = [r[0] for r in lib.db.conn.execute("SELECT id FROM tracks")]
        rows = [{"track_id": ids[i % len(ids)], "started_at": 1.6e9 + i * 200,
                 "ended_at": 1.6e9 + i * 200 + 180, "played_ms": 180_000, "skipped": 0,
                 "artist": "A", "title": f"T{i}", "import_key": f"k{i}"} for i in range(listens)]
        lib.add_imported_listens(rows, 1800)
    finally:
        lib.close()
    path = data_dir / "library.db"
    assert not (data_dir / "library.db-wal").exists()
    return path


def damage(path: Path, pages: int = 20, seed: int = 7) -> None:
    """Overwrite ``pages`` random pages in the middle of the file with random bytes."""
    rng = random.Random(seed)
    count = path.stat().st_size // PAGE
    with path.open("r+b") as fh:
        for page in rng.sample(range(2, count), pages):
            fh.seek(page * PAGE)
            fh.write(rng.randbytes(PAGE))


@pytest.fixture
def damaged(data_dir: Path, music_dir: Path) -> Path:
    path = filled_library(data_dir, music_dir)
    damage(path)
    return path


def backups(data_dir: Path) -> list[Path]:
    """The copies of damaged libraries (not their -wal companions)."""
    return sorted(p for p in data_dir.glob("library.db.damaged-*") if not p.name.endswith("-wal"))


# -- 6: a database damaged in the middle --------------------------------------------------------

@pytest.mark.parametrize("command", [["stats"], ["next"], ["scan"], ["train"]])
def test_a_damaged_library_is_refused_with_a_backup(damaged: Path, data_dir: Path,
                                                    command: list[str]) -> None:
    before = damaged.read_bytes()
    proc = run_segue("--data-dir", data_dir, *command)
    line = assert_one_line_error(proc, 1, "damaged", "will not write")
    (backup,) = backups(data_dir)
    assert str(backup) in line
    assert backup.read_bytes() == before  # the damaged file as it was, before any repair
    assert damaged.read_bytes() == before  # and not a byte written into it


def test_scan_and_import_write_nothing_into_a_damaged_library(damaged: Path, data_dir: Path,
                                                              music_dir: Path,
                                                              tmp_path: Path) -> None:
    before = damaged.read_bytes()
    history = tmp_path / "StreamingHistory0.json"
    history.write_text(json.dumps([{"endTime": "2023-01-01 10:00", "artistName": "A",
                                    "trackName": "B", "msPlayed": 200_000}]))
    for command in (["scan", music_dir], ["import", history]):
        assert_one_line_error(run_segue("--data-dir", data_dir, *command), 1, "damaged")
    assert damaged.read_bytes() == before
    assert len(backups(data_dir)) == 1  # the same damage is copied once


def test_a_big_library_is_checked_in_the_background_and_never_written_if_damaged(
        damaged: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dbmod, "CHECK_IN_FOREGROUND_BYTES", 0)
    before = damaged.read_bytes()
    lib = Library(damaged)  # opens at once: the check runs on a thread
    try:
        with pytest.raises(LibraryDamaged) as caught:
            lib.add_root("/new/folder")  # the first write waits for the verdict
    finally:
        lib.close()
    assert caught.value.backup is not None and caught.value.backup.exists()
    assert damaged.read_bytes() == before


def test_a_sound_big_library_opens_and_writes(data_dir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    path = filled_library(data_dir, listens=100)
    monkeypatch.setattr(dbmod, "CHECK_IN_FOREGROUND_BYTES", 0)
    lib = Library(path)
    try:
        lib.add_root("/new/folder")
        assert "/new/folder" in lib.roots()
    finally:
        lib.close()
    assert backups(data_dir) == []


def test_the_gui_refuses_a_damaged_library_in_one_line(damaged: Path, data_dir: Path) -> None:
    line = gui_error(data_dir)
    assert "damaged" in line and "library.db.damaged-" in line


def damage_table(path: Path, table: str, seed: int = 3) -> None:
    """Garble the pages of one table only (the window never reads ``scan_errors``)."""
    conn = sqlite3.connect(path)
    try:
        pages = [n for (n,) in conn.execute("SELECT pageno FROM dbstat WHERE name = ?",
                                            (table,))]
    finally:
        conn.close()
    rng = random.Random(seed)
    with path.open("r+b") as fh:
        for page in pages[1:]:
            fh.seek((page - 1) * PAGE)
            fh.write(rng.randbytes(PAGE))


def big_app(data_dir: Path, monkeypatch: pytest.MonkeyPatch, qtbot):
    """The app on a library checked in the background (as one over 32 MB would be)."""
    from player.app import SegueApp
    from player.playback.null import NullBackend

    monkeypatch.setattr(dbmod, "CHECK_IN_FOREGROUND_BYTES", 0)
    app = SegueApp(data_dir, backend_factory=lambda: NullBackend(realtime=True),
                   enable_mpris=False)
    qtbot.addWidget(app.window)
    app.window.show()
    return app


def test_the_window_closes_on_a_big_library_found_damaged(data_dir: Path,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          qtbot) -> None:
    """The verdict on a big library comes after the window opened: a dialog, and the window
    closes once it is read; nothing was written."""
    path = filled_library(data_dir, listens=100)
    lib = Library(path)
    lib.record_scan_errors([(f"/m/bad{i}.mp3", "garbled " * 20, 1, 1.0) for i in range(3000)])
    lib.close()
    damage_table(path, "scan_errors")
    before = path.read_bytes()
    app = big_app(data_dir, monkeypatch, qtbot)
    try:
        qtbot.waitUntil(lambda: app.damage_box is not None and app.damage_box.isVisible(),
                        timeout=60_000)
        assert "damaged" in app.damage_box.text() and ".damaged-" in app.damage_box.text()
        app.damage_box.accept()
        qtbot.waitUntil(lambda: not app.window.isVisible(), timeout=10_000)
    finally:
        app.shutdown()
    assert path.read_bytes() == before
    assert len(backups(data_dir)) == 1


def test_damage_met_by_the_first_read_of_a_big_library(damaged: Path, data_dir: Path,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       qtbot) -> None:
    """Before its check is done, the window's first read (the track list's, on its query
    thread) meets the damage: the same one-line refusal, with the copy made, in the status
    bar; then the check's verdict closes the window (nothing is written meanwhile)."""
    app = big_app(data_dir, monkeypatch, qtbot)
    try:
        model = app.window.model
        qtbot.waitUntil(lambda: model.last_error is not None, timeout=30_000)
        error = model.last_error
        assert isinstance(error, LibraryDamaged) and error.backup is not None
        assert error.backup.exists() and "will not write" in str(error)
        assert "will not write" in app.window.statusBar().currentMessage()
        qtbot.waitUntil(lambda: app.damage_box is not None, timeout=30_000)
        assert "will not write" in app.damage_box.text()
    finally:
        app.shutdown()


def gui_error(data_dir: Path) -> str:
    """Start the window on ``data_dir``; return its one-line error (then close the dialog)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SEGUE_BACKEND": "null"}
    proc = subprocess.Popen([sys.executable, "-m", "player", "--data-dir", str(data_dir)],
                            env=env, cwd=CHECKOUT, stderr=subprocess.PIPE, text=True)
    try:
        lines = []
        for line in proc.stderr:  # the dialog waits for a click: read the line first
            lines.append(line)
            if line.startswith("segue:") or "Traceback" in line:
                break
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(30)
        proc.stderr.close()
    assert lines and lines[-1].startswith("segue:"), "".join(lines)[-3000:]
    return lines[-1].strip()


# -- 8: one-line errors ---------------------------------------------------------------------------

def test_a_read_only_library(data_dir: Path, music_dir: Path) -> None:
    path = filled_library(data_dir, listens=10)
    path.chmod(0o444)
    proc = run_segue("--data-dir", data_dir, "scan", music_dir, unprivileged=True)
    assert_one_line_error(proc, 1, "read-only")


def test_a_read_only_data_folder(data_dir: Path, music_dir: Path) -> None:
    filled_library(data_dir, listens=10)
    data_dir.chmod(0o500)
    try:
        proc = run_segue("--data-dir", data_dir, "scan", music_dir, unprivileged=True)
    finally:
        data_dir.chmod(0o700)
    assert_one_line_error(proc, 1, "read-only")


LOCK_HOLDER = r"""
import sqlite3, sys, time
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.read()  # holds the write lock until told
"""


def test_a_lock_held_longer_than_the_busy_timeout(data_dir: Path, music_dir: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture) -> None:
    """Another process holds the write lock for ever; the CLI (in this process, with a short
    timeout standing in for 30 s) says the library is busy, exit status 3."""
    filled_library(data_dir, listens=10)
    monkeypatch.setattr(dbmod, "BUSY_TIMEOUT_S", 0.3)
    holder = subprocess.Popen([sys.executable, "-c", LOCK_HOLDER, str(data_dir / "library.db")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        status = cli.main(["--data-dir", str(data_dir), "scan", str(music_dir)])
    finally:
        holder.communicate("", timeout=30)
    err = capsys.readouterr().err
    assert status == cli.EXIT_BUSY, err
    assert err.count("\n") == 1 and "busy" in err and "Traceback" not in err


def test_model_file_that_is_a_folder_is_refused_before_training(data_dir: Path) -> None:
    Library.open(data_dir).close()
    (data_dir / "model.pt").mkdir()
    # No listens at all: a check after the training would say "not enough" first.
    proc = run_segue("--data-dir", data_dir, "train", "--fresh")
    assert_one_line_error(proc, 1, "model.pt is not a file")


@pytest.mark.parametrize("kind", ["file", "read-only"])
def test_install_desktop_into_an_unusable_prefix(tmp_path: Path, kind: str) -> None:
    prefix = tmp_path / "prefix"
    if kind == "file":
        prefix.write_text("not a folder")
    else:
        prefix.mkdir(mode=0o500)
    proc = run_segue("install-desktop", "--prefix", prefix, unprivileged=True,
                     env={**os.environ, "XDG_DATA_HOME": str(tmp_path / "xdg")})
    assert_one_line_error(proc, 1, "cannot install", str(prefix))


@pytest.mark.parametrize("kind", ["file", "read-only"])
def test_the_gui_on_an_unusable_data_folder(tmp_path: Path, kind: str) -> None:
    data = tmp_path / "data"
    if kind == "file":
        data.write_text("not a folder")
        line = gui_error(data)
    else:
        data.mkdir(mode=0o500)
        env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
        proc = subprocess.Popen(
            _unprivileged([sys.executable, "-m", "player", "--data-dir", str(data)]),
            env=env, cwd=CHECKOUT, stderr=subprocess.PIPE, text=True)
        try:
            line = next(line for line in proc.stderr if line.startswith(("segue:", "Trace")))
        finally:
            proc.kill()
            proc.wait(30)
            proc.stderr.close()
    assert line.startswith("segue: cannot use the data folder"), line
    assert ("file" if kind == "file" else "permission denied") in line


def _unprivileged(cmd: list[str]) -> list[str]:
    from tests.conftest import without_root_powers

    return without_root_powers(cmd)


# -- a full disk: a real, small tmpfs -----------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path):
    """A 2 MB tmpfs (root only: skipped elsewhere), unmounted afterwards."""
    mount = shutil.which("mount")
    folder = tmp_path / "small-disk"
    folder.mkdir()
    if os.geteuid() != 0 or mount is None:
        pytest.skip("a small tmpfs needs root")
    done = subprocess.run([mount, "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(folder)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, leave: int = 0) -> None:
    """Fill the disk holding ``folder`` up to ``leave`` bytes."""
    with (folder / "filler").open("wb") as fh:
        try:
            while True:
                free = shutil.disk_usage(folder).free - leave
                if free <= 0:
                    break
                fh.write(b"\0" * min(free, 1 << 16))
                fh.flush()
        except OSError:
            pass


def test_disk_full_during_scan_and_import(small_disk: Path, music_dir: Path,
                                          tmp_path: Path) -> None:
    data = small_disk / "data"
    Library.open(data).close()
    fill(small_disk)
    history = tmp_path / "StreamingHistory0.json"
    history.write_text(json.dumps([{"endTime": "2023-01-01 10:00", "artistName": "A",
                                    "trackName": f"B{i}", "msPlayed": 200_000}
                                   for i in range(2000)]))
    for command in (["scan", music_dir], ["import", history]):
        proc = run_segue("--data-dir", data, *command)
        assert_one_line_error(proc, 1, "no space left")
    (small_disk / "filler").unlink()  # space again: nothing was damaged, all goes on
    assert run_segue("--data-dir", data, "scan", music_dir).returncode == 0
    assert run_segue("--data-dir", data, "import", history).returncode == 0
    lib = Library.open(data)
    try:
        assert lib.integrity_check() == "ok" and lib.listen_count() == 2000
    finally:
        lib.close()


@pytest.mark.slow
def test_disk_full_while_saving_a_trained_model(small_disk: Path, tmp_path: Path) -> None:
    data = small_disk / "data"
    lib = Library.open(data)
    try:
        lib.add_tracks([{"path": f"/m/{i}.mp3", "mtime": 1.0, "size": 1, "title": f"S{i}",
                         "artist": f"A{i % 7}", "duration_ms": 180_000} for i in range(60)])
        rows = [{"track_id": 1 + (i * 7) % 60, "started_at": 1.6e9 + i * 200,
                 "ended_at": 1.6e9 + i * 200 + 180, "played_ms": 180_000, "skipped": 0,
                 "artist": None, "title": None, "import_key": f"k{i}"} for i in range(400)]
        lib.add_imported_listens(rows, 1800)
    finally:
        lib.close()
    fill(small_disk, leave=8 * 1024)  # the model does not fit; the library still reads
    proc = run_segue("--data-dir", data, "train", "--fresh", "--json")
    assert_one_line_error(proc, 1, "no space left")
    assert not list(data.glob(".model.pt.*")) and not (data / "model.pt").exists()
