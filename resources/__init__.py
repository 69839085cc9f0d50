"""Segue's shipped files: the icon, the desktop entry template and the demo library.

In the source tree this is the top-level ``resources/`` folder; ``pyproject.toml`` maps it to
the package ``player.resources``, so a wheel carries it as package data. Everything that reads
a shipped file goes through :func:`path` or :func:`read_text` (``importlib.resources``), never a
path worked out from ``__file__``, so the same code works from a checkout and from an install.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from importlib.resources import as_file, files
from pathlib import Path

ICON_PNG = "segue.png"  # 256x256, for the window and the hicolor theme
ICON_SVG = "segue.svg"
DESKTOP_ENTRY = "segue.desktop"  # the template: ``install-desktop`` fills in Exec
# A few short tagged Opus tracks. Not named "demo": setuptools would take a folder with a
# Python-identifier name for an unlisted package and warn at every build.
DEMO = "demo-library"


@contextmanager
def path(name: str) -> Iterator[Path]:
    """A real file-system path to the shipped file or folder ``name``, for the ``with`` block.

    (An install is always unpacked, so this is the file itself; ``as_file`` would extract it
    from a zipped package.)
    """
    with as_file(files(__name__) / name) as real:
        yield Path(real)


def read_text(name: str) -> str:
    """The text of the shipped file ``name`` (UTF-8)."""
    return (files(__name__) / name).read_text(encoding="utf-8")
