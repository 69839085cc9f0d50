"""What to play and how: the unit the engine hands to a playback backend.

Pure data (no Qt), shared by the backends, the engine and the audio process.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: The longest crossfade a person can choose (seconds).
MAX_CROSSFADE_S = 12


@dataclass(frozen=True)
class Cue:
    """One track to play.

    ``tag`` is the engine's own number for this play; backends echo it in their signals
    (``advanced(tag)``), so that the engine knows which of its cues is sounding even when the
    same file is queued twice.
    """

    path: str
    tag: int = 0
    #: Linear factor on the samples: ReplayGain (and its pre-amp), already limited by the
    #: track's peak so that it never clips. 1.0 = as recorded.
    gain: float = 1.0
    #: Overlap with the track before it, in ms. 0 = gapless: the first sample of this track
    #: follows the last sample of the one before. Never > 0 inside an album played in order.
    crossfade_ms: int = 0
    #: Silence at the start of this track, skipped when it comes in by a crossfade...
    trim_start_ms: int = 0
    #: ...and at its end, cut when the next one comes in by a crossfade.
    trim_end_ms: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Cue:
        return cls(
            path=str(data["path"]),
            tag=int(data.get("tag", 0)),
            gain=max(0.0, float(data.get("gain", 1.0))),
            crossfade_ms=max(0, min(int(data.get("crossfade_ms", 0)), MAX_CROSSFADE_S * 1000)),
            trim_start_ms=max(0, int(data.get("trim_start_ms", 0))),
            trim_end_ms=max(0, int(data.get("trim_end_ms", 0))),
        )
