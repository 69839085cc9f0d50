"""Real-audio fixtures: the app on a chosen backend, recorded from a private PulseAudio.

The backend under test: ``SEGUE_AUDIO_BACKEND`` (default: ``stream`` where the app has it,
else ``qt``); the server configuration: ``SEGUE_AUDIO_CONFIG`` (``default``, ``minimal`` or
``both``; default ``default``, PulseAudio as on a desktop). One app start per module plays
everything a module measures (starting the app takes seconds).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pytest

from bench import pulse, soundrig
from player.audiogen import CutAlbum, Tone, available_formats, cut_album
from player.playback import BACKENDS

ENV_BACKEND = "SEGUE_AUDIO_BACKEND"
ENV_CONFIG = "SEGUE_AUDIO_CONFIG"
#: A flac album whose second file's name is Latin-1, not UTF-8.
NON_UTF8 = "non-utf8"


def backend_under_test() -> str:
    name = os.environ.get(ENV_BACKEND) or ("stream" if "stream" in BACKENDS else "qt")
    if name not in BACKENDS:
        raise pytest.UsageError(f"{ENV_BACKEND}={name!r}: the app has {', '.join(BACKENDS)}")
    return name


def configs_under_test() -> list[str]:
    value = os.environ.get(ENV_CONFIG, "default")
    return list(pulse.CONFIGS) if value == "both" else [value]


def known_to_fail_on_qt(request: pytest.FixtureRequest, backend: str, what: str) -> None:
    """QMediaPlayer opens a new output stream per track, stops the sound dead on pause and
    seeks to a codec frame: on ``qt`` these tests must fail (strict xfail), which shows they
    can."""
    if backend == "qt":
        request.applymarker(pytest.mark.xfail(strict=True, reason=f"qt backend: {what}"))


@dataclass
class Session:
    """One app run: each album in turn, then the transport scenario on the chirp track."""

    backend: str
    config: str
    run: soundrig.Run
    albums: dict[str, CutAlbum]
    played: list[str]  # album keys in the order they were started
    refused: list[str]  # albums the scanner did not take whole

    def album(self, key: str) -> soundrig.AlbumFigures:
        return soundrig.measure_album(self.run, self.albums[key], self.played.index(key))


@pytest.fixture(scope="module", params=configs_under_test())
def session(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Session:
    config = request.param
    if not pulse.available(config):
        pytest.skip(f"pulseaudio/pactl/parec (or {pulse.SYSTEM_DEFAULT_PA}) not installed")
    backend = backend_under_test()
    tmp = tmp_path_factory.mktemp(f"sound-{config}")
    formats = [f for f in soundrig.GAPLESS_FORMATS if f in available_formats()]
    albums = {fmt: cut_album(tmp / "music" / fmt, fmt) for fmt in formats}
    albums[NON_UTF8] = cut_album(tmp / "music" / NON_UTF8, "flac", tone=Tone(freq=441.0),
                                 names=[b"01 plain", b"02 caf\xe9 latin-1"])
    chirp = soundrig.chirp_track(tmp / "music" / "chirp")
    keys = list(albums)
    with pulse.private_pulse(tmp, config) as env:
        ids = soundrig.prepare(tmp / "data", [*albums.values(), chirp])
        whole = [k for k, i in zip(keys, ids) if len(i) == len(albums[k].paths)]
        steps = soundrig.session_steps([ids[keys.index(k)] for k in whole], ids[-1][0])
        run = soundrig.run_app(env, tmp / "data", steps, backend)
    return Session(backend, config, run, albums, whole, [k for k in keys if k not in whole])
