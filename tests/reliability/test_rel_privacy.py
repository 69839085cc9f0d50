"""Privacy and hygiene: the listening log is its owner's only, an empty --data-dir is an
error, counting creates nothing, and a killed model save leaves no litter past the next start."""

from __future__ import annotations

import signal
import stat
import subprocess
import sys
from pathlib import Path

from player.library.db import Library
from player.settings import Settings
from tests.reliability.conftest import CHECKOUT, assert_one_line_error, run_segue


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_a_new_data_folder_is_private(tmp_path: Path, music_dir: Path) -> None:
    data = tmp_path / "new" / "data"
    assert run_segue("--data-dir", data, "scan", music_dir).returncode == 0
    Settings().save(data)
    assert mode(data) == 0o700
    files = [data / name for name in ("library.db", "settings.json")]
    # -wal and -shm exist while a connection is open: open one and look.
    import sqlite3

    conn = sqlite3.connect(data / "library.db")
    try:
        conn.execute("SELECT count(*) FROM tracks").fetchone()
        files += [data / "library.db-wal", data / "library.db-shm"]
        for path in files:
            assert mode(path) == 0o600, path
    finally:
        conn.close()


def test_an_old_world_readable_library_is_made_private(tmp_path: Path, music_dir: Path) -> None:
    data = tmp_path / "data"
    assert run_segue("--data-dir", data, "scan", music_dir).returncode == 0
    data.chmod(0o755)
    for name in ("library.db", "settings.json"):
        (data / name).touch()
        (data / name).chmod(0o644)
    assert run_segue("--data-dir", data, "stats").returncode == 0
    Settings.load(data).save(data)
    assert mode(data) == 0o700
    assert mode(data / "library.db") == 0o600 and mode(data / "settings.json") == 0o600


def test_a_shared_folder_given_as_data_dir_keeps_its_mode(tmp_path: Path) -> None:
    """``--data-dir`` naming a folder that holds other things (home, a sticky /tmp-like
    folder) gets private files, but its own mode is not Segue's to change."""
    for name, folder_mode in (("home", 0o755), ("tmp", 0o1777)):
        folder = tmp_path / name
        folder.mkdir()
        folder.chmod(folder_mode)
        (folder / "someone else's file").touch()
        assert run_segue("--data-dir", folder, "stats").returncode == 0
        Library.open(folder).close()
        assert stat.S_IMODE(folder.stat().st_mode) == folder_mode
        assert mode(folder / "library.db") == 0o600


def test_an_empty_data_dir_is_an_error(tmp_path: Path) -> None:
    for command in (["stats"], ["scan"], []):
        proc = run_segue("--data-dir", "", *command, cwd=tmp_path)
        assert_one_line_error(proc, 2, "--data-dir is empty")
    assert list(tmp_path.iterdir()) == []


def test_stats_creates_no_database(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = run_segue("--data-dir", data, "stats", "--json")
    assert proc.returncode == 0 and '"tracks": 0' in proc.stdout
    assert not data.exists()


STALLED_SAVE = r"""
import sys
from recommender.checkpoint import save_checkpoint

class Stall:  # pickled in the middle of the save: the temp file exists, being written
    def __reduce__(self):
        print("saving", flush=True)
        sys.stdin.read()
        return (int, (0,))

save_checkpoint(sys.argv[1], {"before": list(range(1000)), "stall": Stall()})
"""


def test_a_killed_save_is_cleaned_at_the_next_start(tmp_path: Path, music_dir: Path) -> None:
    """Two real saves stalled mid-write; one is killed. The next start removes its temp file
    at once, and leaves the other (still being written) alone."""
    data = tmp_path / "data"
    assert run_segue("--data-dir", data, "scan", music_dir).returncode == 0
    temps = []
    writers = []
    for _ in range(2):
        writers.append(subprocess.Popen(
            [sys.executable, "-c", STALLED_SAVE, str(data / "model.pt")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=CHECKOUT))
        assert writers[-1].stdout.readline().strip() == "saving"
        temps.append(next(t for t in data.glob(".model.pt.*.tmp") if t not in temps))
    killed, alive = temps
    writers[0].send_signal(signal.SIGKILL)
    writers[0].wait(30)
    try:
        assert run_segue("--data-dir", data, "next").returncode == 0  # a start
        assert not killed.exists()  # at once: its writer is dead
        assert alive.exists()  # a save in progress elsewhere is left alone
    finally:
        writers[1].communicate("", timeout=60)
        for w in writers:
            w.stdout.close()
    assert writers[1].returncode == 0 and (data / "model.pt").exists()
    assert list(data.glob(".model.pt.*")) == []
