"""What a recording of Segue's output sounds like, measured (numpy only, no Qt, no audio I/O).

Every function takes samples as a float array in [-1, 1], shape ``(frames,)`` or
``(frames, channels)``, and the sample rate; times come back in seconds or milliseconds from
the start of the array. The tests in ``tests/audio/test_soundcheck.py`` feed them synthetic
arrays with known gaps, jumps, levels and overlaps.

* :func:`silences` / :func:`longest_silence` — runs of near-zero samples between the first
  and the last audible sample: the gap a listener hears between two tracks.
* :func:`largest_jump` — where the sound departs most from a smooth tone: a click, a phase
  jump, samples dropped or repeated. With the tone's frequency it is exact for a sine (the
  sine recurrence ``x[n] = 2cos(w) x[n-1] - x[n-2]`` predicts every sample from the two
  before it); without, the third difference stands in (any tone well below the sample rate
  is smooth to third order).
* :func:`first_audible` / :func:`last_audible` — the first (last) sample above a threshold.
* :func:`rms_dbfs` and :func:`loudness_lufs` (ITU-R BS.1770 K-weighting and gating, the
  filter applied in the frequency domain: within ~0.1 dB of a reference meter on tones).
* :func:`tone_amplitude` / :func:`overlap` — how loud one frequency is over time; how long
  two frequencies sound at once (a crossfade).
* :func:`locate` — where a short recorded stretch sits in a known reference signal (a chirp
  makes that unique): what position a seek landed on, whether a resume continued in place.
* :class:`Clock` — maps the recording's sample index to ``time.monotonic()``, so that an
  event logged by the app (play pressed, seek) can be placed on the recording.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: A sample below this (dBFS, in every channel) counts as silent.
SILENCE_DB = -50.0
#: First/last "audible" sample: above this (dBFS, in any channel).
AUDIBLE_DB = -40.0


def db_to_amplitude(db: float) -> float:
    return 10.0 ** (db / 20.0)


def amplitude_to_db(amplitude: float) -> float:
    return 20.0 * math.log10(max(amplitude, 1e-12))


def as_frames(x: np.ndarray) -> np.ndarray:
    """``x`` as a 2-D float64 array ``(frames, channels)``."""
    a = np.asarray(x, dtype=np.float64)
    return a[:, None] if a.ndim == 1 else a


def from_s16le(raw: bytes, channels: int) -> np.ndarray:
    """Interleaved signed 16-bit little-endian PCM (``parec --format=s16le``) as floats."""
    usable = len(raw) - len(raw) % (2 * channels)
    pcm = np.frombuffer(raw[:usable], dtype="<i2").astype(np.float64) / 32768.0
    return pcm.reshape(-1, channels)


# -- silence and audibility -------------------------------------------------------------------


@dataclass(frozen=True)
class Silence:
    """A run of near-zero samples: ``start`` and ``frames`` in samples."""

    start: int
    frames: int
    rate: int

    @property
    def start_s(self) -> float:
        return self.start / self.rate

    @property
    def ms(self) -> float:
        return 1000.0 * self.frames / self.rate


def _loud(x: np.ndarray, threshold_db: float) -> np.ndarray:
    """Per frame: is any channel at or above ``threshold_db``?"""
    return (np.abs(as_frames(x)) >= db_to_amplitude(threshold_db)).any(axis=1)


def first_audible(x: np.ndarray, threshold_db: float = AUDIBLE_DB, start: int = 0) -> int | None:
    """Index of the first frame at or after ``start`` louder than ``threshold_db``."""
    loud = _loud(as_frames(x)[start:], threshold_db)
    hits = np.flatnonzero(loud)
    return int(hits[0]) + start if hits.size else None


def last_audible(x: np.ndarray, threshold_db: float = AUDIBLE_DB) -> int | None:
    """Index of the last frame louder than ``threshold_db``."""
    hits = np.flatnonzero(_loud(x, threshold_db))
    return int(hits[-1]) if hits.size else None


def silences(x: np.ndarray, rate: int, threshold_db: float = SILENCE_DB,
             min_ms: float = 0.0) -> list[Silence]:
    """Runs of frames below ``threshold_db`` in every channel, between the first and the last
    audible frame (the silence before the music starts and after it ends is not a gap).

    A sine crosses zero: at -50 dBFS a 441 Hz tone at -6 dBFS spends at most one sample there,
    so a real gap is any run much longer than a sample; ``min_ms`` drops the shorter ones.
    """
    frames = as_frames(x)
    first, last = first_audible(frames, AUDIBLE_DB), last_audible(frames, AUDIBLE_DB)
    if first is None or last is None or last <= first:
        return []
    quiet = ~_loud(frames[first:last + 1], threshold_db)
    edges = np.diff(np.concatenate(([0], quiet.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    runs = [Silence(int(s) + first, int(e - s), rate) for s, e in zip(starts, ends)]
    return [r for r in runs if r.ms >= min_ms]


def longest_silence(x: np.ndarray, rate: int, threshold_db: float = SILENCE_DB) -> Silence:
    """The longest run of :func:`silences` (0 frames long where there is none)."""
    runs = silences(x, rate, threshold_db)
    return max(runs, key=lambda r: r.frames) if runs else Silence(0, 0, rate)


# -- jumps -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Jump:
    """The largest departure from a smooth tone: ``size`` relative to the tone's amplitude
    (about the phase jump in radians for a sine; ~1 for a hard cut at a peak), at frame
    ``at``."""

    at: int
    size: float
    rate: int

    @property
    def at_s(self) -> float:
        return self.at / self.rate


def step_residual(x: np.ndarray, rate: int, freq: float | None = None) -> np.ndarray:
    """Per frame and channel, what the sound does that a smooth tone would not.

    With ``freq``: ``x[n] - 2cos(w)x[n-1] + x[n-2]``, zero for any sine of that frequency
    (whatever its phase and amplitude), ``2A sin(d/2)`` at a phase jump of ``d`` radians, and
    ``~2Aw/L`` inside a linear fade of ``L`` samples: a fade passes, a click does not.
    Without: the third difference, ``~A w^3`` for a tone of angular frequency ``w``.
    The first frames (2 or 3), which have no history, are 0.
    """
    f = as_frames(x)
    out = np.zeros_like(f)
    if freq is not None:
        c = 2.0 * math.cos(2.0 * math.pi * freq / rate)
        out[2:] = f[2:] - c * f[1:-1] + f[:-2]
    else:
        out[3:] = np.diff(f, n=3, axis=0)
    return out


def tone_peak(x: np.ndarray) -> float:
    """A tone's amplitude, robust to a few outliers: the 99.9th percentile of |x|."""
    a = np.abs(as_frames(x))
    return float(np.percentile(a, 99.9)) if a.size else 0.0


