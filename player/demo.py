"""The demo library: a few short tagged tracks that ship with Segue, so that a fresh install
plays music at once, offline.

The files ship in ``resources/demo-library`` (made by :func:`make_demo_files`, committed; read
through :mod:`player.resources`). At first use they are copied into ``<data-dir>/demo`` and
added as a library folder; where the shipped files are absent (a stripped install), the same
tracks are synthesised as WAV with no encoder at all.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from player import resources
from player.audiogen import TrackSpec, available_formats, make_library
from player.library.db import Library
from player.library.folders import demo_folder_of

log = logging.getLogger(__name__)

#: (artist, album, title, seconds, pitch): three small "albums".
DEMO_TRACKS = [
    ("The Sine Waves", "Pure Tones", "Morning A", 24, 440.0),
    ("The Sine Waves", "Pure Tones", "Low C", 22, 261.6),
    ("The Sine Waves", "Pure Tones", "High E", 20, 659.3),
    ("Square Root", "Irrational", "Golden Ratio", 26, 392.0),
    ("Square Root", "Irrational", "Euler's Walk", 21, 349.2),
    ("Triangle Club", "Three Sides", "Acute", 23, 293.7),
    ("Triangle Club", "Three Sides", "Obtuse", 25, 220.0),
    ("Triangle Club", "Three Sides", "Right Angle", 19, 329.6),
]


ALBUM_COLOURS = {
    "Pure Tones": (52, 120, 190),
    "Irrational": (200, 150, 40),
    "Three Sides": (170, 60, 90),
}


def _specs(fmt: str) -> list[tuple[str, str, TrackSpec]]:
    specs = []
    for n, (artist, album, title, seconds, pitch) in enumerate(DEMO_TRACKS):
        number = sum(1 for a, al, *_ in DEMO_TRACKS[:n] if al == album) + 1
        spec = TrackSpec(title, artist, album, artist, str(number), None, "Demo", "2026",
                         seconds=seconds, pitch=pitch, cover=True,
                         cover_rgb=ALBUM_COLOURS[album])
        specs.append((f"{artist}/{album}/{number:02d} {title}", fmt, spec))
    return specs


def make_demo_files(folder: Path, fmt: str = "opus") -> list[Path]:
    """Synthesise and tag the demo tracks into ``folder`` (``fmt`` falls back to WAV)."""
    if fmt not in available_formats():
        fmt = "wav"
    return make_library(folder, _specs(fmt))


def install_demo_library(library: Library, data_dir: Path) -> Path:
    """Put the demo tracks in ``<data-dir>/demo`` and add that folder to the library.

    Returns the folder; the caller scans it.
    """
    dest = demo_folder_of(data_dir)
    if not dest.exists():
        tmp = data_dir / "demo.partial"
        shutil.rmtree(tmp, ignore_errors=True)
        with resources.path(resources.DEMO) as shipped:
            if shipped.is_dir() and any(shipped.rglob("*.opus")):
                shutil.copytree(shipped, tmp)
            else:
                log.info("shipped demo files not found; synthesising them")
                make_demo_files(tmp, fmt="wav")
        tmp.rename(dest)  # whole or not at all
    library.add_root(dest)
    return dest
