"""Kill scenarios: a real child process, ``SIGKILL`` at a random moment, then checks.

Each scenario returns a dict of what it saw and raises ``AssertionError`` when something was
lost or corrupted. The test suite runs a few seeds of each (tests/reliability); this module's
``main`` runs many (``python -m bench kills --kills 120``) for the "0 lost over 100+ kills"
figure.

Scenarios:
* ``first_scan``: kill ``segue scan`` during a first scan; the database is sound, and a new
  scan finishes with exactly the library an uninterrupted scan makes;
* ``rescan``: the same during a rescan after edits, additions, deletions and moves;
* ``playback``: kill a player logging listens (fast silent backend, user skips and auto
  picks); every listen reported closed before the kill is in the database exactly once, and
  the play in progress is recovered at the next start;
* ``training``: kill ``segue train --fresh`` at a random moment; the model file is the old
  one or a new one, whole, and loads;
* ``checkpoint_write``: kill a process that saves the model over and over, so that the kill
  lands inside writes; the file is always one whole checkpoint that loads.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from player.audiogen import TrackSpec, make_library
from player.library.db import Library

ROOT = Path(__file__).resolve().parent.parent


def _env() -> dict[str, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "PYTHONPATH": str(ROOT)}
    return env


def make_music(folder: Path, n: int = 300, seed: int = 0) -> list[Path]:
    """A library of ``n`` short tagged files (MP3 and FLAC)."""
    rng = random.Random(seed)
    specs = []
    for i in range(n):
        fmt = ("mp3", "flac")[i % 2]
        spec = TrackSpec(f"Song {i}", f"Artist {i % 17}", f"Album {i % 31}", None,
                         str(i % 12 + 1), None, "Rock", "2001", seconds=0.3,
                         pitch=200.0 + rng.randrange(8) * 25)
        specs.append((f"A{i % 17}/B{i % 31}/{i:04d} song", fmt, spec))
    return make_library(folder, specs)


def _library_state(data_dir: Path) -> set[tuple[Any, ...]]:
    """What a scan produced, comparable across runs (ids of new rows may differ)."""
    conn = sqlite3.connect(data_dir / "library.db")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = conn.execute(
            "SELECT path, title, artist, album, track_number, size, mtime, duration_ms, "
            "format, missing FROM tracks").fetchall()
    finally:
        conn.close()
    assert len(rows) == len({r[0] for r in rows}), "duplicate paths"
    return set(rows)


def _ids(data_dir: Path) -> dict[str, int]:
    conn = sqlite3.connect(data_dir / "library.db")
    try:
        return dict(conn.execute("SELECT path, id FROM tracks").fetchall())
    finally:
        conn.close()


def _scan_cmd(data_dir: Path, folder: Path | None) -> list[str]:
    cmd = [sys.executable, "-m", "player", "--data-dir", str(data_dir), "scan"]
    return cmd + ([str(folder)] if folder else []) + ["--json", "--workers", "2"]


def _run_and_kill(cmd: list[str], delay: float) -> bool:
    """Start ``cmd``, SIGKILL it after ``delay`` seconds. True if it was still running."""
    proc = subprocess.Popen(cmd, env=_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        proc.wait(delay)
        return False
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole group: its tag-reading workers too
        proc.wait()
        return True


def _complete_scan(data_dir: Path, folder: Path | None = None) -> None:
    subprocess.run(_scan_cmd(data_dir, folder), env=_env(), check=True,
                   capture_output=True, timeout=300)


def first_scan(work: Path, music: Path, reference: set, seed: int,
               duration: float) -> dict[str, Any]:
    """Kill during a first scan, then scan again: the same library as without the kill."""
    rng = random.Random(seed)
    data = work / f"first-{seed}"
    delay = rng.uniform(0.05, duration)
    killed = _run_and_kill(_scan_cmd(data, music), delay)
    if (data / "library.db").exists():
        lib = Library.open(data)  # opens (and migrates) or raises: never corrupt
        assert lib.integrity_check() == "ok"
        lib.close()
    _complete_scan(data, music)
    assert _library_state(data) == reference, "resumed scan differs from an uninterrupted one"
    return {"killed": killed, "delay": round(delay, 3)}


def edit_music(music: Path, seed: int) -> None:
    """Edits, additions, deletions and moves, the same for a given seed."""
    rng = random.Random(seed)
    files = sorted(p for p in music.rglob("*") if p.is_file())
    rng.shuffle(files)
    for p in files[:20]:  # deleted
        p.unlink()
    moved = music / "moved"
    moved.mkdir(exist_ok=True)
    for p in files[20:40]:  # moved and renamed
        p.rename(moved / ("renamed " + p.name))
    for i, p in enumerate(files[40:70]):  # re-tagged
        make_library(p.parent, [(p.stem, "mp3" if p.suffix == ".mp3" else "flac",
                                 TrackSpec(f"Edited {i}", "Editor", "Edits", seconds=0.3))])
    make_music(music / "new", 40, seed=seed + 1)  # added


def rescan(work: Path, scanned_data: Path, reference: set,
           reference_ids: dict[str, int], seed: int, duration: float) -> dict[str, Any]:
    """Kill during a rescan of an edited library, then rescan: same library, same ids."""
    rng = random.Random(seed)
    data = work / f"rescan-{seed}"
    shutil.copytree(scanned_data, data)
    delay = rng.uniform(0.05, duration)
    killed = _run_and_kill(_scan_cmd(data, None), delay)
    _complete_scan(data)
    assert _library_state(data) == reference, "resumed rescan differs from an uninterrupted one"
    ids = _ids(data)
    kept = {p: i for p, i in reference_ids.items() if i <= max(_ids(scanned_data).values())}
    assert {p: ids.get(p) for p in kept} == kept, "a track changed id"
    return {"killed": killed, "delay": round(delay, 3)}


PLAYER = r"""
import random, sys
from pathlib import Path
from PySide6.QtCore import QCoreApplication, QTimer
from player.autoqueue import AutoQueue
from player.engine import Engine
from player.library.db import Library
from player.playback.null import NullBackend
app = QCoreApplication([])
lib = Library.open(sys.argv[1])
rng = random.Random(int(sys.argv[2]))
backend = NullBackend(duration_of=lambda p: 180_000, realtime=True)
backend.set_rate(150.0)  # a 3-minute track in 1.2 s
engine = Engine(lib, backend, AutoQueue(lib, seed=int(sys.argv[2])), background_picks=False)
def logged(track_id):  # announced once written; by then the next listen may be open
    row = next(iter(lib.db.query("SELECT id, played_ms, skipped FROM listens WHERE "
                                 "ended_at IS NOT NULL ORDER BY id DESC LIMIT 1")))
    print(f"closed {row['id']} {row['played_ms']} {row['skipped']}", flush=True)
