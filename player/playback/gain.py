"""Loudness for playback: ReplayGain modes, the gain to apply, and silence trimming for crossfades.

Pure functions on plain data (no Qt, no SQL, no I/O), so the stream backend, the tests and the
benchmarks share one definition of each rule:

* :class:`LoudnessInfo` — what is known of one track: its ReplayGain tags, what the analysis
  pass measured (``Library.loudness(track_id)`` builds it), and its silences;
* :func:`gain_factor` — the linear factor to multiply its samples by, for a
  :class:`ReplayGainMode`; never more than the peak allows (no clipping);
* :func:`trim_ms` and :func:`crossfade_plan` — where a crossfade between two tracks starts and
  ends, with their leading/trailing silence skipped; :func:`crossfade_gains` — the fade curves.

Levels follow ReplayGain 2: a gain in dB brings the track to :data:`REFERENCE_LUFS`
(-18 LUFS, EBU R128 / ITU-R BS.1770 integrated loudness).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: ReplayGain 2's reference loudness: a track at its gain plays at -18 LUFS.
REFERENCE_LUFS = -18.0


class ReplayGainMode(str, enum.Enum):
    """The user's setting (Playback → ReplayGain); the value is what settings.json stores."""

    OFF = "off"  #: play files as they are
    TRACK = "track"  #: every track at the same loudness
    ALBUM = "album"  #: each album at one loudness, its tracks' differences kept
    AUTO = "auto"  #: album gain while an album plays in order, track gain otherwise

    @classmethod
    def parse(cls, value: Any) -> "ReplayGainMode":
        """The mode named by ``value`` (case-insensitive); raises ValueError for anything else."""
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            names = ", ".join(m.value for m in cls)
            raise ValueError(f"unknown ReplayGain mode {value!r} (known: {names})") from None


@dataclass(frozen=True, slots=True)
class LoudnessInfo:
    """Everything known about one track's loudness. Any field may be unknown (None).

    Gains are dB towards :data:`REFERENCE_LUFS`; peaks are linear (1.0 = full scale).
    """

    #: From the file's tags (player.library.tags), as the scan read them.
    tag_track_gain: float | None = None
    tag_track_peak: float | None = None
    tag_album_gain: float | None = None
    tag_album_peak: float | None = None
    #: Measured by the analysis pass (player.library.analysis): integrated loudness in LUFS
    #: (None: silent or shorter than one 400 ms block) and sample peak.
    measured_lufs: float | None = None
    measured_peak: float | None = None
    #: The album's measured loudness and peak, once every track of the album is analysed.
    album_lufs: float | None = None
    album_measured_peak: float | None = None
    #: Silence (below -60 dBFS) at the start and the end, and the decoded length.
    lead_silence_ms: int | None = None
    trail_silence_ms: int | None = None
    duration_ms: int | None = None

    @property
    def track_gain_db(self) -> float | None:
        """The track's gain: its tags' first (the user chose them), else the measured one."""
        if self.tag_track_gain is not None:
            return self.tag_track_gain
        return lufs_to_gain(self.measured_lufs)

    @property
    def album_gain_db(self) -> float | None:
        if self.tag_album_gain is not None:
            return self.tag_album_gain
        return lufs_to_gain(self.album_lufs)

    @property
    def track_peak(self) -> float | None:
        """The highest peak known for the track (tags may hold a true peak, the analysis a
        sample peak: the higher one is the safe one)."""
        return _max_known(self.tag_track_peak, self.measured_peak)

    @property
    def album_peak(self) -> float | None:
        return _max_known(self.tag_album_peak, self.album_measured_peak, self.track_peak)


def lufs_to_gain(lufs: float | None) -> float | None:
    """The ReplayGain 2 gain (dB) of a measured integrated loudness."""
    return None if lufs is None else REFERENCE_LUFS - lufs


def album_loudness(tracks: Iterable[tuple[float | None, float]]) -> float | None:
    """An album's loudness from its tracks' ``(integrated LUFS, weight)``: the power mean,
    weighted by how much audio each track has (its duration without silences).

    For tracks of steady loudness this equals BS.1770 measured over the album played through,
    as ReplayGain 2's album gain is; a silent track (None) counts for nothing. None when no
    track has a loudness.
    """
    energy = weight = 0.0
    for lufs, w in tracks:
        if lufs is None or w <= 0:
            continue
        energy += w * 10 ** (lufs / 10)
        weight += w
    if weight <= 0 or energy <= 0:
        return None
    return 10 * math.log10(energy / weight)


