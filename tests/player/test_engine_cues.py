"""The engine tells the backend what comes next, as cues with their gain and transition.

On the silent backend (which follows on to the cue set with ``set_next`` and emits
``advanced``, as the gapless backend does): album order, crossfades only between albums, the
auto pick as the next cue, and a next track that cannot be played.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from player.autoqueue import AutoQueue, Rules
from player.engine import Engine
from player.library.albums import follows_in_album
from player.library.db import Library, Track
from player.playback.null import NullBackend
from tests.player.conftest import FakeClock, add_placeholder_tracks


class HalfGainOnAlbums:
    """A policy whose answers show which mode the engine asked for."""

    def gain(self, track: Track, album_mode: bool) -> float:
        return 0.5 if album_mode else 0.25

    def silences(self, track: Track) -> tuple[int, int]:
        return 120, 340


@pytest.fixture
def album(library: Library, tmp_path: Path) -> list[int]:
    """Tracks 1-3 of one album, then two loose tracks by other artists."""
    specs = [{"artist": "A", "album": "First", "track_number": n, "disc_number": 1}
             for n in (1, 2, 3)]
    specs += [{"artist": "B", "album": "Other", "track_number": 7},
              {"artist": "C", "album": "Third", "track_number": 1}]
    return add_placeholder_tracks(library, tmp_path / "album", specs)


@pytest.fixture
def cue_engine(library: Library, backend: NullBackend, clock: FakeClock, album) -> Engine:
    aq = AutoQueue(library, Rules(exploration=0.0), seed=1, clock=clock)
    eng = Engine(library, backend, aq, clock=clock, background_picks=False,
                 cue_policy=HalfGainOnAlbums())
    yield eng
    eng.shutdown()


def test_album_order_rule() -> None:
    one = Track(1, "a.flac", "A", album="X", albumartist="VA", artist="a", track_number=1,
                disc_number=1)
    two = replace(one, id=2, artist="b", track_number=2)
    assert follows_in_album(one, two)  # a compilation: one album artist
    assert not follows_in_album(two, one)
    assert not follows_in_album(one, replace(two, album="Y"))
    assert follows_in_album(replace(one, track_number=9), replace(one, disc_number=2))
    assert not follows_in_album(one, replace(two, track_number=None))


def test_an_album_in_order_is_joined_gaplessly_with_album_gain(
        cue_engine: Engine, backend: NullBackend, album: list[int], library: Library) -> None:
    cue_engine.set_crossfade(5)
    cue_engine.enqueue(album[1:3])
    cue_engine.play_track(album[0])
    current = backend._next_cue
    assert current is not None and current.path == library.track(album[1]).path
    assert current.crossfade_ms == 0 and current.gain == 0.5  # album: never crossfaded
    backend.advance(180_000)
    assert cue_engine.current.id == album[1] and cue_engine.queue == [album[2]]
    backend.advance(180_000)
    assert cue_engine.current.id == album[2] and cue_engine.queue == []
    # After the album, the auto pick comes in with the crossfade and the mix's track gain.
    nxt = backend._next_cue
    assert nxt is not None and nxt.crossfade_ms == 5000 and nxt.gain == 0.25
    assert (nxt.trim_start_ms, nxt.trim_end_ms) == (120, 340)
    rows = library.listens()
    assert [r.track_id for r in rows] == album[:3]
    assert [r.skipped for r in rows[:2]] == [0, 0] and rows[2].ended_at is None


def test_the_auto_pick_is_the_next_cue_and_a_new_one_follows_it(
        cue_engine: Engine, backend: NullBackend, album: list[int]) -> None:
    cue_engine.play_track(album[3])
    pick = cue_engine.auto_pick
    assert pick is not None and backend._next_cue is not None
    assert backend._next_cue.path.endswith(f"{album.index(pick.track_id):04d}.mp3")
    backend.advance(180_000)
    assert cue_engine.current.id == pick.track_id and cue_engine.current_source == "auto"
    assert cue_engine.auto_pick is not None and cue_engine.auto_pick.track_id != pick.track_id
    assert backend._next_cue is not None  # and the one after is already announced


def test_queueing_changes_what_comes_next_at_once(cue_engine: Engine, backend: NullBackend,
                                                   album: list[int], library: Library) -> None:
    cue_engine.play_track(album[3])
    cue_engine.enqueue([album[4]])
    assert backend._next_cue.path == library.track(album[4]).path
    cue_engine.remove_from_queue(0)
    assert backend._next_cue.path != library.track(album[4]).path  # the auto pick again
    cue_engine.set_autoqueue_enabled(False)
    assert backend._next_cue is None


def test_a_next_track_that_cannot_play_is_marked_and_replaced(
        cue_engine: Engine, backend: NullBackend, album: list[int], library: Library) -> None:
    cue_engine.enqueue([album[4], album[1]])
    cue_engine.play_track(album[3])
    bad = backend._next_cue
    messages: list[str] = []
    cue_engine.message.connect(messages.append)
    backend.nextFailed.emit(bad.tag, "cannot decode the file")
    assert library.track(album[4]).play_error == "cannot decode the file"
    assert cue_engine.queue == [album[1]]
    assert backend._next_cue.path == library.track(album[1]).path
    assert messages and "skipping" in messages[0]
