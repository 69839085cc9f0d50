"""The audio process's logic on a clock output (no device, time moved by the test): what is
written and when each track is heard, through loads, gapless joins, seeks, pauses and ends.

The decoder thread is real (it decodes real files); the clock only moves once the decoder
has caught up, so that the figures do not depend on how busy the machine is.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from player.audiogen import Tone, cut_album, write_wav
from player.playback.audioproc import AudioProcess, Events
from player.playback.output import ClockOutput

RATE = 44100
TICK_S = 0.005


class Lines:
    """Captures the event lines the process writes to the app."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def write(self, line: str) -> None:
        self.events.append(json.loads(line))

    def flush(self) -> None:
        pass

    def named(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["ev"] == name]


class Rig:
    def __init__(self) -> None:
        self.now = 0.0
        self.lines = Lines()
        self.out = ClockOutput(RATE, 60, clock=lambda: self.now)
        self.proc = AudioProcess(self.out, Events(self.lines), clock=lambda: self.now)
        self.proc.decoder.start()
        self.gen = 0
        self.written: list[np.ndarray] = []
        real_write = self.out.write

        def recording_write(samples: np.ndarray) -> int:
            n = real_write(samples)
            self.written.append(np.array(samples[:n]))
            return n

        self.out.write = recording_write  # type: ignore[method-assign]

    def send(self, cmd: str, **fields: Any) -> None:
        if cmd in ("load", "seek", "stop"):
            self.gen += 1
            fields["gen"] = self.gen
        self.proc.dispatch({"cmd": cmd, **fields})

    def run(self, seconds: float) -> None:
        for _ in range(round(seconds / TICK_S)):
            deadline = time.monotonic() + 10
            while not self.proc.decoder.settled() and time.monotonic() < deadline:
                time.sleep(0.001)
            self.now += TICK_S
            self.proc.writer.tick()

    def sound(self) -> np.ndarray:
        return np.concatenate(self.written)[:, 0] if self.written else np.zeros(0)

    def close(self) -> None:
        self.proc.dispatch({"cmd": "quit"})
        self.proc.decoder.join(5)


@pytest.fixture
def rig():
    r = Rig()
    yield r
    r.close()


def cue(path: Path, tag: int, **extra: Any) -> dict[str, Any]:
    return {"path": str(path), "tag": tag, **extra}


def test_an_album_is_heard_gaplessly_and_each_start_is_reported(rig: Rig, tmp_path) -> None:
    album = cut_album(tmp_path, "flac", seconds=(0.4, 0.3))
    rig.send("load", cue=cue(album.paths[0], 1))
    rig.send("set_next", cue=cue(album.paths[1], 2))
    rig.send("play")
    rig.run(1.2)
    started = rig.lines.named("started")
    assert [e["tag"] for e in started] == [1, 2]
    assert [e["tag"] for e in rig.lines.named("ended")] == [2]
    x = rig.sound()
    audible = np.flatnonzero(np.abs(x) > 1e-4)
    music = x[audible[0]:audible[-1] + 1]
    assert len(music) == pytest.approx(album.frames, abs=2)  # nothing inserted, nothing lost
    assert rig.proc.writer.underruns == 0


def test_a_seek_back_after_the_decoder_reached_the_end(rig: Rig, tmp_path) -> None:
    """The decoder runs seconds ahead: it may be done with a track still sounding."""
    chirp = Tone(freq=300, sweep=150)
    album = cut_album(tmp_path, "flac", seconds=(2.0,), tone=chirp)
    rig.send("load", cue=cue(album.paths[0], 1))
    rig.send("play")
    rig.run(0.3)
    rig.send("seek", ms=1500, tag=1)
    rig.run(0.2)
    rig.send("seek", ms=200, tag=1)  # the decoder had decoded to the end
    rig.run(0.3)
    positions = [e["ms"] for e in rig.lines.named("pos") if e["gen"] == rig.gen]
    assert positions and 200 <= positions[0] < 300 and positions[-1] > 350


def test_a_seek_in_a_track_the_decoder_left_reopens_it_and_the_next_follows(
        rig: Rig, tmp_path) -> None:
    album = cut_album(tmp_path, "wav", seconds=(1.0, 1.0))
    rig.send("load", cue=cue(album.paths[0], 1))
    rig.send("set_next", cue=cue(album.paths[1], 2))
    rig.send("play")
    rig.run(0.2)  # the decoder is already in track 2; track 1 sounds
    rig.send("seek", ms=600, tag=1)
    rig.run(1.0)
    assert [e["tag"] for e in rig.lines.named("started")] == [1, 2]
    after_seek = [e for e in rig.lines.named("pos") if e["gen"] == rig.gen]
    assert after_seek[0]["tag"] == 1 and 600 <= after_seek[0]["ms"] < 700
    assert after_seek[-1]["tag"] == 2  # and the album went on


def test_pause_and_resume_fade_instead_of_cutting(rig: Rig, tmp_path) -> None:
    wav = tmp_path / "tone.wav"
    write_wav(wav, np.repeat(Tone().render(RATE, 0, RATE)[:, None], 2, axis=1), RATE)
    rig.send("load", cue=cue(wav, 1))
    rig.send("play")
    rig.run(0.2)
    rig.send("pause")
    rig.run(0.2)
    rig.send("play")
    rig.run(0.2)
    x = rig.sound()
    steps = np.abs(np.diff(x))
    # the tone's own largest step is 2*pi*441/44100*0.5 = 0.031; a cut would be ~0.5
    assert steps.max() < 0.05
    assert [e["state"] for e in rig.lines.named("state")] == ["playing", "paused", "playing"]


def test_a_file_that_yields_no_sound_fails_instead_of_ending(rig: Rig, tmp_path) -> None:
    empty = tmp_path / "empty.wav"
    write_wav(empty, np.zeros((0, 2)), RATE)
    rig.send("load", cue=cue(empty, 7))
    rig.send("play")
    rig.run(0.2)
    assert [e["tag"] for e in rig.lines.named("failed")] == [7]
    assert rig.lines.named("ended") == []


def test_a_sink_latency_above_the_target_is_counted_apart() -> None:
    """PulseAudio's latency is our buffer plus the sink's; when the sink's own part rose
    above the target, nothing was ever free again and the music stopped for good."""
    from player.playback.output import SinkFloor

    rate, target = 1000, 60  # frames at 1 kHz: one per ms
    floor = SinkFloor(rate, target)
    assert floor.ours(55, 0.00) == 55  # the sum, as before: nothing known of the sink yet
    t, ours = 0.0, []
    for _ in range(20):  # our buffer is empty; the sink alone holds 80-90 ms
        t += 0.01
        ours.append(floor.ours(80 + int(t * 1000) % 10, t))
    assert ours[0] >= target  # at first: nothing free
    assert ours[-1] < target and floor.floor >= 80  # then the sink's part is taken off
    assert floor.ours(floor.floor + 30, t + 0.01) == 30  # our own frames, counted alone
    assert floor.ours(20, t + 0.02) == 0 and floor.floor == 20  # a lower sink: followed down
