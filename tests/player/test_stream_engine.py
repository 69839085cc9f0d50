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


def _three(library: Library, folder: Path, seconds: float) -> list[int]:
    folder.mkdir()
    for i, name in enumerate("ABC"):
        make_track(folder / f"{name}.wav", "wav",
                   TrackSpec(name, f"Artist {name}", f"Album {name}", seconds=seconds,
                             pitch=300.0 + 100 * i))
    scan_folders(library, [folder])
    by_title = {r["title"]: r["id"] for r in library.db.query("SELECT id, title FROM tracks")}
    return [by_title[n] for n in "ABC"]


@pytest.fixture
def three(library: Library, tmp_path: Path) -> list[int]:
    """Three 1.5 s tracks of three albums (shorter than the decoder's lead: each is wholly
    decoded, and the next one committed to, as soon as it starts)."""
    return _three(library, tmp_path / "music", 1.5)


@pytest.fixture
def three_long(library: Library, tmp_path: Path) -> list[int]:
    """Three 5 s tracks: the next one is committed to 3 s before the current one ends (the
    decoder's lead), and not the one after it."""
    return _three(library, tmp_path / "music", 5.0)


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


def test_an_announcement_taken_back_after_the_commit_does_not_play(
        engine: Engine, three_long: list[int], qtbot: QtBot) -> None:
    """Play next C, then remove it again while B is already committed: the engine re-announces
    B (its queue's head again) to follow... B, which then must be taken back when B starts -
    or B would play twice."""
    a, b, c = three_long
    heard: list[int] = []
    engine.trackChanged.connect(lambda t: heard.append(t.id) if t else None)
    engine.enqueue([b])
    engine.play_track(a)
    qtbot.waitUntil(lambda: engine.backend.position() >= 2800, timeout=10_000)  # B committed
    engine.enqueue([c], front=True)
    engine.remove_from_queue(0)  # C out again: the queue is [B], announced anew
    qtbot.waitUntil(lambda: engine.current is None, timeout=20_000)  # the queue played out
    assert heard == [a, b], heard
