"""A private PulseAudio server with a null sink: a real audio device on a headless machine.

Used by the real-playback tests and the soak benchmark::

    with private_pulse(tmp) as env:   # env: the variables that point clients at it
        subprocess.run([...], env=env)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

SINK = "segue_null"


def available() -> bool:
    return all(shutil.which(t) for t in ("pulseaudio", "pactl", "parec"))


@contextlib.contextmanager
def private_pulse(workdir: Path) -> Iterator[dict[str, str]]:
    """Start pulseaudio (its own runtime dir under ``workdir``), default sink a null sink."""
    runtime = workdir / "pulse-runtime"
    runtime.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime),
           "PULSE_RUNTIME_PATH": str(runtime / "pulse"), "HOME": str(workdir)}
    env.pop("PULSE_SERVER", None)
    subprocess.run(["pulseaudio", "-D", "--exit-idle-time=-1", "--disallow-exit", "-n",
                    "--load=module-native-protocol-unix",
                    f"--load=module-null-sink sink_name={SINK}"],
                   env=env, check=True, capture_output=True, timeout=30)
    try:
        deadline = time.monotonic() + 15
        while subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("pulseaudio did not start")
            time.sleep(0.2)
        yield env
    finally:
        subprocess.run(["pactl", "exit"], env=env, capture_output=True, timeout=10)
        subprocess.run(["pulseaudio", "--kill"], env=env, capture_output=True, timeout=10)
