"""What checking the library at open costs: ``Library.open`` (with ``PRAGMA quick_check``)
against the same open without the check, on a library of a given size, in the same run.

A file up to ``CHECK_IN_FOREGROUND_BYTES`` is checked before open returns, so its check is
start-up time; a larger one is checked on a thread (open returns at once, the first write
waits). Run: ``python -m bench dbcheck [--tracks N --listens M]``.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from player.library import db as dbmod
from player.library.db import Library


def make_library(data_dir: Path, tracks: int, listens: int, seed: int = 0) -> Path:
    """A library shaped like a real one: tracks with tags, listens with sessions."""
    rng = random.Random(seed)
    lib = Library.open(data_dir)
    try:
        lib.add_tracks([{"path": f"/music/Artist {i % 500}/Album {i % 2000}/{i:06} Track.flac",
                         "mtime": 1.0, "size": 5_000_000, "title": f"Track {i}",
                         "artist": f"Artist {i % 500}", "album": f"Album {i % 2000}",
                         "duration_ms": 200_000} for i in range(tracks)])
        rows = [{"track_id": rng.randrange(1, tracks + 1), "started_at": 1.6e9 + i * 200,
                 "ended_at": 1.6e9 + i * 200 + 180, "played_ms": 180_000, "skipped": 0,
                 "artist": None, "title": None, "import_key": f"k{i}"} for i in range(listens)]
        lib.add_imported_listens(rows, 1800)
    finally:
        lib.close()
    return data_dir / dbmod.DB_FILE


def _open_seconds(path: Path, check: bool, repeats: int) -> float:
    saved = dbmod.CHECK_IN_FOREGROUND_BYTES
    # Without the check: the background path, whose thread is stopped at close.
    dbmod.CHECK_IN_FOREGROUND_BYTES = saved if check else -1
    times = []
    try:
        for _ in range(repeats):
            start = time.perf_counter()
            lib = Library(path)
            times.append(time.perf_counter() - start)
            lib.close()
    finally:
        dbmod.CHECK_IN_FOREGROUND_BYTES = saved
    return statistics.median(times)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench dbcheck")
    parser.add_argument("--tracks", type=int, default=10_000)
    parser.add_argument("--listens", type=int, default=55_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        path = make_library(Path(tmp), args.tracks, args.listens)
        size_mb = path.stat().st_size / 1e6
        checked = _open_seconds(path, True, args.repeats)
        unchecked = _open_seconds(path, False, args.repeats)
    return {"tracks": args.tracks, "listens": args.listens, "file_mb": round(size_mb, 1),
            "open_with_check_ms": round(checked * 1000, 1),
            "open_without_check_ms": round(unchecked * 1000, 1),
            "check_ms": round((checked - unchecked) * 1000, 1),
            "checked_in_foreground": size_mb * 1e6 <= dbmod.CHECK_IN_FOREGROUND_BYTES}


if __name__ == "__main__":
    for key, value in main().items():
        print(f"{key:24} {value}")
