"""The bulk reads as typed rows against dicts: ``python -m bench rows``.

``Library.queueable_tracks()`` is read whole for every auto-queue pick, ``all_track_meta()``
for every import; both return small frozen dataclasses (``QueueableTrack``, ``TrackMeta``).
Measured on a library of N tracks against the same queries made into dicts by sqlite-utils
(what they returned before) and into the full ``Track`` rows, in the same run; CPU seconds
(the machine may be shared), best of a few rounds.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

QUEUEABLE = ("SELECT id, title, artist, album, albumartist, genre, duration_ms FROM tracks "
             "WHERE missing = 0 AND no_autoqueue = 0 AND play_error IS NULL")
META = ("SELECT id, path, title, artist, album, albumartist, genre, duration_ms, missing "
        "FROM tracks")


def _best_cpu_ms(fn: Any, rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        start = time.process_time()
        out = fn()
        best = min(best, time.process_time() - start)
        del out
    return round(best * 1000, 1)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench rows")
    parser.add_argument("--tracks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    from player.library.db import Library, Track

    n = args.tracks
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library.open(Path(tmp))
        try:
            for start in range(0, n, 10_000):
                end = min(n, start + 10_000)
                lib.add_tracks([{
                    "path": f"/music/{i // 1000}/{i}.mp3", "mtime": 1.0, "size": 1,
                    "title": f"Song {i}", "artist": f"Artist {i % 5000}",
                    "album": f"Album {i // 12}",
                    "albumartist": None if i % 3 else f"Artist {i % 5000}",
                    "genre": ("Rock", "Pop; Dance", "Jazz")[i % 3],
                    "duration_ms": 180_000 + i % 1000} for i in range(start, end)])
            rounds = args.rounds
            figures: dict[str, Any] = {"tracks": n, "clock": "CPU ms, best of %d" % rounds}
            figures["queueable_dicts_ms"] = _best_cpu_ms(
                lambda: list(lib.db.query(QUEUEABLE)), rounds)
            figures["queueable_typed_ms"] = _best_cpu_ms(lib.queueable_tracks, rounds)
            figures["queueable_full_track_ms"] = _best_cpu_ms(
                lambda: [Track.from_row(r) for r in lib.db.query(
                    "SELECT * FROM tracks WHERE missing = 0 AND no_autoqueue = 0 "
                    "AND play_error IS NULL")], rounds)
            figures["meta_dicts_ms"] = _best_cpu_ms(lambda: list(lib.db.query(META)), rounds)
            figures["meta_typed_ms"] = _best_cpu_ms(lib.all_track_meta, rounds)
        finally:
            lib.close()
    figures["queueable_typed_ratio"] = round(
        figures["queueable_typed_ms"] / figures["queueable_dicts_ms"], 2)
    figures["queueable_full_track_ratio"] = round(
        figures["queueable_full_track_ms"] / figures["queueable_dicts_ms"], 2)
    figures["meta_typed_ratio"] = round(figures["meta_typed_ms"] / figures["meta_dicts_ms"], 2)
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(main(), indent=2))
