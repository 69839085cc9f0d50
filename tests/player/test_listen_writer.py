"""The listening log never waits for the database: another process holds SQLite's write lock,
the music goes on, and every listen is written once the lock is released — in order."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from player.autoqueue import AutoQueue, Rules
from player.engine import Engine
from player.library.db import DB_FILE, Library
from player.library.writer import BackgroundWriter
from player.playback.null import NullBackend

LOCKER = r"""
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")  # the write lock, held until told to let go
print("locked", flush=True)
sys.stdin.readline()
conn.execute("ROLLBACK")
"""


@pytest.mark.parametrize("busy_timeout", [30.0, 0.2], ids=["lock-within-timeout",
                                                          "lock-longer-than-timeout"])
def test_listens_wait_in_the_writer_while_another_process_holds_the_lock(
        library: Library, backend: NullBackend, clock, tracks: list[int], data_dir,
        monkeypatch, busy_timeout: float) -> None:
    # With a short busy timeout, SQLite gives up on the lock and the writer retries.
    monkeypatch.setattr("player.library.db.BUSY_TIMEOUT_S", busy_timeout)
    writer = BackgroundWriter(library)
    engine = Engine(library, backend, AutoQueue(library, Rules(exploration=0.0), seed=1,
                                                clock=clock),
                    clock=clock, background_picks=False, writer=writer)
    locker = subprocess.Popen([sys.executable, "-c", LOCKER, str(data_dir / DB_FILE)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout.readline().strip() == "locked"
        engine.play_track(tracks[0])
        backend.advance(180_000)  # played through: the auto pick follows
        second = engine.current.id
        backend.advance(7_000)
        engine.next()  # a skip
        third = engine.current.id
        # Every call above returned while the lock was held: the writes are waiting.
        assert locker.poll() is None and writer.pending > 0
        assert library.listens() == []
        if busy_timeout < 1:
            while writer.retries < 3:  # the writer keeps trying while the lock is held
                time.sleep(0.05)
    finally:
        locker.communicate("go\n", timeout=30)
    assert writer.flush(timeout=60)
    rows = library.listens()
    assert [r.track_id for r in rows] == [tracks[0], second, third]
    assert [(r.played_ms, r.skipped) for r in rows[:2]] == [(180_000, 0), (7_000, 1)]
    assert rows[2].ended_at is None  # still playing
    assert (writer.retries > 0) == (busy_timeout < 1)
    engine.shutdown()
    writer.close()
    assert library.listens()[2].ended_at is not None
