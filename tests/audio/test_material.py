"""The measurement material is right before anything is measured with it: decoded by each
format's reference decoder and joined, the tracks of a cut album are the uncut signal (no
gap, no jump), in track order of one album; and a name that is not UTF-8 can be made."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench import soundcheck as sc
from bench.soundrig import GAPLESS_FORMATS, MAX_JUMP
from player.audiogen import FORMATS, Tone, cut_album
from player.library.tags import read_tags

#: format -> (reference decoder command, output rate); FFmpeg for the formats it decodes
#: exactly, the codecs' own tools for the others (FFmpeg 5.1's CLI leaves Vorbis mistrimmed).
DECODERS = {
    "wav": (["ffmpeg", "-nostdin", "-loglevel", "error", "-i", "{}", "-f", "s16le", "-"], 44100),
    "flac": (["flac", "-s", "-d", "--force-raw-format", "--endian=little", "--sign=signed",
              "-c", "-o", "-", "{}"], 44100),
    "vorbis": (["oggdec", "-Q", "-R", "-o", "-", "{}"], 44100),
    "opus": (["opusdec", "--quiet", "--rate", "48000", "{}", "-"], 48000),
    "mp3": (["lame", "--quiet", "--decode", "-t", "{}", "-"], 44100),
    "aac": (["ffmpeg", "-nostdin", "-loglevel", "error", "-i", "{}", "-f", "s16le", "-"], 44100),
}


def decode(path: Path, fmt: str) -> tuple[np.ndarray, int]:
    cmd, rate = DECODERS[fmt]
    if not shutil.which(cmd[0]):
        pytest.skip(f"{cmd[0]} is not installed")
    raw = subprocess.run([os.fsdecode(path) if c == "{}" else c for c in cmd],
                         capture_output=True, check=True, timeout=60).stdout
    x = sc.from_s16le(raw, 2)
    if fmt == "aac":  # FFmpeg trims the priming but not the padding: the edit list's length
        probe = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "a:0",
                                "-show_entries", "stream=duration_ts", "-of", "csv=p=0",
                                os.fsdecode(path)], capture_output=True, text=True, check=True)
        x = x[:int(probe.stdout.strip())]
    return x, rate


@pytest.mark.parametrize("fmt", GAPLESS_FORMATS)
def test_a_cut_album_joins_back_into_the_uncut_sine(fmt: str, tmp_path: Path) -> None:
    if not all(shutil.which(t) for t in FORMATS[fmt][1]):
        pytest.skip(f"no encoder for {fmt}")
    album = cut_album(tmp_path, fmt, (0.7, 0.6, 0.5))
    parts = [decode(p, fmt) for p in album.paths]
    rate = parts[0][1]
    joined = np.concatenate([x for x, _ in parts])
    assert len(joined) == round(album.seconds * rate)  # delay and padding trimmed exactly
    assert sc.longest_silence(joined, rate).ms < 0.05
    inner = joined[100:-100]
    # the material leaves room under the playback threshold (aac reaches 0.024)
    assert sc.largest_jump(inner, rate, album.tone.freq).size < 0.6 * MAX_JUMP
    tags = [read_tags(p) for p in album.paths]
    assert [t.track_number for t in tags] == [1, 2, 3]
    assert len({t.album for t in tags}) == 1 and tags[0].album


def test_the_decoders_would_catch_a_mistrimmed_join(tmp_path: Path) -> None:
    """The check above can fail: the same MP3s decoded without the LAME header's trim."""
    if not shutil.which("lame"):
        pytest.skip("lame is not installed")
    album = cut_album(tmp_path, "mp3", (0.7, 0.6))
    raw = [subprocess.run(["lame", "--quiet", "--decode", "-t", "--decode-mp3delay", "0",
                           str(p), "-"], capture_output=True,
                          check=True).stdout for p in album.paths]
    joined = np.concatenate([sc.from_s16le(r[44:], 2) for r in raw])  # a WAV header each
    untrimmed = joined[100:-100]
    assert len(joined) != round(album.seconds * 44100) or \
        sc.largest_jump(untrimmed, 44100, 441.0).size > MAX_JUMP


def test_a_file_name_that_is_not_utf8(tmp_path: Path) -> None:
    name = b"02 caf\xe9 latin-1"  # Latin-1 bytes: not valid UTF-8
    album = cut_album(tmp_path, "flac", (0.3, 0.3), Tone(), names=[b"01 plain", name])
    assert os.fsencode(album.paths[1]).endswith(name + b".flac")
    assert album.paths[1].exists()
    with pytest.raises(UnicodeEncodeError):
        str(album.paths[1]).encode("utf-8")
