"""The audio process's outputs against a real (private) PulseAudio: the server keeps what
was written, the clock of what was heard advances, and an absent server is a clean error."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from bench import pulse
from player.playback.output import OutputError, PulseOutput, open_output

pytestmark = pytest.mark.audio


@pytest.fixture
def server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    if not pulse.available("minimal"):
        pytest.skip("pulseaudio/pactl/parec not installed (bash .ci/install installs them)")
    with pulse.private_pulse(tmp_path, "minimal") as env:
        for key in ("XDG_RUNTIME_DIR", "PULSE_RUNTIME_PATH", "HOME"):
            monkeypatch.setenv(key, env[key])
        yield env


def test_pulse_output_keeps_the_buffer_in_the_server(server) -> None:
    out = PulseOutput(44100, buffer_ms=60)
    try:
        tone = (0.1 * np.sin(np.arange(4410) / 10)).astype(np.float32)
        block = np.repeat(tone[:, None], 2, axis=1)
        written = 0
        deadline = time.monotonic() + 10
        while written < 5 * len(block) and time.monotonic() < deadline:
            free = max(0, out.capacity - out.buffered_frames())
            if free:
                written += out.write(block[:free])
            time.sleep(0.005)
        assert written >= 5 * len(block)  # the server keeps taking it, in real time
        # Never more than the target ahead (plus what one write may add).
        assert out.buffered_frames() <= 2 * 44100 * 60 // 1000
    finally:
        out.close()


def test_no_server_is_an_output_error_and_the_clock_takes_over(tmp_path: Path,
                                                              monkeypatch) -> None:
    monkeypatch.setenv("PULSE_SERVER", f"unix:{tmp_path / 'nothing-here'}")
    monkeypatch.setenv("PULSE_RUNTIME_PATH", str(tmp_path))
    monkeypatch.setenv("SEGUE_AUDIO_OUTPUT", "pulse")
    with pytest.raises(OutputError):
        PulseOutput(44100)
    monkeypatch.setenv("SEGUE_AUDIO_OUTPUT", "clock")
    assert open_output().name == "clock"
    assert "PULSE_SERVER" in os.environ
