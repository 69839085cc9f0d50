"""The engine on the real stream backend (its audio process on a silent real-time clock).

The audio process commits to the next track seconds before it is heard (its decoder runs
ahead of the device). A new announcement in that window (a repick after a retrain, "Play
next" in the last seconds of a song) cannot change what plays next; it must follow instead.
Before, the GUI side ignored the start of the committed track, believed the old one still
played, and its stall watchdog killed the music ten seconds later (found by ``bench soak``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from pytestqt.qtbot import QtBot

from player.audiogen import TrackSpec, make_track
from player.autoqueue import AutoQueue, Rules
from player.engine import Engine
from player.library.db import Library
from player.library.scanner import scan_folders
from player.playback.stream import StreamBackend

pytestmark = pytest.mark.slow


@pytest.fixture
def three(library: Library, tmp_path: Path) -> list[int]:
    """Three 1.5 s tracks of three albums (shorter than the decoder's lead: each is wholly
    decoded, and the next one committed to, as soon as it starts)."""
    (tmp_path / "music").mkdir()
    for i, name in enumerate("ABC"):
        make_track(tmp_path / "music" / f"{name}.wav", "wav",
                   TrackSpec(name, f"Artist {name}", f"Album {name}", seconds=1.5,
                             pitch=300.0 + 100 * i))
    scan_folders(library, [tmp_path / "music"])
    by_title = {r["title"]: r["id"] for r in library.db.query("SELECT id, title FROM tracks")}
    return [by_title[n] for n in "ABC"]


@pytest.fixture
def engine(library: Library, qtbot: QtBot):
    backend = StreamBackend(silent=True)
    eng = Engine(library, backend, AutoQueue(library, Rules(exploration=0.0), seed=1),
                 background_picks=False)
    eng.set_autoqueue_enabled(False)
    yield eng
    eng.shutdown()


def test_an_announcement_after_the_commit_follows_the_committed_track(
        engine: Engine, three: list[int], qtbot: QtBot, library: Library) -> None:
    a, b, c = three
    heard: list[int] = []
    failures: list[str] = []
    engine.trackChanged.connect(lambda t: heard.append(t.id) if t else None)
    engine.message.connect(lambda m: failures.append(m) if "Cannot" in m else None)
    engine.enqueue([b])
    engine.play_track(a)  # B is announced at once, and committed to once A is decoded
    qtbot.waitUntil(lambda: engine.backend.position() >= 500, timeout=10_000)
    engine.enqueue([c], front=True)  # "Play next" C: announced now, after B's commit
    qtbot.waitUntil(lambda: heard[-1:] == [c], timeout=15_000)
    assert heard == [a, b, c], heard
    assert failures == [] and engine.queue == []  # B left the queue when it played
    qtbot.waitUntil(lambda: engine.current is None or engine.backend.position() >= 500,
                    timeout=5_000)
    rows = library.listens()
    assert [r.track_id for r in rows][:2] == [a, b]
    assert [r.skipped for r in rows[:2]] == [0, 0]  # each heard to its end