def gain_factor(
    info: LoudnessInfo,
    mode: ReplayGainMode,
    album_in_order: bool,
    preamp_db: float = 0.0,
    fallback_db: float = 0.0,
) -> float:
    """The linear factor to apply to a track's samples.

    * ``mode``: OFF gives 1.0; TRACK the track gain; ALBUM the album gain (the track gain when
      the album's is unknown); AUTO the album gain while ``album_in_order`` (an album played
      through in order), the track gain otherwise (the auto-queue's mix of albums).
    * ``preamp_db`` is added to whichever gain applies.
    * A track with no gain at all (no tags, not analysed yet) gets ``fallback_db``: pass
      ``Library.typical_gain_db()``, the median gain of the library — an unknown track is most
      likely as loud as the others, and playing it at unity next to tracks attenuated by ~8 dB
      (modern masters) would be the loudest jump of all.
    * Never clips: the factor is at most ``1 / peak``. With no peak known the factor is at most
      1.0: a gain may attenuate blind, never boost.
    """
    if mode is ReplayGainMode.OFF:
        return 1.0
    use_album = mode is ReplayGainMode.ALBUM or (mode is ReplayGainMode.AUTO and album_in_order)
    gain = info.album_gain_db if use_album else None
    peak = info.album_peak if gain is not None else None
    if gain is None:
        gain, peak = info.track_gain_db, info.track_peak
    if gain is None:
        gain, peak = fallback_db, info.track_peak
    factor = 10 ** ((gain + preamp_db) / 20)
    limit = 1.0 / peak if peak else 1.0
    return min(factor, limit)


def trim_ms(info: LoudnessInfo) -> tuple[int, int]:
    """``(leading, trailing)`` silence in ms to skip in a crossfade (0 where unknown)."""
    return info.lead_silence_ms or 0, info.trail_silence_ms or 0


@dataclass(frozen=True, slots=True)
class CrossfadePlan:
    """Where a crossfade happens, in each track's own position (ms).

    The outgoing track fades out from ``out_fade_ms`` to ``out_end_ms`` (its last audible
    sample), where it stops; the incoming track starts at ``in_start_ms`` (its first audible
    sample) at the moment the fade-out begins, and fades in over ``overlap_ms``.
    """

    out_fade_ms: int
    out_end_ms: int
    in_start_ms: int
    overlap_ms: int


def crossfade_plan(
    outgoing: LoudnessInfo,
    out_duration_ms: int,
    incoming: LoudnessInfo,
    in_duration_ms: int,
    crossfade_s: float,
) -> CrossfadePlan | None:
    """The crossfade between two tracks, their silences trimmed; None when ``crossfade_s`` is
    0 (off). The overlap is at most half of either track's audible length, so a short track is
    never faded out before it was heard.

    Never call it inside an album played in order: those tracks follow gaplessly, untrimmed.
    """
    if crossfade_s <= 0:
        return None
    out_lead, out_trail = trim_ms(outgoing)
    in_lead, in_trail = trim_ms(incoming)
    out_end = max(0, out_duration_ms - out_trail)
    out_audible = max(0, out_end - out_lead)
    in_audible = max(0, in_duration_ms - in_lead - in_trail)
    overlap = int(min(crossfade_s * 1000, out_audible // 2, in_audible // 2))
    return CrossfadePlan(out_fade_ms=out_end - overlap, out_end_ms=out_end,
                         in_start_ms=min(in_lead, in_duration_ms), overlap_ms=overlap)


def crossfade_gains(x: Any) -> tuple[Any, Any]:
    """Equal-power fade curves at fraction ``x`` in [0, 1] of the overlap (a float or a numpy
    array): ``(outgoing gain, incoming gain)``, whose powers sum to 1 (no dip, no bump for
    uncorrelated music)."""
    import numpy as np

    x = np.clip(x, 0.0, 1.0)
    return np.cos(x * np.pi / 2), np.sin(x * np.pi / 2)


def _max_known(*values: float | None) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None