engine.listenLogged.connect(logged)
def maybe_skip():
    if rng.random() < 0.3:
        engine.next()
skipper = QTimer(); skipper.timeout.connect(maybe_skip); skipper.start(300)
engine.play()
print("started", flush=True)
app.exec()
"""


def playback(work: Path, seed: int, run_for: float = 6.0) -> dict[str, Any]:
    """Kill a player mid-listen: every listen closed before is there once; the open one is
    recovered."""
    rng = random.Random(seed)
    data = work / f"play-{seed}"
    data.mkdir(parents=True)
    lib = Library.open(data)
    files = data / "files"
    files.mkdir()
    rows = []
    for i in range(30):
        path = files / f"{i}.mp3"
        path.write_bytes(b"")
        rows.append({"path": str(path), "mtime": 1.0, "size": 0, "title": f"T{i}",
                     "artist": f"A{i % 7}", "duration_ms": 180_000})
    lib.add_tracks(rows)
    lib.close()
    proc = subprocess.Popen([sys.executable, "-c", PLAYER, str(data), str(seed)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "started", proc.stderr.read()
    time.sleep(rng.uniform(0.3, run_for))
    proc.send_signal(signal.SIGKILL)
    out, _ = proc.communicate()
    closed = {}
    for line in out.splitlines():
        if line.startswith("closed "):
            _, lid, played, skipped = line.split()
            closed[int(lid)] = (int(played), int(skipped))
    conn = sqlite3.connect(data / "library.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = conn.execute("SELECT id, played_ms, skipped, ended_at FROM listens").fetchall()
    conn.close()
    by_id = {r[0]: r for r in rows}
    assert len(by_id) == len(rows)
    for lid, (played, skipped) in closed.items():
        assert lid in by_id, f"listen {lid} lost"
        assert by_id[lid][1:3] == (played, skipped) and by_id[lid][3] is not None
    lib = Library.open(data)
    try:
        from player.history import close_stale_listens

        recovered = close_stale_listens(lib)
        assert lib.open_listens() == [] and lib.listen_count() == len(rows)
    finally:
        lib.close()
    return {"closed_before_kill": len(closed), "recovered": recovered}


def make_model_data(data: Path, plays: int = 3000) -> None:
    """A library of placeholder tracks with an imported history, and a first model."""
    from bench.handsfree import _seed_history
    from player.bridge import train

    lib = Library.open(data)
    try:
        files = data / "files"
        files.mkdir(parents=True, exist_ok=True)
        rows = []
        for i in range(120):
            path = files / f"{i}.mp3"
            path.write_bytes(b"")
            rows.append({"path": str(path), "mtime": 1.0, "size": 0, "title": f"T{i}",
                         "artist": f"A{i % 13}", "duration_ms": 180_000})
        lib.add_tracks(rows)
        _seed_history(lib, plays)
        train(lib, data)
    finally:
        lib.close()


def _model_loads(data: Path) -> bytes:
    """The checkpoint's bytes, after checking that it loads as a whole model."""
    from player.bridge import ModelHolder

    holder = ModelHolder(data)
    assert holder.load() is not None, f"the model does not load: {holder.load_error}"
    return holder.path.read_bytes()


