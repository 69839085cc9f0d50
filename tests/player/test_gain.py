"""player.playback.gain: ReplayGain modes, clipping limits and crossfade plans, known numbers."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from player.playback.gain import (
    REFERENCE_LUFS,
    CrossfadePlan,
    LoudnessInfo,
    ReplayGainMode,
    album_loudness,
    crossfade_gains,
    crossfade_plan,
    gain_factor,
    lufs_to_gain,
    trim_ms,
)

A, T, AU, OFF = (ReplayGainMode.ALBUM, ReplayGainMode.TRACK, ReplayGainMode.AUTO,
                 ReplayGainMode.OFF)


def db(factor: float) -> float:
    return 20 * math.log10(factor)


def test_modes_pick_track_or_album_gain() -> None:
    info = LoudnessInfo(tag_track_gain=-6.0, tag_track_peak=0.5, tag_album_gain=-3.0,
                        tag_album_peak=0.6)
    assert gain_factor(info, OFF, album_in_order=True) == 1.0
    assert db(gain_factor(info, T, album_in_order=True)) == pytest.approx(-6.0)
    assert db(gain_factor(info, A, album_in_order=False)) == pytest.approx(-3.0)
    assert db(gain_factor(info, AU, album_in_order=True)) == pytest.approx(-3.0)
    assert db(gain_factor(info, AU, album_in_order=False)) == pytest.approx(-6.0)
    assert db(gain_factor(info, T, False, preamp_db=2.5)) == pytest.approx(-3.5)


def test_album_mode_without_album_gain_uses_the_track_gain() -> None:
    info = LoudnessInfo(tag_track_gain=-4.0)
    assert db(gain_factor(info, A, album_in_order=True)) == pytest.approx(-4.0)


def test_measured_loudness_is_converted_to_the_minus_18_lufs_reference() -> None:
    assert REFERENCE_LUFS == -18.0
    assert lufs_to_gain(-9.0) == -9.0 and lufs_to_gain(-23.0) == 5.0
    info = LoudnessInfo(measured_lufs=-11.0, measured_peak=0.9)
    assert db(gain_factor(info, T, False)) == pytest.approx(-7.0)
    tagged = LoudnessInfo(tag_track_gain=-2.0, measured_lufs=-11.0, measured_peak=0.9)
    assert db(gain_factor(tagged, T, False)) == pytest.approx(-2.0)  # tags first


def test_never_clips_peak_times_factor_at_most_one() -> None:
    quiet = LoudnessInfo(measured_lufs=-32.0, measured_peak=0.25)  # wants +14 dB: x5.01
    factor = gain_factor(quiet, T, False)
    assert factor == pytest.approx(4.0) and 0.25 * factor <= 1.0 + 1e-12
    louder_peak = LoudnessInfo(tag_track_gain=12.0, tag_track_peak=0.3, measured_peak=0.5)
    assert gain_factor(louder_peak, T, False) == pytest.approx(2.0)  # the higher peak counts
    album = LoudnessInfo(tag_track_gain=0.0, tag_track_peak=0.2, tag_album_gain=10.0,
                         tag_album_peak=0.8)
    assert gain_factor(album, A, True) == pytest.approx(1 / 0.8)
    assert gain_factor(LoudnessInfo(tag_track_gain=-3.0, tag_track_peak=1.2), T, False) == (
        pytest.approx(10 ** (-3 / 20)))  # already attenuated enough
    preamp = gain_factor(LoudnessInfo(tag_track_gain=-1.0, tag_track_peak=0.95), T, False,
                         preamp_db=6.0)
    assert preamp * 0.95 == pytest.approx(1.0)


def test_unknown_peak_never_boosts() -> None:
    assert gain_factor(LoudnessInfo(tag_track_gain=5.0), T, False) == 1.0
    assert db(gain_factor(LoudnessInfo(tag_track_gain=-5.0), T, False)) == pytest.approx(-5.0)


def test_no_information_uses_the_fallback_gain() -> None:
    nothing = LoudnessInfo()
    assert db(gain_factor(nothing, T, False, fallback_db=-8.0)) == pytest.approx(-8.0)
    assert gain_factor(nothing, AU, True) == 1.0  # default fallback: unity
    assert gain_factor(nothing, T, False, fallback_db=4.0) == 1.0  # peak unknown: no boost
    silent = LoudnessInfo(measured_lufs=None, measured_peak=0.0)
    assert db(gain_factor(silent, T, False, fallback_db=-8.0)) == pytest.approx(-8.0)


def test_album_loudness_is_the_weighted_power_mean() -> None:
    # Two equally long tracks at -20 and -26 LUFS: 10*log10((10^-2 + 10^-2.6) / 2)
    assert album_loudness([(-20.0, 1000), (-26.0, 1000)]) == pytest.approx(-22.03, abs=0.01)
    assert album_loudness([(-20.0, 3000), (-26.0, 1000)]) == pytest.approx(
        10 * math.log10((3 * 10 ** -2 + 10 ** -2.6) / 4))
    assert album_loudness([(-14.0, 500), (None, 9000)]) == pytest.approx(-14.0)  # silent track
    assert album_loudness([]) is None and album_loudness([(None, 100)]) is None


def test_album_peak_falls_back_to_what_is_known() -> None:
    info = LoudnessInfo(measured_peak=0.7, album_measured_peak=0.9)
    assert info.album_peak == 0.9 and info.track_peak == 0.7
    assert LoudnessInfo(tag_track_peak=0.4).album_peak == 0.4
    assert LoudnessInfo().album_peak is None


def test_mode_parsing() -> None:
    assert ReplayGainMode.parse(" Album ") is A and ReplayGainMode("auto") is AU
    with pytest.raises(ValueError, match="unknown ReplayGain mode"):
        ReplayGainMode.parse("loud")


def test_trim_and_crossfade_plan() -> None:
    assert trim_ms(LoudnessInfo()) == (0, 0)
    out = LoudnessInfo(lead_silence_ms=100, trail_silence_ms=2000)
    inc = LoudnessInfo(lead_silence_ms=1500, trail_silence_ms=0)
    assert trim_ms(out) == (100, 2000)
    plan = crossfade_plan(out, 200_000, inc, 180_000, crossfade_s=5)
    assert plan == CrossfadePlan(out_fade_ms=193_000, out_end_ms=198_000, in_start_ms=1500,
                                 overlap_ms=5000)
    assert crossfade_plan(out, 200_000, inc, 180_000, crossfade_s=0) is None
    short = crossfade_plan(LoudnessInfo(), 6000, LoudnessInfo(), 180_000, crossfade_s=12)
    assert short.overlap_ms == 3000 and short.out_fade_ms == 3000  # half of a short track
    unknown = crossfade_plan(LoudnessInfo(), 10_000, LoudnessInfo(), 10_000, crossfade_s=2)
    assert unknown == CrossfadePlan(8000, 10_000, 0, 2000)


def test_crossfade_curves_are_equal_power() -> None:
    x = np.linspace(0, 1, 101)
    out, inc = crossfade_gains(x)
    assert np.allclose(out ** 2 + inc ** 2, 1.0)
    assert out[0] == 1.0 and inc[0] == 0.0 and inc[-1] == 1.0 and abs(out[-1]) < 1e-12
    assert np.all(np.diff(out) <= 0) and np.all(np.diff(inc) >= 0)


def test_gain_module_and_library_load_without_qt() -> None:
    code = ("import sys, player.playback.gain, player.library.db, player.settings; "
            "sys.exit(1 if 'PySide6' in sys.modules else 0)")
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0
