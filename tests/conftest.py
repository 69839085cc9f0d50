"""Fixtures shared by every test: a headless Qt, real generated music, a real library file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# Before anything imports Qt: no display on CI machines.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from player.audiogen import TrackSpec, available_formats, make_library  # noqa: E402
from player.library.db import Library  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared"


def without_root_powers(cmd: list[str]) -> list[str]:
    """``cmd`` run so that file permissions apply: root ignores them, so drop the
    capabilities that let it (keeping uid 0); a clean skip where that is impossible."""
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: permissions cannot be tested")
    caps = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", *cmd]


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or a clean skip where that folder is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared is not next to the project)")
    return path


#: The good tracks of the standard test library: (relative path, format, spec).
GOOD_TRACKS = [
    ("Björk/Homogenic/01 Jóga", "flac", TrackSpec("Jóga", "Björk", "Homogenic", None, "1/10",
                                                   "1/1", "Electronic", "1997-09-22", cover=True)),
    ("Björk/Homogenic/02 Hunter", "mp3", TrackSpec("Hunter", "Björk", "Homogenic", None, "2/10",
                                                    None, "Electronic", "1997")),
    ("坂本龍一/async/andata", "vorbis", TrackSpec("andata", "坂本龍一", "async", None, "1",
                                                  None, "Ambient", "2017-03-29", pitch=330)),
    ("Various/Mix/03 Duo", "opus", TrackSpec("Duo", "Alice\x00Bob", "Mix", "Various Artists",
                                             "3/12", "2/2", "Pop\x00Rock", "2020", pitch=550)),
    ("Various/Mix/04 AAC", "aac", TrackSpec("AAC song", "Carol", "Mix", "Various Artists", "4/12",
                                            None, "Pop", "2021-01-01", cover=True, pitch=660)),
    ("loose/untitled take", "wav", TrackSpec(None, None, None, seconds=0.5, pitch=220)),
    ("loose/aiff song", "aiff", TrackSpec("Aiff song", "Dave", None, pitch=247)),
    ("loose/wavpack song", "wavpack", TrackSpec("WV song", "Eve", "Packed", None, "5", pitch=262)),
    ("odd names/ -dash; $quote's \"& spaces ", "mp3", TrackSpec("Odd", "Frank", pitch=294)),
    ("odd names/emoji 🎵 name", "mp3", TrackSpec("Emoji", "Grace", pitch=311)),
]


@pytest.fixture(scope="session")
def _good_library_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    """The good tracks, encoded once per test session (copied for each test)."""
    formats = set(available_formats())
    missing = {fmt for _, fmt, _ in GOOD_TRACKS} - formats
    if missing:  # .ci/run installs every encoder; say clearly what a dev machine lacks
        pytest.fail(f"audio encoders missing for {sorted(missing)}: run bash .ci/run or see README")
    folder = tmp_path_factory.mktemp("template") / "music"
    paths = make_library(folder, GOOD_TRACKS)
    return folder, [p.relative_to(folder) for p in paths]


@pytest.fixture
def music_dir(tmp_path: Path, _good_library_template: tuple[Path, list[Path]]) -> Path:
    """A fresh copy of a small real music folder: every format, unicode and odd names."""
    template, _ = _good_library_template
    folder = tmp_path / "music"
    shutil.copytree(template, folder)
    return folder


@pytest.fixture
def good_paths(music_dir: Path, _good_library_template: tuple[Path, list[Path]]) -> list[Path]:
    """The absolute paths of the good tracks in ``music_dir``."""
    return [music_dir / rel for rel in _good_library_template[1]]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def library(data_dir: Path):
    lib = Library.open(data_dir)
    yield lib
    lib.close()
