"""The private PulseAudio server in both configurations, and its recorder, checked against a
known player (``pacat`` playing a known chirp): what the rig measures is the sound, not an
artefact of the recording."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import numpy as np
import pytest

from bench import pulse
from bench import soundcheck as sc
from player.audiogen import Tone

pytestmark = pytest.mark.audio


@pytest.fixture(params=pulse.CONFIGS)
def server(request, tmp_path: Path):
    if not pulse.available(request.param):
        pytest.skip(f"pulseaudio/pactl/parec (or {pulse.SYSTEM_DEFAULT_PA}) not installed")
    with pulse.private_pulse(tmp_path, request.param) as env:
        yield request.param, env


def test_each_configuration_starts_with_its_modules(server) -> None:
    config, env = server
    loaded = pulse.modules(env)
    assert "module-null-sink" in loaded
    info = subprocess.run(["pactl", "info"], env=env, capture_output=True, text=True).stdout
    assert f"Default Sink: {pulse.SINK}" in info
    desktop = {"module-suspend-on-idle", "module-stream-restore", "module-always-sink"}
    if config == "default":
        assert desktop <= set(loaded)
    else:
        assert not desktop & set(loaded)


def test_unknown_configuration_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown PulseAudio configuration"):
        with pulse.private_pulse(tmp_path, "studio"):
            pass


def test_the_recorder_hears_a_known_stream_whole_and_in_place(server) -> None:
    """pacat plays 2 s of a chirp: the recording holds it without a gap or a jump, from its
    first milliseconds to its last sample, and its clock places the sound after the press."""
    _config, env = server
    rate = pulse.sink_spec(env).rate
    tone = Tone(300.0, 0.5, 150.0)
    ref = tone.render(rate, 0, 2 * rate)
    pcm = (np.repeat(ref[:, None], 2, axis=1) * 32767).astype("<i2").tobytes()
    with pulse.Recorder(env) as rec:
        pressed = time.monotonic()
        subprocess.run(["pacat", "--raw", "--format=s16le", f"--rate={rate}", "--channels=2"],
                       input=pcm, env=env, check=True, timeout=30)
        # wait until the end of the stream has reached the recorder (its clock, not a sleep)
        deadline = time.monotonic() + 10
        target = rec.frames + rate // 2
        while rec.frames < target and time.monotonic() < deadline:
            time.sleep(0.05)
    take = rec.take()
    x = take.samples
    first, last = sc.first_audible(x), sc.last_audible(x)
    assert first is not None and last is not None
    heard = x[first:last + 1]
    assert sc.longest_silence(heard, rate).ms < 0.1
    assert sc.largest_jump(heard[200:-200], rate).size < 0.01
    start = sc.locate(heard[:4096], ref)
    end = sc.locate(heard[-4096:], ref)
    assert start.score > 0.99 and end.score > 0.99
    assert start.offset < rate * 0.005  # at most the first block of a new stream is missed
    assert end.offset + 4096 == len(ref)  # to the last sample
    assert take.clock.time_of(first) > pressed
    assert take.clock.spread_s < 0.5  # the recorder kept up
