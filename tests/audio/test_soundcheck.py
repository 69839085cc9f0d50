"""The recording analysis itself, on synthetic arrays whose gaps, jumps and levels are known.

These are what make the real-audio tests able to fail: each check here is shown to catch the
fault it is for (a 1 ms gap, one dropped sample, a click) and to pass what it must (a sine
crossing zero, a 5 ms fade, codec-like noise).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import soundcheck as sc

RATE = 44100
FREQ = 441.0


def sine(n: int, freq: float = FREQ, amp: float = 0.5, phase: float = 0.0,
         start: int = 0) -> np.ndarray:
    t = (np.arange(n) + start) / RATE
    return amp * np.sin(2 * math.pi * freq * t + phase)


def stereo(x: np.ndarray) -> np.ndarray:
    return np.stack([x, x], axis=1)


# -- silence ---------------------------------------------------------------------------------


def test_a_continuous_sine_has_no_gap_but_its_zero_crossings() -> None:
    x = stereo(sine(RATE))
    assert sc.longest_silence(x, RATE).ms < 0.05  # a zero crossing: one sample at most


@pytest.mark.parametrize("gap_frames", [1, 44, 441, 4410])
def test_a_gap_is_measured_to_the_sample(gap_frames: int) -> None:
    x = np.concatenate([sine(RATE // 2), np.zeros(gap_frames), sine(RATE // 2, start=RATE // 2)])
    longest = sc.longest_silence(stereo(x), RATE)
    assert longest.start <= RATE // 2 <= longest.start + longest.frames
    # the run also takes in the sine's near-zero samples on either side of the cut
    assert gap_frames <= longest.frames <= gap_frames + 2
    assert longest.ms == pytest.approx(1000 * longest.frames / RATE)


def test_leading_and_trailing_silence_is_not_a_gap() -> None:
    x = np.concatenate([np.zeros(RATE), sine(RATE), np.zeros(RATE)])
    assert sc.longest_silence(x, RATE).ms < 0.05
    assert sc.first_audible(x) in range(RATE, RATE + 3)
    assert sc.last_audible(x) in range(2 * RATE - 3, 2 * RATE)


def test_a_gap_in_one_channel_only_is_not_silence() -> None:
    left = sine(RATE)
    right = left.copy()
    right[1000:2000] = 0
    assert sc.longest_silence(np.stack([left, right], axis=1), RATE).ms < 0.05


def test_low_noise_in_a_gap_still_counts_as_silence() -> None:
    rng = np.random.default_rng(1)
    gap = rng.normal(0, 10 ** (-70 / 20), 441)  # -70 dBFS hiss, what a dither leaves
    x = np.concatenate([sine(RATE // 2), gap, sine(RATE // 2, start=RATE // 2)])
    assert sc.longest_silence(x, RATE).ms >= 10.0


def test_first_audible_after_a_start() -> None:
    x = np.concatenate([sine(100, phase=1.0), np.zeros(1000), sine(100, phase=1.0)])
    assert sc.first_audible(x, start=150) == 1100
    assert sc.first_audible(x, start=50) == 50
    assert sc.first_audible(np.zeros(500)) is None


# -- jumps -----------------------------------------------------------------------------------


def test_a_clean_sine_has_no_jump_even_at_any_phase_and_level() -> None:
    for amp, phase in [(0.5, 0.0), (0.1, 1.0), (0.9, 2.5)]:
        assert sc.largest_jump(sine(RATE, amp=amp, phase=phase), RATE, FREQ).size < 1e-9


def test_one_dropped_sample_is_a_jump_at_its_place() -> None:
    x = np.delete(sine(RATE), 30_000)
    jump = sc.largest_jump(x, RATE, FREQ)
    assert abs(jump.at - 30_000) <= 1
    # a phase jump of one sample: 2*pi*441/44100 rad, about 0.06 of the amplitude
    assert 0.02 < jump.size < 0.1


def test_a_phase_jump_size_reads_in_radians() -> None:
    x = np.concatenate([sine(10_000), sine(10_000, start=10_000, phase=0.5)])
    jump = sc.largest_jump(x, RATE, FREQ)
    assert abs(jump.at - 10_000) <= 1
    assert jump.size == pytest.approx(2 * math.sin(0.25), rel=0.1)  # at most 2A sin(d/2)


def test_quantisation_and_codec_like_noise_is_not_a_jump() -> None:
    rng = np.random.default_rng(2)
    x = np.round(sine(RATE) * 32767) / 32767 + rng.normal(0, 10 ** (-80 / 20), RATE)
    assert sc.largest_jump(x, RATE, FREQ).size < 0.005


def test_a_hard_cut_to_silence_is_a_click_and_a_short_fade_is_not() -> None:
    n, fade = RATE, int(0.005 * RATE)
    x = sine(n)
    cut = x.copy()
    cut[n // 2 + 25:] = 0  # stops at a peak (441 Hz: 100 samples a period)
    faded = x.copy()
    faded[n // 2:n // 2 + fade] *= np.linspace(1, 0, fade)
    faded[n // 2 + fade:] = 0
    assert sc.largest_jump(cut, RATE, FREQ).size > 0.5
    assert sc.largest_jump(faded, RATE, FREQ).size < 0.01
    # without knowing the frequency (third difference), the same verdicts
    assert sc.largest_jump(cut, RATE).size > 0.5
    assert sc.largest_jump(faded, RATE).size < 0.01


def test_the_frequency_free_residual_passes_a_chirp() -> None:
    t = np.arange(2 * RATE) / RATE
    chirp = 0.5 * np.sin(2 * math.pi * (300 * t + 200 * t * t))  # 300 -> 1100 Hz
    assert sc.largest_jump(chirp, RATE).size < 0.02
    broken = np.concatenate([chirp[:RATE], chirp[RATE + 300:]])
    jump = sc.largest_jump(broken, RATE)
    assert jump.size > 0.1 and abs(jump.at - RATE) <= 3


# -- levels ----------------------------------------------------------------------------------


def test_rms_of_a_full_scale_sine() -> None:
    assert sc.rms_dbfs(sine(RATE, amp=1.0)) == pytest.approx(-3.01, abs=0.01)
    assert sc.rms_dbfs(sine(RATE, amp=0.1)) == pytest.approx(-23.01, abs=0.01)


@pytest.mark.parametrize("rate", [44100, 48000])
def test_loudness_of_reference_tones(rate: int) -> None:
    t = np.arange(3 * rate) / rate
    tone = np.sin(2 * math.pi * 997 * t)
    # BS.1770: a 0 dBFS 1 kHz sine in one channel reads -3.01 LUFS; in both, 0 LUFS
    one_channel = np.stack([tone, 0 * tone], axis=1)
    assert sc.loudness_lufs(one_channel, rate) == pytest.approx(-3.01, abs=0.15)
    assert sc.loudness_lufs(np.stack([tone, tone], axis=1), rate) == pytest.approx(0.0, abs=0.15)
    quiet = 10 ** (-23 / 20) * np.stack([tone, tone], axis=1)
    assert sc.loudness_lufs(quiet, rate) == pytest.approx(-23.0, abs=0.15)


def test_loudness_weights_frequencies_and_gates_silence() -> None:
    t = np.arange(3 * RATE) / RATE
    low = stereo(0.5 * np.sin(2 * math.pi * 30 * t))  # under the 38 Hz high-pass
    high = stereo(0.5 * np.sin(2 * math.pi * 4000 * t))  # on the +4 dB shelf
    mid = stereo(0.5 * np.sin(2 * math.pi * 997 * t))
    assert sc.loudness_lufs(low, RATE) < sc.loudness_lufs(mid, RATE) - 2
    assert sc.loudness_lufs(high, RATE) > sc.loudness_lufs(mid, RATE) + 3
    padded = np.concatenate([mid, np.zeros((5 * RATE, 2))])
    # silence is gated out (ungated, 3 s in 8 s would read 4.3 dB lower); only the blocks
    # that straddle the tone's end pull it down a little
    assert sc.loudness_lufs(padded, RATE) == pytest.approx(sc.loudness_lufs(mid, RATE), abs=0.4)


# -- crossfade overlap -----------------------------------------------------------------------


def test_no_overlap_when_one_tone_follows_the_other() -> None:
    x = np.concatenate([sine(RATE, 441), sine(RATE, 882)])
    ov = sc.overlap(x, RATE, 441, 882)
    assert ov is None or ov.seconds < 0.03  # one window straddles the cut


def test_overlap_of_a_linear_crossfade() -> None:
    n, fade = 4 * RATE, 2 * RATE
    a = sine(n, 441)
    b = sine(n, 882)
    gain_a = np.concatenate([np.ones(RATE), np.linspace(1, 0, fade), np.zeros(n - RATE - fade)])
    gain_b = np.concatenate([np.zeros(RATE), np.linspace(0, 1, fade), np.ones(n - RATE - fade)])
    ov = sc.overlap(a * gain_a + b * gain_b, RATE, 441, 882, threshold_db=-30)
    # both within 30 dB of full: gain from 0.0316 to 0.9684 of the 2 s ramp
    assert ov is not None
    assert ov.seconds == pytest.approx(2.0 * (1 - 2 * 0.0316), abs=0.02)
    assert ov.start_s == pytest.approx(1.0 + 2 * 0.0316, abs=0.02)


def test_tone_amplitude_reads_the_amplitude() -> None:
    _, amps = sc.tone_amplitude(sine(RATE, 441, amp=0.3) + sine(RATE, 882, amp=0.2), RATE, 441)
    assert np.median(amps) == pytest.approx(0.3, rel=0.02)


# -- locate and clock ------------------------------------------------------------------------


def test_locate_finds_a_stretch_of_a_chirp_to_the_sample() -> None:
    t = np.arange(4 * RATE) / RATE
    chirp = np.sin(2 * math.pi * (200 * t + 150 * t * t))
    for at in (0, 12_345, 100_000, 4 * RATE - 3000):
        loc = sc.locate(0.4 * chirp[at:at + 2048] + 0.001, chirp)  # quieter, a DC offset
        assert loc.offset == at and loc.score > 0.99


def test_locate_rejects_a_segment_longer_than_the_reference() -> None:
    with pytest.raises(ValueError):
        sc.locate(np.ones(10), np.ones(5))


def test_clock_takes_the_earliest_arrival_line() -> None:
    # frames rendered from t=100.0; each chunk arrives 5..40 ms late
    rng = np.random.default_rng(3)
    stamps = [(100.0 + n / RATE + rng.uniform(0.005, 0.040), n) for n in range(441, RATE * 5, 441)]
    stamps.append((100.0 + 3.0 + 0.004, 3 * RATE))
    clock = sc.Clock.fit(stamps, RATE)
    assert clock.t0 == pytest.approx(100.004, abs=1e-6)
    assert clock.frame_at(101.004) == RATE
    assert clock.time_of(2 * RATE) == pytest.approx(102.004)
    assert clock.spread_s < 0.04
    with pytest.raises(ValueError):
        sc.Clock.fit([], RATE)


def test_from_s16le() -> None:
    raw = np.array([0, 16384, -32768, 32767], dtype="<i2").tobytes() + b"\x01"
    x = sc.from_s16le(raw, 2)
    assert x.shape == (2, 2)
    assert x[0, 1] == 0.5 and x[1, 0] == -1.0
