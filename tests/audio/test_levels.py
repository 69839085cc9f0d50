"""ReplayGain levels and crossfades, measured from recorded audio (issue 10, items 4, 5, 8).

One app run on a private PulseAudio (desktop configuration), ReplayGain "track", crossfade
2 s, plays in turn: a FLAC track tagged -6 dB (Vorbis comment), an MP3 tagged +3 dB (ID3
TXXX), an album of two tracks cut from one sine (the crossfade must not touch it: an album
played in order stays gapless), then two single tracks of different albums, 441 Hz then
882 Hz (a transition between albums: they must overlap for the crossfade's length).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
import pytest

from bench import pulse, soundrig
from bench import soundcheck as sc
from player.audiogen import CutAlbum, Tone, available_formats, cut_album

pytestmark = [pytest.mark.audio, pytest.mark.slow]

CROSSFADE_S = 2
AMPLITUDE = 0.5  # every tone's level in its file (-6 dBFS)
#: (format, tag, gain dB): each tagged the way its family stores ReplayGain.
TAGGED = [("flac", "REPLAYGAIN_TRACK_GAIN", -6.0), ("mp3", "REPLAYGAIN_TRACK_GAIN", 3.0)]


@dataclass
class LevelsRun:
    run: soundrig.Run
    albums: dict[str, CutAlbum]
    order: list[str]  # album keys in the order their "play" was pressed

    def heard(self, key: str) -> np.ndarray:
        """The recording from this album's press of play to the next press."""
        presses = self.run.times("play")
        i = self.order.index(key)
        start = self.run.frame(presses[i])
        end = self.run.frame(presses[i + 1]) if i + 1 < len(presses) else None
        return self.run.take.samples[start:end]


@pytest.fixture(scope="module")
def levels(tmp_path_factory: pytest.TempPathFactory) -> LevelsRun:
    if not pulse.available("default"):
        pytest.skip("pulseaudio/pactl/parec not installed")
    missing = {fmt for fmt, _, _ in TAGGED} - set(available_formats())
    if missing:
        pytest.skip(f"no encoder for {', '.join(sorted(missing))} on this machine")
    tmp = tmp_path_factory.mktemp("levels")
    music = tmp / "music"
    albums: dict[str, CutAlbum] = {}
    for fmt, tag, db in TAGGED:
        albums[f"rg-{fmt}"] = cut_album(
            music / f"rg-{fmt}", fmt, seconds=(2.0,), tone=Tone(441.0, AMPLITUDE),
            album=f"Gain {db:+g}", gain_tags=((tag, f"{db:+.2f} dB"),
                                              ("REPLAYGAIN_TRACK_PEAK", f"{AMPLITUDE:.6f}")))
    albums["album"] = cut_album(music / "album", "flac", seconds=(1.5, 1.5),
                                tone=Tone(441.0, AMPLITUDE), album="In order")
    albums["fade-a"] = cut_album(music / "fade-a", "flac", seconds=(4.0,),
                                 tone=Tone(441.0, AMPLITUDE), album="First", artist="A")
    albums["fade-b"] = cut_album(music / "fade-b", "flac", seconds=(4.0,),
                                 tone=Tone(882.0, AMPLITUDE), album="Second", artist="B")
    keys = list(albums)
    with pulse.private_pulse(tmp, "default") as env:
        ids = soundrig.prepare(tmp / "data", list(albums.values()),
                               replaygain_mode="track", crossfade_s=CROSSFADE_S)
        assert all(len(i) == len(albums[k].paths) for k, i in zip(keys, ids)), ids
        by_key = dict(zip(keys, ids))
        steps = [s for k in ("rg-flac", "rg-mp3", "album") for s in soundrig.album_steps(by_key[k])]
        steps += soundrig.album_steps(by_key["fade-a"] + by_key["fade-b"])
        run = soundrig.run_app(env, tmp / "data", steps, "stream")
    return LevelsRun(run, albums, ["rg-flac", "rg-mp3", "album", "fade-a"])


def steady_level(x: np.ndarray, rate: int, freq: float) -> float:
    """The amplitude of ``freq`` over the tone's body (not its edges)."""
    _, amps = sc.tone_amplitude(x, rate, freq)
    return float(np.median(amps[amps > 0.5 * amps.max()]))


def file_level(path: Path, freq: float) -> float:
    """The tone's amplitude as the file decodes (a lossy codec moves it a little: the
    target is the file's own level plus its gain, not the level it was encoded from)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        planar = av.AudioResampler(format="dblp")  # float, one row per channel: take one
        chunks = [out.to_ndarray()[0] for frame in container.decode(stream)
                  for out in planar.resample(frame)]
        rate = stream.rate
    return steady_level(np.concatenate(chunks), rate, freq)


@pytest.mark.parametrize(("fmt", "db"), [(fmt, db) for fmt, _, db in TAGGED])
def test_a_tagged_track_plays_at_its_replaygain_level(levels: LevelsRun, fmt: str,
                                                      db: float) -> None:
    heard = steady_level(levels.heard(f"rg-{fmt}"), levels.run.take.rate, 441.0)
    source = file_level(levels.albums[f"rg-{fmt}"].paths[0], 441.0)
    heard_db = 20 * math.log10(heard / source)
    # Issue 10's target is 0.5 dB; the recording path (float -> s16 -> parec) is exact to
    # ~0.001 dB, so the bound is tighter: a peak limit or a pre-amp that crept in would show.
    assert heard_db == pytest.approx(db, abs=0.1), (fmt, heard_db)


def test_an_album_in_order_stays_gapless_with_crossfade_on(levels: LevelsRun) -> None:
    figures = soundrig.measure_album(levels.run, levels.albums["album"],
                                     levels.order.index("album"))
    underruns = [e.data for e in levels.run.events if e.name == "underruns"]
    assert figures.gap_ms < soundrig.MAX_GAP_MS and figures.jump < soundrig.MAX_JUMP, \
        (figures, underruns, levels.run.log[-3000:])
    assert figures.audible_s == pytest.approx(figures.expected_s, abs=0.001), figures


def test_tracks_of_different_albums_crossfade(levels: LevelsRun) -> None:
    x, rate = levels.heard("fade-a"), levels.run.take.rate
    both = sc.overlap(x, rate, 441.0, 882.0)
    assert both is not None, "the two tracks never sounded together"
    # Where both tones are within 30 dB of their loudest: most of the fade (the ends of an
    # equal-power or linear ramp lie below -30 dB for a few percent of its length).
    assert CROSSFADE_S * 0.8 <= both.seconds <= CROSSFADE_S * 1.05, both
    # and the sound never dips out in between
    span = x[sc.first_audible(x):sc.last_audible(x)]
    assert sc.longest_silence(span, rate).ms < soundrig.MAX_GAP_MS
