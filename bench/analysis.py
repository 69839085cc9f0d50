"""Loudness analysis benchmark: how fast the pass measures a library, against decoding alone.

Makes N files of music-like audio (44.1 kHz stereo; FLAC, MP3, Ogg Vorbis, Opus, AAC in turn),
scans them, then times in the same run: a plain PyAV decode of every file (the baseline: what
any analysis must pay) and Segue's pass (``analyse_library``, its worker at normal priority so
that the figure does not depend on what else the machine runs). Prints files/s, times real
time, and the pass's cost as a multiple of the decode.

Run: ``python -m bench analysis [--files N] [--seconds S]``.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import tempfile
import time
import wave
from pathlib import Path
from typing import Any

import numpy as np

from player.audiogen import FORMATS, available_formats, encode
from player.library.analysis import analyse_library
from player.library.db import Library
from player.library.scanner import scan_folders

log = logging.getLogger(__name__)

MIX = ("flac", "mp3", "vorbis", "opus", "aac")
RATE = 44_100


def music_wav(path: Path, seconds: float, seed: int = 0) -> None:
    """Stereo 16-bit audio with a musical spectrum: chords of decaying partials over quiet
    noise, so that encoders and decoders do the work real music makes them do."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    t = np.arange(n) / RATE
    out = np.zeros((n, 2))
    beat = int(0.5 * RATE)
    for start in range(0, n, beat):
        root = 110 * 2 ** (rng.integers(0, 24) / 12)
        seg = slice(start, min(n, start + beat))
        env = np.exp(-3 * (t[seg] - t[start]))
        for k, ratio in enumerate((1, 1.25, 1.5, 2, 3)):
            tone = np.sin(2 * np.pi * root * ratio * t[seg] + rng.uniform(0, 6)) / (k + 1)
            out[seg, 0] += tone * env * rng.uniform(0.6, 1.0)
            out[seg, 1] += tone * env * rng.uniform(0.6, 1.0)
    out += rng.normal(0, 0.02, out.shape)
    out *= 0.5 / np.abs(out).max()
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((out * 32767).astype("<i2").tobytes())


def make_files(folder: Path, n_files: int, seconds: float) -> list[Path]:
    formats = [f for f in MIX if f in available_formats()] or ["wav"]
    encoded = {}
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "music.wav"
        music_wav(wav, seconds)
        for fmt in formats:
            encoded[fmt] = Path(tmp) / f"music{FORMATS[fmt][0]}"
            encode(wav, fmt, encoded[fmt])
        paths = []
        for i in range(n_files):
            fmt = formats[i % len(formats)]
            dest = folder / f"{i:04d}{FORMATS[fmt][0]}"
            shutil.copyfile(encoded[fmt], dest)
            paths.append(dest)
    return paths


def decode_only(paths: list[Path]) -> float:
    """The baseline: decode every file with PyAV, nothing else. Returns seconds."""
    import av

    started = time.perf_counter()
    for path in paths:
        with av.open(str(path)) as container:
            for _ in container.decode(container.streams.audio[0]):
                pass
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench analysis", description=__doc__)
    parser.add_argument("--files", type=int, default=40)
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        music = Path(tmp) / "music"
        music.mkdir()
        paths = make_files(music, args.files, args.seconds)
        library = Library.open(Path(tmp) / "data")
        try:
            scan_folders(library, [music], workers=0)
            decode_s = decode_only(paths)
            result = analyse_library(library, low_priority=False)
        finally:
            library.close()
    audio_s = args.files * args.seconds
    figures = {
        "files": args.files,
        "seconds_per_file": args.seconds,
        "analysed": result.analysed,
        "failed": result.failed,
        "analysis_s": round(result.seconds, 2),
        "analysis_files_per_s": round(result.files_per_s, 2),
        "analysis_x_realtime": round(result.realtime, 1),
        "decode_only_s": round(decode_s, 2),
        "decode_only_x_realtime": round(audio_s / decode_s, 1),
        "analysis_vs_decode_only": round(result.seconds / decode_s, 2),
    }
    for key, value in figures.items():
        print(f"{key:28} {value}")
    return figures


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
