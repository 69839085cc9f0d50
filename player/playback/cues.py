"""The engine's cue policy from the library and the settings: ReplayGain and silences.

:class:`LibraryCuePolicy` answers the engine's two questions about a track
(:class:`player.engine.CuePolicy`): its linear gain, by the user's ReplayGain mode and
whether it plays as part of its album; and its leading/trailing silence, which a crossfade
skips. The rules themselves live in :mod:`player.playback.gain`; this is the glue that reads
what the scan and the analysis pass stored.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from player.library.db import Library
from player.playback.gain import ReplayGainMode, gain_factor

#: The library's typical gain (for tracks not analysed yet) is a full-table query: reuse it
#: this long (the analysis pass changes it slowly).
TYPICAL_GAIN_TTL_S = 300.0


class LibraryCuePolicy:
    """Gains and silences of library tracks, under settings that may change at any time."""

    def __init__(self, library: Library, mode: Callable[[], ReplayGainMode],
                 preamp_db: Callable[[], float], clock: Callable[[], float] = time.monotonic
                 ) -> None:
        self.library = library
        self._mode = mode
        self._preamp_db = preamp_db
        self._clock = clock
        self._typical: tuple[float, float | None] | None = None  # (when, value)

    def typical_gain_db(self) -> float:
        now = self._clock()
        if self._typical is None or now - self._typical[0] > TYPICAL_GAIN_TTL_S:
            self._typical = (now, self.library.typical_gain_db())
        return self._typical[1] or 0.0

    def forget_typical_gain(self) -> None:
        """The analysis pass measured more tracks: compute the typical gain again."""
        self._typical = None

    def gain(self, track: dict[str, Any], album_mode: bool) -> float:
        mode = self._mode()
        if mode is ReplayGainMode.OFF:
            return 1.0
        info = self.library.loudness(track["id"])
        return gain_factor(info, mode, album_mode, self._preamp_db(),
                           fallback_db=self.typical_gain_db())

    def silences(self, track: dict[str, Any]) -> tuple[int, int]:
        info = self.library.loudness(track["id"])
        return info.lead_silence_ms or 0, info.trail_silence_ms or 0
