"""Playlists, the queue's row and folder removal at library scale: ``python -m bench lists``.

A real library file of N tracks (half in each of two music folders) and 5 N listens; measured:
storing and reading a 1,000-song queue (it is written a second after each edit), reading and
rewriting (reordered) a 5,000-song playlist (a drag in the sidebar does that), and removing
one folder (half the tracks) while keeping its listens. No target was set for these; the
figures say what a user's edit costs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench lists")
    parser.add_argument("--tracks", type=int, default=20_000)
    args = parser.parse_args(argv)
    from player.library import folders
    from player.library.db import Library
    from player.library.playlists import PlaylistStore

    n = args.tracks
    with tempfile.TemporaryDirectory() as tmp:
        lib = Library.open(Path(tmp))
        try:
            lib.add_root("/music/a")
            lib.add_root("/music/b")
            lib.add_tracks([{"path": f"/music/{'ab'[i % 2]}/{i}.mp3", "mtime": 1, "size": 1,
                             "title": f"T{i}", "artist": f"A{i % 300}", "album": f"B{i % 900}",
                             "duration_ms": 200_000} for i in range(n)])
            ids = [r[0] for r in lib.db.conn.execute("SELECT id FROM tracks")]
            with lib.transaction() as db:
                db.conn.executemany(
                    "INSERT INTO listens(track_id, started_at, ended_at, played_ms, skipped, "
                    "source, session_id) VALUES (?, ?, ?, 190000, 0, 'user', 1)",
                    [(ids[i % n], 1e9 + i * 200, 1e9 + i * 200 + 190) for i in range(5 * n)])
            store = PlaylistStore(lib)

            def timed(fn: Any) -> tuple[float, Any]:
                start = time.perf_counter()
                out = fn()
                return (time.perf_counter() - start) * 1000, out

            save_ms, _ = timed(lambda: store.save_queue(ids[:1000]))
            load_ms, _ = timed(store.load_queue)
            pid = store.create("big", ids[:5000])
            read_ms, entries = timed(lambda: store.entries(pid))
            rewrite_ms, _ = timed(lambda: store.set_entries(pid, entries[::-1]))
            remove_ms, removed = timed(lambda: folders.remove_folder(lib, "/music/a"))
            assert lib.listen_count() == 5 * n  # the history is whole
        finally:
            lib.close()
    return {"tracks": n, "listens": 5 * n,
            "save_queue_1000_ms": round(save_ms, 1), "load_queue_ms": round(load_ms, 1),
            "read_playlist_5000_ms": round(read_ms, 1),
            "rewrite_playlist_5000_ms": round(rewrite_ms, 1),
            "remove_folder_s": round(remove_ms / 1000, 2),
            "tracks_removed": removed.tracks_removed, "listens_kept": removed.listens_kept}


if __name__ == "__main__":
    print(main())
