"""Scan benchmark: a generated library of real tagged files, scanned by Segue and by a plain
single-process ``mutagen.File()`` loop in the same run.

Prints and returns: first-scan files/s and its ratio to the plain loop, the time of a rescan
with nothing changed, and peak memory.  Run: ``python -m bench scan [--files N]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import mutagen

from player.audiogen import TrackSpec, available_formats, make_library
from player.library.db import Library
from player.library.scanner import scan_folders

log = logging.getLogger(__name__)

CACHE = Path(__file__).resolve().parent / "out" / "scan-library"
MIX = ("mp3", "flac", "vorbis", "opus", "aac", "mp3", "flac", "mp3")  # MP3/FLAC-heavy, like most


def ensure_library(n_files: int) -> Path:
    """A library of ``n_files`` tagged files (mixed formats), made once and kept in bench/out."""
    folder = CACHE / str(n_files)
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    formats = [f for f in MIX if f in available_formats()] or ["wav"]
    specs = []
    for i in range(n_files):
        fmt = formats[i % len(formats)]
        artist, album = f"Artist {i // 100:03d}", f"Album {i // 10:04d}"
        spec = TrackSpec(f"Track {i:05d}", artist, album, None, str(i % 10 + 1), None,
                         ("Rock", "Jazz", "Pop")[i % 3], str(1960 + i % 60), seconds=1.0,
                         pitch=220.0 + 10 * (i % 7))
        specs.append((f"{artist}/{album}/{i % 10 + 1:02d} Track {i:05d}", fmt, spec))
    t0 = time.monotonic()
    make_library(folder, specs)
    marker.touch()
    log.info("made %d files in %.0fs", n_files, time.monotonic() - t0)
    return folder


def _audio_files(folder: Path) -> list[str]:
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def plain_loop(paths: list[str]) -> float:
    """The baseline: one process, ``mutagen.File()`` on every file. Returns seconds."""
    t0 = time.perf_counter()
    for path in paths:
        try:
            mutagen.File(path)
        except Exception:  # noqa: BLE001 - the baseline must not stop either
            pass
    return time.perf_counter() - t0


def run(n_files: int = 10_000) -> dict[str, Any]:
    folder = ensure_library(n_files)
    paths = _audio_files(folder)
    for path in paths:  # warm the page cache: both contenders then read from memory
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    plain_s = plain_loop(paths)
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    plain_cpu = cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime
    with tempfile.TemporaryDirectory() as data:
        library = Library.open(data)
        try:
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            first = scan_folders(library, [folder])
            first_s = time.perf_counter() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            again = scan_folders(library, [])
            rescan_s = time.perf_counter() - t0
        finally:
            library.close()
    assert first.added == len(paths) and not first.failed, (first.added, first.failed[:3])
    assert again.unchanged == len(paths)
    self_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures = {
        "files": len(paths),
        "cores": os.cpu_count(),
        "plain_mutagen_files_per_s": round(len(paths) / plain_s, 1),
        "first_scan_files_per_s": round(len(paths) / first_s, 1),
        "first_scan_ratio_vs_plain": round(plain_s / first_s, 2),
        "first_scan_s": round(first_s, 2),
        # Where the CPU went: this process (walk, database, results) and the tag readers.
        "first_scan_parent_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime
                                         - cpu0.ru_utime - cpu0.ru_stime, 2),
        "first_scan_workers_cpu_s": round(kids1.ru_utime + kids1.ru_stime
                                          - kids0.ru_utime - kids0.ru_stime, 2),
        "plain_loop_cpu_s": round(plain_cpu, 2),
        "rescan_unchanged_s": round(rescan_s, 3),
        "peak_rss_mb": round(self_kb / 1024, 1),
        "peak_worker_rss_mb": round(child_kb / 1024, 1),
    }
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench scan", description=__doc__)
    parser.add_argument("--files", type=int, default=10_000)
    args = parser.parse_args(argv)
    return run(args.files)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    for key, value in main().items():
        print(f"{key:28} {value}")
