"""The engine's cue policy over a real library file: ReplayGain by mode, the library's typical
gain for tracks not measured yet, and the silences a crossfade skips."""

from __future__ import annotations

from pathlib import Path

import pytest

from player.library.db import Library
from player.playback.cues import LibraryCuePolicy
from player.playback.gain import ReplayGainMode
from tests.player.conftest import add_placeholder_tracks


@pytest.fixture
def tagged(library: Library, tmp_path: Path) -> list[int]:
    return add_placeholder_tracks(library, tmp_path / "f", [
        {"album": "A", "rg_track_gain": -6.0, "rg_track_peak": 0.5, "rg_album_gain": -3.0,
         "rg_album_peak": 0.9},
        {"album": "A", "rg_track_gain": -8.0, "rg_track_peak": 0.4},
        {"album": "B"},
    ])


def test_gain_follows_the_mode_and_album_order(library: Library, tagged: list[int]) -> None:
    mode = [ReplayGainMode.AUTO]
    policy = LibraryCuePolicy(library, lambda: mode[0], lambda: 0.0,
                              typical_gain_db=library.typical_gain_db)
    first = library.track(tagged[0])
    assert policy.gain(first, album_mode=False) == pytest.approx(10 ** (-6 / 20))
    assert policy.gain(first, album_mode=True) == pytest.approx(10 ** (-3 / 20))
    mode[0] = ReplayGainMode.OFF
    assert policy.gain(first, album_mode=True) == 1.0
    mode[0] = ReplayGainMode.TRACK
    # No tags, not analysed: the library's median gain (of -6 and -8), never a boost.
    assert policy.gain(library.track(tagged[2]), False) == pytest.approx(10 ** (-7 / 20))


def test_silences_come_from_the_analysis(library: Library, tagged: list[int]) -> None:
    policy = LibraryCuePolicy(library, lambda: ReplayGainMode.TRACK, lambda: 0.0)
    assert policy.silences(library.track(tagged[0])) == (0, 0)  # nothing measured yet
    # Not measured and nothing typical known: never a boost, never a guess.
    assert policy.gain(library.track(tagged[2]), False) == 1.0