def largest_jump(x: np.ndarray, rate: int, freq: float | None = None,
                 amplitude: float | None = None) -> Jump:
    """The frame where :func:`step_residual` is largest, relative to ``amplitude`` (default:
    :func:`tone_peak` of ``x``)."""
    residual = np.abs(step_residual(x, rate, freq)).max(axis=1)
    if residual.size == 0:
        return Jump(0, 0.0, rate)
    amp = amplitude if amplitude is not None else tone_peak(x)
    at = int(np.argmax(residual))
    return Jump(at, float(residual[at] / amp) if amp > 0 else 0.0, rate)


# -- levels ------------------------------------------------------------------------------------


def rms_dbfs(x: np.ndarray) -> float:
    """RMS level over all channels, dBFS (a full-scale sine is -3.01 dBFS)."""
    f = as_frames(x)
    return amplitude_to_db(math.sqrt(float(np.mean(f * f)))) if f.size else -240.0


def _biquad_response(b: Sequence[float], a: Sequence[float], w: np.ndarray) -> np.ndarray:
    z = np.exp(-1j * w)
    return (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)


def k_weighting(rate: int, freqs: np.ndarray) -> np.ndarray:
    """|H(f)| of BS.1770's K-weighting (a +4 dB high shelf, then a 38 Hz high-pass), from the
    analog prototype's parameters so that any sample rate works."""
    w = 2.0 * math.pi * freqs / rate
    # high shelf: G = 4 dB, Q = 1/sqrt(2), fc = 1500 Hz (RBJ cookbook)
    gain, q, fc = 4.0, 1 / math.sqrt(2.0), 1500.0
    big_a, w0 = 10 ** (gain / 40), 2 * math.pi * fc / rate
    alpha, cw, sa = math.sin(w0) / (2 * q), math.cos(w0), math.sqrt(10 ** (gain / 40))
    shelf = _biquad_response(
        [big_a * ((big_a + 1) + (big_a - 1) * cw + 2 * sa * alpha),
         -2 * big_a * ((big_a - 1) + (big_a + 1) * cw),
         big_a * ((big_a + 1) + (big_a - 1) * cw - 2 * sa * alpha)],
        [(big_a + 1) - (big_a - 1) * cw + 2 * sa * alpha,
         2 * ((big_a - 1) - (big_a + 1) * cw),
         (big_a + 1) - (big_a - 1) * cw - 2 * sa * alpha], w)
    # high-pass: fc = 38 Hz, Q = 0.5
    w0, q = 2 * math.pi * 38.0 / rate, 0.5
    alpha, cw = math.sin(w0) / (2 * q), math.cos(w0)
    highpass = _biquad_response([(1 + cw) / 2, -(1 + cw), (1 + cw) / 2],
                                [1 + alpha, -2 * cw, 1 - alpha], w)
    return np.abs(shelf * highpass)


