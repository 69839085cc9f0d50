"""Tag-reading workers run no code from the folder a scan starts in, and never outnumber the
cores; the walk reads each folder once, however many symlinks lead to it."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from player.library import scanner as scanner_mod
from player.library import tagworkers
from player.library.tagworkers import WorkerPool

CHECKOUT = Path(__file__).resolve().parents[2]


def hostile_folder(folder: Path, marker: Path) -> Path:
    """A folder holding a ``mutagen.py`` that leaves ``marker`` behind when imported."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "mutagen.py").write_text(
        f"import pathlib\npathlib.Path({str(marker)!r}).write_text('code from the cwd ran')\n")
    return folder


def test_segue_scan_in_a_hostile_folder_runs_none_of_its_code(tmp_path: Path) -> None:
    """The attack as reported: ``segue scan`` started in a folder holding ``mutagen.py``,
    300 files to read, two workers."""
    marker = tmp_path / "pwned"
    cwd = hostile_folder(tmp_path / "downloads", marker)
    music = tmp_path / "music"
    music.mkdir()
    for i in range(scanner_mod.PARALLEL_THRESHOLD):
        (music / f"{i:03}.mp3").write_bytes(b"not really an mp3 " * 4)
    # -P: the parent itself does not import from the cwd (as the installed `segue` script).
    proc = subprocess.run(
        [sys.executable, "-P", "-m", "player", "--data-dir", str(tmp_path / "data"), "scan",
         "--workers", "2", "--json", str(music)],
        cwd=cwd, env={**os.environ, "PYTHONPATH": str(CHECKOUT)},
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert not marker.exists(), "a worker imported mutagen.py from the current folder"
    assert len(json.loads(proc.stdout)["failed"]) == scanner_mod.PARALLEL_THRESHOLD
    assert "worker" not in proc.stderr  # the workers served every batch; none fell back


POOL_SCRIPT = r"""
import json, os, sys, threading
sys.path.insert(0, sys.argv[1])  # Segue installed in a folder that is not the checkout
os.chdir(sys.argv[2])            # the hostile folder
import player
from player.library.tagworkers import WorkerPool
pool = WorkerPool(2, parent_reads=False)  # the workers alone: they must serve every batch
batches = [[p] for p in json.loads(sys.argv[3])]
results = list(pool.run(batches, threading.Event()))
print(json.dumps({"package": player.__file__, "read_here": pool.read_here,
                  "ok": sum(row is not None for _, row, _ in results), "n": len(results)}))
"""


def test_workers_of_an_installed_segue_ignore_the_cwd(tmp_path: Path,
                                                      good_paths: list[Path]) -> None:
    """Segue installed elsewhere (as from a wheel: not the checkout, no PYTHONPATH), run in
    isolated mode from a hostile folder: the workers still find Segue, and only Segue."""
    site = tmp_path / "site-packages"
    shutil.copytree(CHECKOUT / "player", site / "player",
                    ignore=shutil.ignore_patterns("__pycache__"))
    marker = tmp_path / "pwned"
    cwd = hostile_folder(tmp_path / "cwd", marker)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    proc = subprocess.run(
        [sys.executable, "-I", "-c", POOL_SCRIPT, str(site), str(cwd),
         json.dumps([str(p) for p in good_paths])],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["package"].startswith(str(site))
    assert not marker.exists()
    assert out["read_here"] == 0  # the workers read every batch
    assert out["n"] == out["ok"] == len(good_paths)


def test_worker_import_path_leaves_out_the_current_folder(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "path", ["", ".", "relative/dir", str(cwd), *sys.path])
    path = tagworkers.worker_import_path()
    assert tagworkers.PACKAGE_ROOT in path
    assert all(os.path.isabs(p) and os.path.realpath(p) != str(cwd.resolve()) for p in path)
    command = tagworkers.worker_command()
    assert command[0] == sys.executable and "-I" in command and command[-2] == "-c"


def test_no_more_workers_than_cores_or_batches(good_paths: list[Path],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """``--workers 40`` for 5 batches started 40 processes."""
    import threading

    started: list[subprocess.Popen] = []
    real_start = WorkerPool._start

    def start_and_count(self):
        proc = real_start(self)
        started.append(proc)
        return proc

    monkeypatch.setattr(WorkerPool, "_start", start_and_count)
    batches = [[str(p)] for p in good_paths[:5]]
    results = list(WorkerPool(40).run(batches, threading.Event()))
    assert len(results) == 5
    assert 1 <= len(started) <= min(tagworkers.usable_cores(), 5)
    started.clear()
    list(WorkerPool(40).run(batches[:1], threading.Event()))
    assert len(started) == 1


# -- the walk ----------------------------------------------------------------------------------

def link_ladder(root: Path, levels: int, audio: Path) -> Path:
    """``levels`` folders, each with an audio file and two symlinks to the next level: no
    loop anywhere, but 2**levels paths to the last one."""
    for i in range(levels + 1):
        level = root / f"level{i:02}"
        level.mkdir(parents=True)
        shutil.copy(audio, level / f"song{i:02}{audio.suffix}")
        if i < levels:
            for name in ("a", "b"):
                os.symlink(f"../level{i + 1:02}", level / name)
    return root / "level00"


def test_the_walk_reads_each_folder_once(tmp_path: Path, good_paths: list[Path]) -> None:
    top = link_ladder(tmp_path / "ladder", 30, good_paths[1])
    errors: dict = {}
    # Bounded, so that the old walk (2**30 paths) fails here instead of running for ever.
    found = list(itertools.islice(scanner_mod._iter_audio_files(str(top), errors), 10_000))
    identities = [(st.st_dev, st.st_ino) for _, st in found]
    assert len(identities) == len(set(identities)) == 31
    assert errors == {}


@pytest.mark.slow
def test_segue_scan_of_a_link_ladder_finishes(tmp_path: Path, good_paths: list[Path]) -> None:
    top = link_ladder(tmp_path / "ladder", 30, good_paths[1])
    proc = subprocess.run(
        [sys.executable, "-m", "player", "--data-dir", str(tmp_path / "data"), "scan",
         "--json", str(top)],
        capture_output=True, text=True, timeout=300)  # a guard against the old hang only
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert out["added"] == 31 and out["failed"] == []
