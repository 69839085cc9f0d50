"""The engine's cue policy from the library and the settings: ReplayGain and silences.

:class:`LibraryCuePolicy` answers the engine's two questions about a track
(:class:`player.engine.CuePolicy`): its linear gain, by the user's ReplayGain mode and
whether it plays as part of its album; and its leading/trailing silence, which a crossfade
skips. The rules themselves live in :mod:`player.playback.gain`; this is the glue that reads
what the scan and the analysis pass stored.
"""

from __future__ import annotations

from collections.abc import Callable

from player.library.db import Library, Track
from player.playback.gain import ReplayGainMode, gain_factor


class LibraryCuePolicy:
    """Gains and silences of library tracks, under settings that may change at any time.

    ``typical_gain_db`` returns the library's median track gain (what a track not measured
    yet is assumed to need), or None when nothing is known: the analysis pass computes it on
    its own thread (a full-table query that must not run on the GUI thread).
    """

    def __init__(self, library: Library, mode: Callable[[], ReplayGainMode],
                 preamp_db: Callable[[], float],
                 typical_gain_db: Callable[[], float | None] = lambda: None) -> None:
        self.library = library
        self._mode = mode
        self._preamp_db = preamp_db
        self._typical_gain_db = typical_gain_db

    def gain(self, track: Track, album_mode: bool) -> float:
        mode = self._mode()
        if mode is ReplayGainMode.OFF:
            return 1.0
        info = self.library.loudness(track.id)
        return gain_factor(info, mode, album_mode, self._preamp_db(),
                           fallback_db=self._typical_gain_db() or 0.0)

    def silences(self, track: Track) -> tuple[int, int]:
        info = self.library.loudness(track.id)
        return info.lead_silence_ms or 0, info.trail_silence_ms or 0
