"""Sample-exact decoding and joining, without an audio device: the samples the pipeline
hands to the output are compared with the signal the files were cut from.

The audible version of these checks (through PulseAudio, recorded) is tests/audio.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from player.audiogen import FORMATS, Tone, available_formats, cut_album, write_wav
from player.playback.cue import Cue
from player.playback.decoder import DecodeError, TrackDecoder
from player.playback.pipeline import Block, Pipeline

GAPLESS = ["wav", "flac", "vorbis", "opus", "mp3", "aac"]
#: Largest difference from the uncut signal (amplitude 0.5): lossless formats reproduce it
#: to the 16-bit step; lossy ones to their coding noise, far below a gap or a jump (~0.5).
TOLERANCE = {"wav": 1e-3, "flac": 1e-3, "wavpack": 1e-3}
LOSSY_TOLERANCE = 0.06


def _formats(names: list[str]) -> list[str]:
    have = set(available_formats())
    return [f for f in names if f in have]


def _read_all(decoder: TrackDecoder) -> np.ndarray:
    blocks = []
    while (block := decoder.read()) is not None:
        blocks.append(block)
    return np.concatenate(blocks)


def _drain(pipeline: Pipeline) -> list[Block]:
    blocks = []
    while (block := pipeline.produce()) is not None:
        blocks.append(block)
    return blocks


@pytest.mark.parametrize("fmt", _formats(GAPLESS))
def test_two_tracks_cut_from_one_signal_join_sample_exactly(tmp_path: Path, fmt: str) -> None:
    album = cut_album(tmp_path, fmt, seconds=(1.3, 1.1))
    pipeline = Pipeline(album.rate)  # no rate conversion: the signal's own samples
    pipeline.load(Cue(str(album.paths[0]), tag=1))
    pipeline.set_next(Cue(str(album.paths[1]), tag=2))
    blocks = _drain(pipeline)
    first = sum(len(b) for b in blocks if b.tag == 1)
    out = np.concatenate([b.samples for b in blocks])
    assert first == album.starts[1]  # the first track's exact length: delay and padding gone
    assert len(out) == album.frames  # and the album's
    assert [b.frame for b in blocks if b.tag == 2][0] == 0
    reference = album.tone.render(album.rate, 0, album.frames)
    error = np.abs(out[:, 0] - reference).max()
    assert error < TOLERANCE.get(fmt, LOSSY_TOLERANCE), error


@pytest.mark.parametrize("fmt", _formats(["wav", "flac", "vorbis", "opus", "mp3", "aac"]))
def test_a_seek_lands_on_the_very_sample(tmp_path: Path, fmt: str) -> None:
    chirp = Tone(freq=200, sweep=900, amplitude=0.5)  # every stretch unique
    album = cut_album(tmp_path, fmt, seconds=(3.0,), tone=chirp)
    with TrackDecoder(str(album.paths[0])) as whole:
        full = _read_all(whole)
    for target in (1234, album.rate + 4321, 2 * album.rate + 7):
        with TrackDecoder(str(album.paths[0])) as dec:
            dec.seek(target)
            block = dec.read()
        n = min(len(block), 512)
        # exactly the samples a decode from the start gives there
        assert np.abs(block[:n] - full[target:target + n]).max() < 1e-4, (fmt, target)


def test_a_file_name_that_is_not_utf8_plays(tmp_path: Path) -> None:
    name = b"caf\xe9 \xff"  # Latin-1 bytes: no UTF-8 spelling
    album = cut_album(tmp_path, "flac", seconds=(0.5,), names=[name])
    path = album.paths[0]
    assert os.fsencode(path).endswith(name + b".flac")
    with TrackDecoder(str(path)) as dec:
        assert len(_read_all(dec)) == album.frames


def test_mono_plays_on_both_channels_at_full_level(tmp_path: Path) -> None:
    wav = tmp_path / "mono.wav"
    write_wav(wav, Tone().render(44100, 0, 4410), 44100)
    with TrackDecoder(str(wav)) as dec:
        block = dec.read()
    assert block.shape[1] == 2 and np.array_equal(block[:, 0], block[:, 1])
    assert np.abs(block).max() == pytest.approx(0.5, abs=1e-3)  # not 3 dB down


@pytest.mark.parametrize("content", [b"", b"not audio at all" * 100])
def test_what_is_not_audio_is_a_decode_error(tmp_path: Path, content: bytes) -> None:
    bad = tmp_path / "bad.mp3"
    bad.write_bytes(content)
    with pytest.raises(DecodeError):
        TrackDecoder(str(bad))
    with pytest.raises(DecodeError, match="No such file"):
        TrackDecoder(str(tmp_path / "gone.flac"))


def test_rates_are_converted_and_joined_without_a_seam(tmp_path: Path) -> None:
    """Two 48 kHz tracks on a 44.1 kHz output: one converter across the join."""
    album = cut_album(tmp_path, "flac", seconds=(0.7, 0.6), rate=48000)
    pipeline = Pipeline(44100)
    pipeline.load(Cue(str(album.paths[0]), tag=1))
    pipeline.set_next(Cue(str(album.paths[1]), tag=2))
    out = np.concatenate([b.samples for b in _drain(pipeline)])[:, 0]
    assert abs(len(out) - album.frames * 44100 / 48000) <= 2
    reference = album.tone.render(44100, 0, len(out))
    body = slice(200, len(out) - 200)  # the converter's own edges at the very start and end
    assert np.abs(out[body] - reference[body]).max() < 2e-3


def test_a_crossfade_overlaps_and_trims_silence(tmp_path: Path) -> None:
    rate = 44100
    quiet = np.zeros(rate // 4)
    a, b = tmp_path / "a.wav", tmp_path / "b.wav"
    write_wav(a, np.concatenate([Tone(330).render(rate, 0, rate), quiet]), rate)
    write_wav(b, np.concatenate([quiet, Tone(550).render(rate, 0, rate)]), rate)
    pipeline = Pipeline(rate)
    pipeline.load(Cue(str(a), tag=1, trim_end_ms=250))
    pipeline.set_next(Cue(str(b), tag=2, crossfade_ms=500, trim_start_ms=250))
    blocks = _drain(pipeline)
    total = sum(len(x) for x in blocks)
    assert total == rate + rate - rate // 2  # both sounds, minus the overlap, no silences
    mixed = [x for x in blocks if x.gain_applied]
    assert len(mixed) == 1 and len(mixed[0]) == rate // 2 and mixed[0].tag == 2
    out = np.concatenate([x.samples for x in blocks])[:, 0]
    # No dip in the middle of the fade (equal power), no silence anywhere.
    windows = out[: len(out) // 441 * 441].reshape(-1, 441)
    rms = np.sqrt((windows ** 2).mean(axis=1))
    assert rms.min() > 0.25


def test_a_late_next_track_still_follows_on(tmp_path: Path) -> None:
    """The decoder reached the end before the next track was known (a short track, a late
    pick): the next one is set afterwards and its samples follow all the same."""
    album = cut_album(tmp_path, "wav", seconds=(0.3, 0.3))
    pipeline = Pipeline(album.rate)
    pipeline.load(Cue(str(album.paths[0]), tag=1))
    blocks = _drain(pipeline)
    pipeline.set_next(Cue(str(album.paths[1]), tag=2))
    assert pipeline.resume_with_next()
    blocks += _drain(pipeline)
    out = np.concatenate([b.samples for b in blocks])[:, 0]
    assert len(out) == album.frames
    assert np.abs(out - album.tone.render(album.rate, 0, album.frames)).max() < 1e-3


def test_formats_table_names_the_gapless_ones() -> None:
    assert set(GAPLESS) <= set(FORMATS)