def loudness_lufs(x: np.ndarray, rate: int) -> float:
    """Integrated loudness (LUFS) per ITU-R BS.1770-4: K-weighted (here by the filter's
    magnitude, applied with one FFT: energy is what counts), 400 ms blocks every 100 ms,
    absolute gate -70 LUFS, relative gate -10 LU. Channels weigh 1 each (stereo)."""
    f = as_frames(x)
    n = f.shape[0]
    if n == 0:
        return -240.0
    spectrum = np.fft.rfft(f, axis=0)
    spectrum *= k_weighting(rate, np.fft.rfftfreq(n, 1.0 / rate))[:, None]
    weighted = np.fft.irfft(spectrum, n=n, axis=0)
    block, step = int(0.4 * rate), int(0.1 * rate)
    if n <= block:
        power = np.mean(weighted ** 2, axis=0)[None, :]
    else:
        sq = np.concatenate([np.zeros((1, f.shape[1])), np.cumsum(weighted ** 2, axis=0)])
        starts = np.arange(0, n - block + 1, step)
        power = (sq[starts + block] - sq[starts]) / block  # (blocks, channels)

    def lufs(p: np.ndarray) -> np.ndarray:
        return -0.691 + 10 * np.log10(np.maximum(p.sum(axis=-1), 1e-24))

    kept = power[lufs(power) > -70.0]
    if kept.size == 0:
        return -240.0
    relative = float(lufs(kept.mean(axis=0))) - 10.0
    kept = kept[lufs(kept) > relative]
    return float(lufs(kept.mean(axis=0)))


# -- tones over time ---------------------------------------------------------------------------


def tone_amplitude(x: np.ndarray, rate: int, freq: float, window_s: float = 0.02,
                   hop_s: float = 0.005) -> tuple[np.ndarray, np.ndarray]:
    """The amplitude of ``freq`` (channels averaged) in Hann windows: (window centres in
    seconds, amplitudes). A sine of amplitude A at ``freq`` reads A; a tone a few window
    bandwidths away reads ~0 (-50 dB at 4 bins)."""
    mono = as_frames(x).mean(axis=1)
    win, hop = max(8, int(window_s * rate)), max(1, int(hop_s * rate))
    if mono.size < win:
        return np.zeros(0), np.zeros(0)
    starts = np.arange(0, mono.size - win + 1, hop)
    hann = np.hanning(win)
    idx = starts[:, None] + np.arange(win)[None, :]
    phasor = np.exp(-2j * math.pi * freq * np.arange(win) / rate) * hann
    amps = 2.0 * np.abs((mono[idx] * phasor).sum(axis=1)) / hann.sum()
    return (starts + win / 2) / rate, amps


