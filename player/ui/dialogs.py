"""Where file dialogs open: the folder used last, else the music folder — never the bare home
folder when something better is known."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from player.library.folders import demo_folder_of


def start_folder(settings: Any, library: Any) -> str:
    """The folder a file dialog starts in: the last one used (if it still exists), else the
    first real music folder, else ``~/Music``, else the home folder."""
    last = settings.last_folder
    if last and os.path.isdir(last):
        return last
    demo = str(demo_folder_of(library.path.parent))
    for root in library.roots():
        if root != demo and os.path.isdir(root):
            return root
    music = Path.home() / "Music"
    return str(music if music.is_dir() else Path.home())


def remember(settings: Any, chosen: str | os.PathLike[str]) -> None:
    """Remember where the user went: the folder chosen, or the folder of the file chosen."""
    path = Path(chosen)
    folder = path if path.is_dir() else path.parent
    settings.last_folder = str(folder)