def training(work: Path, model_data: Path, seed: int, duration: float) -> dict[str, Any]:
    """Kill ``segue train --fresh``: the model is the old one or a new one, and loads."""
    rng = random.Random(seed)
    data = work / f"train-{seed}"
    shutil.copytree(model_data, data)
    old = _model_loads(data)
    delay = rng.uniform(0.3, duration)
    killed = _run_and_kill([sys.executable, "-m", "player", "--data-dir", str(data), "train",
                            "--fresh", "--json"], delay)
    new = _model_loads(data)
    return {"killed": killed, "delay": round(delay, 2), "replaced": new != old}


SAVER = r"""
import sys
from player.bridge import ModelHolder
model = ModelHolder(__import__("pathlib").Path(sys.argv[1])).load()
print("ready", flush=True)
n = 0
while True:
    model.metrics["saves"] = n
    model.save(sys.argv[1] + "/model.pt")
    n += 1
"""


def checkpoint_write(work: Path, model_data: Path, seed: int) -> dict[str, Any]:
    """Kill a process in the middle of (repeated) checkpoint writes."""
    rng = random.Random(seed)
    data = work / f"save-{seed}"
    shutil.copytree(model_data, data)
    proc = subprocess.Popen([sys.executable, "-c", SAVER, str(data)], env=_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(rng.uniform(0.05, 1.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    _model_loads(data)
    return {"killed": True}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench kills")
    parser.add_argument("--kills", type=int, default=120, help="kills in all (split evenly)")
    args = parser.parse_args(argv)
    per = max(1, args.kills // 5)
    stats: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        music = work / "music"
        make_music(music)
        ref_data = work / "ref"
        t0 = time.monotonic()
        _complete_scan(ref_data, music)
        duration = time.monotonic() - t0
        reference = _library_state(ref_data)
        stats["first_scan"] = [first_scan(work, music, reference, s, duration) for s in range(per)]
        scanned = work / "scanned"
        shutil.copytree(ref_data, scanned)
        edit_music(music, seed=7)
        ref2 = work / "ref2"
        shutil.copytree(scanned, ref2)
        t0 = time.monotonic()
        _complete_scan(ref2)
        duration2 = time.monotonic() - t0
        reference2, ids2 = _library_state(ref2), _ids(ref2)
        stats["rescan"] = [rescan(work, scanned, reference2, ids2, s, duration2)
                           for s in range(per)]
        stats["playback"] = [playback(work, s) for s in range(per)]
        model_data = work / "model-data"
        make_model_data(model_data)
        t0 = time.monotonic()
        subprocess.run([sys.executable, "-m", "player", "--data-dir", str(model_data), "train",
                        "--fresh", "--json"], env=_env(), check=True, capture_output=True)
        train_s = time.monotonic() - t0
        stats["training"] = [training(work, model_data, s, train_s) for s in range(per)]
        stats["checkpoint_write"] = [checkpoint_write(work, model_data, s) for s in range(per)]
    summary = {
        "kills": sum(sum(1 for r in v if r.get("killed", True)) for v in stats.values()),
        "runs": sum(len(v) for v in stats.values()),
        "listens_checked": sum(r["closed_before_kill"] for r in stats["playback"]),
        "lost_listens": 0,  # any loss raises AssertionError above
        "corrupt_databases": 0,
        "corrupt_checkpoints": 0,
        "per_scenario": {k: len(v) for k, v in stats.items()},
    }
    return summary


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key:20} {value}")