@dataclass(frozen=True)
class Overlap:
    """Where two tones sound at once, in seconds (the longest such stretch)."""

    start_s: float
    end_s: float

    @property
    def seconds(self) -> float:
        return self.end_s - self.start_s


def overlap(x: np.ndarray, rate: int, freq_a: float, freq_b: float,
            threshold_db: float = -30.0, window_s: float = 0.02) -> Overlap | None:
    """The longest stretch where both ``freq_a`` and ``freq_b`` are within ``threshold_db``
    of their own loudest (a crossfade: one fading out while the other fades in). Resolution:
    the 5 ms hop; the two frequencies must be a few ``1/window_s`` apart."""
    times, a = tone_amplitude(x, rate, freq_a, window_s)
    _, b = tone_amplitude(x, rate, freq_b, window_s)
    if times.size == 0 or a.max() <= 0 or b.max() <= 0:
        return None
    ratio = db_to_amplitude(threshold_db)
    both = (a >= ratio * a.max()) & (b >= ratio * b.max())
    edges = np.diff(np.concatenate(([0], both.astype(np.int8), [0])))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    if starts.size == 0:
        return None
    longest = int(np.argmax(ends - starts))
    hop = times[1] - times[0] if times.size > 1 else window_s
    return Overlap(float(times[starts[longest]] - hop / 2),
                   float(times[ends[longest] - 1] + hop / 2))


# -- where in a known signal ---------------------------------------------------------------------


@dataclass(frozen=True)
class Location:
    """A stretch of the recording found in the reference: ``offset`` (reference frame of the
    stretch's first frame) and ``score`` (normalised correlation, 1 = identical shape)."""

    offset: int
    score: float


def locate(segment: np.ndarray, reference: np.ndarray) -> Location:
    """Where ``segment`` best matches ``reference`` (mono; channels are averaged), by
    normalised cross-correlation through one FFT. Unique for a chirp; for a steady sine only
    up to whole periods."""
    seg = as_frames(segment).mean(axis=1)
    ref = as_frames(reference).mean(axis=1)
    m, n = seg.size, ref.size
    if m == 0 or m > n:
        raise ValueError("the segment must be non-empty and shorter than the reference")
    size = 1 << int(math.ceil(math.log2(n + m)))
    corr = np.fft.irfft(np.fft.rfft(ref, size) * np.conj(np.fft.rfft(seg, size)), size)[:n - m + 1]
    energy = np.concatenate(([0.0], np.cumsum(ref * ref)))
    window_energy = np.maximum(energy[m:] - energy[:-m], 1e-12)
    norm = corr / (np.sqrt(window_energy) * max(float(np.sqrt(np.sum(seg * seg))), 1e-12))
    best = int(np.argmax(norm))
    return Location(best, float(norm[best]))


# -- the recording's clock ---------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """Sample index <-> ``time.monotonic()`` of a recording made in real time.

    Built from arrival stamps (when the reader had received ``frames`` frames in all): a
    frame can arrive late (scheduling, buffering) but never before the sound server
    rendered it, so the earliest arrival relative to the nominal rate, ``t0``, is where frame
    0 was rendered. A null sink renders up to one block ahead of its own clock; a latency
    read through this clock can therefore be up to one block (the recorder's requested
    latency) short. ``spread_s`` is how late the latest stamp was against that line: a large
    value (> 0.1 s) means frames were lost or the recorder stalled, and times are unsure.
    """

    t0: float
    rate: int
    spread_s: float

    @classmethod
    def fit(cls, stamps: Sequence[tuple[float, int]], rate: int) -> Clock:
        """From ``(monotonic time, frames received so far)`` pairs."""
        if not stamps:
            raise ValueError("no arrival stamps: nothing was recorded")
        lags = np.array([t - n / rate for t, n in stamps])
        t0 = float(lags.min())
        return cls(t0, rate, float(lags.max() - t0))

    def frame_at(self, t: float) -> int:
        """The frame rendered at monotonic time ``t`` (may be negative or past the end)."""
        return int(round((t - self.t0) * self.rate))

    def time_of(self, frame: int) -> float:
        return self.t0 + frame / self.rate
