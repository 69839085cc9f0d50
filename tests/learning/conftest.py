"""A listener with habits: a library of placeholder tracks and a history with a pattern."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from player.history import ListenLog
from player.library.db import Library
from tests.player.conftest import FakeClock, add_placeholder_tracks

ALBUMS = 6
PER_ALBUM = 8


def listen_albums(library: Library, ids: list[int], clock: FakeClock, sessions: int,
                  seed: int = 0) -> None:
    """Sessions that each play one of the listener's mixes in order (a skip now and then),
    2 h apart. Mix m is ids[m * PER_ALBUM : (m + 1) * PER_ALBUM]."""
    rng = random.Random(seed)
    log = ListenLog(library, clock)
    for _ in range(sessions):
        album = rng.randrange(ALBUMS)
        for i in range(PER_ALBUM):
            track = ids[album * PER_ALBUM + i]
            log.start(track, "user", 180_000)
            skip = rng.random() < 0.05
            played = 10_000 if skip else 180_000
            log.heard(played)
            clock.tick(played / 1000)
            log.finish(completed=not skip)
        clock.tick(2 * 3600)


@pytest.fixture
def habit_library(library: Library, tmp_path: Path) -> list[int]:
    """48 tracks by 6 artists, in 6 mixes of 8 that the listener plays in order (40 sessions).
    Consecutive tracks of a mix are by different artists, as the auto-queue's rules want."""
    specs = [{"artist": f"Band {(m + i) % ALBUMS}", "album": f"Record {(m + i) % ALBUMS}",
              "genre": ("Rock", "Jazz")[(m + i) % 2], "title": f"Song {m}-{i}"}
             for m in range(ALBUMS) for i in range(PER_ALBUM)]
    ids = add_placeholder_tracks(library, tmp_path / "files", specs)
    listen_albums(library, ids, FakeClock(1_600_000_000.0), sessions=40)
    return ids
