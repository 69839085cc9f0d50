"""Scan benchmark: generated libraries of real tagged files (mixed formats, WAV included),
each scanned by Segue and by a plain single-process ``mutagen.File()`` loop in the same run.

For each size (default 500, 2,000 and 10,000 files) it prints and returns the first scan's
files/s and its ratio to the plain loop (the median of several alternating runs for the small
sizes, where one run is a fraction of a second), and for the largest size the time of a
rescan with nothing changed and the peak memory. Run: ``python -m bench scan [--files N,...]``.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import shutil
import statistics
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
#: MP3/FLAC-heavy like most libraries, every common format, WAV (no tags worth the name) too.
MIX = ("mp3", "flac", "vorbis", "opus", "aac", "wav", "mp3", "flac")
SIZES = (500, 2_000, 10_000)
#: Files scanned per contender and size, at least: the small sizes are run several times.
FILES_PER_SIZE = 10_000


def ensure_library(n_files: int) -> Path:
    """A library of ``n_files`` tagged files (mixed formats), made once and kept in bench/out."""
    formats = [f for f in MIX if f in available_formats()] or ["wav"]
    folder = CACHE / f"{n_files}-{'-'.join(formats)}"
    marker = folder / ".complete"
    if marker.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
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


def _warm(paths: list[str]) -> None:
    """Read every file once: both contenders then read from the page cache."""
    for path in paths:
        with open(path, "rb") as f:
            while f.read(1 << 20):
                pass


def first_scan(folder: Path, expected: int) -> tuple[float, float]:
    """One first scan into a fresh library: (wall seconds, CPU seconds)."""
    with tempfile.TemporaryDirectory() as data:
        library = Library.open(data)
        try:
            cpu0, t0 = _cpu_s(), time.perf_counter()
            result = scan_folders(library, [folder])
            seconds, cpu = time.perf_counter() - t0, _cpu_s() - cpu0
        finally:
            library.close()
    assert result.added == expected and not result.failed, (result.added, result.failed[:3])
    return seconds, cpu


def _cpu_s() -> float:
    """CPU seconds used so far by this process and its finished children (the workers)."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(
        resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def measure_size(n_files: int) -> dict[str, Any]:
    """Plain loop and first scan, alternating, ``FILES_PER_SIZE // n_files`` times each.

    Besides the wall-time ratio (the figure that counts), the CPU-time ratio: on a machine
    busy with other work, wall time swings with the load, CPU time much less."""
    folder = ensure_library(n_files)
    paths = _audio_files(folder)
    _warm(paths)
    plain, segue, plain_cpu, segue_cpu = [], [], [], []
    for _ in range(max(1, FILES_PER_SIZE // n_files)):
        cpu0 = _cpu_s()
        plain.append(plain_loop(paths))
        plain_cpu.append(_cpu_s() - cpu0)
        seconds, cpu = first_scan(folder, len(paths))
        segue.append(seconds)
        segue_cpu.append(cpu)
    plain_s, segue_s = statistics.median(plain), statistics.median(segue)
    return {
        "files": len(paths),
        "runs": len(plain),
        "plain_mutagen_files_per_s": round(len(paths) / plain_s, 1),
        "first_scan_files_per_s": round(len(paths) / segue_s, 1),
        "first_scan_s": round(segue_s, 3),
        "first_scan_ratio_vs_plain": round(plain_s / segue_s, 2),
        "first_scan_cpu_ratio_vs_plain": round(statistics.median(plain_cpu)
                                               / statistics.median(segue_cpu), 2),
        "load_average": round(os.getloadavg()[0], 1),
    }


def rescan_and_memory(n_files: int) -> dict[str, Any]:
    """A first scan and a rescan with nothing changed; the rescan's time, peak memory."""
    folder = ensure_library(n_files)
    paths = _audio_files(folder)
    with tempfile.TemporaryDirectory() as data:
        library = Library.open(data)
        try:
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            kids0 = resource.getrusage(resource.RUSAGE_CHILDREN)
            scan_folders(library, [folder])
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            kids1 = resource.getrusage(resource.RUSAGE_CHILDREN)
            t0 = time.perf_counter()
            again = scan_folders(library, [])
            rescan_s = time.perf_counter() - t0
        finally:
            library.close()
    assert again.unchanged == len(paths)
    return {
        "rescan_unchanged_s": round(rescan_s, 3),
        # Where the first scan's CPU went: this process (walk, database, its own reading)
        # and the worker processes.
        "first_scan_parent_cpu_s": round(cpu1.ru_utime + cpu1.ru_stime
                                         - cpu0.ru_utime - cpu0.ru_stime, 2),
        "first_scan_workers_cpu_s": round(kids1.ru_utime + kids1.ru_stime
                                          - kids0.ru_utime - kids0.ru_stime, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "peak_worker_rss_mb": round(
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1),
    }


def run(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    figures: dict[str, Any] = {"cores": os.cpu_count(), "formats": [
        f for f in MIX if f in available_formats()] or ["wav"]}
    for n in sizes:
        for key, value in measure_size(n).items():
            figures[f"{key}_{n}" if key != "files" else f"files_{n}"] = value
    figures.update({f"{k}_{max(sizes)}": v for k, v in rescan_and_memory(max(sizes)).items()})
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(prog="python -m bench scan", description=__doc__)
    parser.add_argument("--files", default=",".join(map(str, SIZES)),
                        help="library sizes, comma-separated (default: %(default)s)")
    args = parser.parse_args(argv)
    return run(tuple(int(n) for n in args.files.split(",")))


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    for key, value in main().items():
        print(f"{key:36} {value}")
