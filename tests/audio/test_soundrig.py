"""The rig's measurements (play, seek, pause, album) on a synthetic recording whose every
figure is known: a chirp or sine laid out with silences, fades, cuts and jumps at chosen
instants, and the app's events at chosen times, on a clock of our own."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bench import soundrig as rig
from bench.pulse import Take
from bench.soundcheck import Clock
from player.audiogen import CutAlbum, Tone

RATE = 44100
T0 = 100.0  # the recording's frame 0, in monotonic seconds
TONE = rig.SEEK_TONE


def frames(seconds: float) -> int:
    return int(round(seconds * RATE))


class Tape:
    """A recording built piece by piece, with the app's events."""

    def __init__(self) -> None:
        self.parts: list[np.ndarray] = []
        self.events: list[rig.Event] = []

    @property
    def now(self) -> float:
        return sum(len(p) for p in self.parts) / RATE

    def silence(self, seconds: float) -> None:
        self.parts.append(np.zeros(frames(seconds)))

    def content(self, from_s: float, seconds: float, fade_in: float = 0.0,
                fade_out: float = 0.0, tone: Tone = TONE) -> None:
        x = tone.render(RATE, frames(from_s), frames(seconds))
        if fade_in:
            x[:frames(fade_in)] *= np.linspace(0, 1, frames(fade_in))
        if fade_out:
            x[len(x) - frames(fade_out):] *= np.linspace(1, 0, frames(fade_out))
        self.parts.append(x)

    def event(self, name: str, at: float, **data) -> None:
        self.events.append(rig.Event(name, T0 + at, data))

    def run(self) -> rig.Run:
        x = np.concatenate(self.parts)
        return rig.Run(Take(np.stack([x, x], axis=1), RATE, Clock(T0, RATE, 0.0)),
                       sorted(self.events, key=lambda e: e.t), "synthetic")


def transport_tape(fade: float) -> rig.Run:
    tape = Tape()
    tape.silence(0.15)
    tape.event("play_track", 0.10, track=1)  # heard 50 ms later, from the start
    tape.content(0.0, 1.0013, fade_out=fade)  # stops off a zero crossing
    tape.event("pause", 1.1013)  # silent 50 ms later
    tape.silence(0.27)
    tape.event("play", 1.4013)  # heard again 20 ms later, where it stopped
    tape.content(1.0013, 0.58, fade_in=fade)
    tape.event("seek", tape.now - 0.03, ms=5000)  # new place after 30 ms, 10 ms early, no silence
    tape.content(4.990, 0.8)
    tape.event("seek", tape.now - 0.0, ms=1500)  # 50 ms of silence, then 20 ms late, fading in
    tape.silence(0.05)
    tape.content(1.520, 0.7, fade_in=0.005)
    return tape.run()


def test_play_latency_and_start() -> None:
    (play,) = rig.measure_plays(transport_tape(0.005))
    assert play.latency_ms == pytest.approx(50, abs=0.1)
    assert play.started_ms == pytest.approx(0, abs=0.1)


def test_seeks_latency_and_landing() -> None:
    first, second = rig.measure_seeks(transport_tape(0.005))
    assert first.target_ms == 5000 and second.target_ms == 1500
    assert first.latency_ms == pytest.approx(30, abs=0.2)
    assert first.error_ms == pytest.approx(-10, abs=0.2)
    # a fade-in counts from where it is a clear match (its first ms is too quiet to tell)
    assert second.latency_ms == pytest.approx(50, abs=1.5)
    assert second.error_ms == pytest.approx(20, abs=1.5)


def test_a_faded_pause_is_clean_and_skips_nothing() -> None:
    (pause,) = rig.measure_pauses(transport_tape(0.005))
    assert pause.clean and pause.click < 0.01
    assert abs(pause.skipped_ms) < 0.5  # the fades' quietest frames only
    assert pause.pause_ms == pytest.approx(50, abs=0.5)
    assert pause.resume_ms == pytest.approx(20, abs=0.5)


def test_a_hard_pause_clicks() -> None:
    (pause,) = rig.measure_pauses(transport_tape(0.0))
    assert not pause.clean and pause.click > 0.2


def test_a_resume_that_skips_is_measured() -> None:
    tape = Tape()
    tape.content(0.0, 1.0, fade_out=0.005)
    tape.event("pause", 0.95)
    tape.silence(0.3)
    tape.event("play", 1.25)
    tape.content(1.250, 0.5, fade_in=0.005)  # 250 ms of the track lost across the pause
    (pause,) = rig.measure_pauses(tape.run())
    assert pause.skipped_ms == pytest.approx(250, abs=0.5)


def album_tape(middle: np.ndarray) -> tuple[rig.Run, CutAlbum]:
    tone = Tone(441.0)
    album = CutAlbum([], [0, frames(1.5)], frames(3.0), tone, RATE, "flac")
    x = tone.render(RATE, 0, frames(3.0))
    tape = Tape()
    tape.silence(0.1)
    tape.event("play", 0.05)
    tape.parts.append(np.concatenate([x[:frames(1.5)], middle, x[frames(1.5):]]))
    tape.silence(0.1)
    return tape.run(), album


def test_a_seamless_album() -> None:
    run, album = album_tape(np.zeros(0))
    figures = rig.measure_album(run, album)
    assert figures.seamless and figures.gap_ms < 0.05 and figures.jump < 1e-6
    assert figures.audible_s == pytest.approx(3.0, abs=1e-4)
    assert figures.play_ms == pytest.approx(50, abs=0.1)


def test_an_album_with_a_gap_or_a_jump() -> None:
    gap, album = album_tape(np.zeros(frames(0.0103)))
    figures = rig.measure_album(gap, album)
    assert not figures.seamless and figures.gap_ms == pytest.approx(10.3, abs=0.1)
    assert figures.gap_at_s == pytest.approx(0.1 + 1.5, abs=0.001)
    tone = Tone(441.0)
    shifted, _ = album_tape(tone.render(RATE, 0, 37))  # 37 frames out of phase
    figures = rig.measure_album(shifted, album)
    assert figures.gap_ms < 0.05 and figures.jump > rig.MAX_JUMP and not figures.seamless
    assert math.isclose(figures.jump_at_s, 1.6, abs_tol=0.002)


def test_span_and_cpu_share() -> None:
    run, _ = album_tape(np.zeros(0))
    first, last = run.span(run.times("play")[0])
    assert first == frames(0.1) + 1 and last == frames(3.1) - 1  # the sine's zero ends
    run.events = [rig.Event("ready", T0, {"cpu": 1.0}), *run.events,
                  rig.Event("end", T0 + 4.0, {"cpu": 1.2})]
    assert run.cpu_share() == pytest.approx(0.05)
