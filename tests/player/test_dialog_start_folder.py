"""Where file dialogs open: the last folder used, else the music folder, never the bare home
folder when something better is known."""

from __future__ import annotations

from pathlib import Path

import pytest

from player.library.db import Library
from player.settings import Settings
from player.ui import dialogs


def test_the_start_folder_falls_back_in_order(library: Library, data_dir: Path,
                                              tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    settings = Settings()
    assert dialogs.start_folder(settings, library) == str(home)  # nothing better known
    (home / "Music").mkdir()
    assert dialogs.start_folder(settings, library) == str(home / "Music")
    library.add_root(data_dir / "demo")  # the demo is no music folder of the user's
    (data_dir / "demo").mkdir()
    assert dialogs.start_folder(settings, library) == str(home / "Music")
    music = tmp_path / "Collection"
    music.mkdir()
    library.add_root(music)
    assert dialogs.start_folder(settings, library) == str(music)
    chosen = tmp_path / "Downloads" / "history.json"
    chosen.parent.mkdir()
    chosen.write_text("[]")
    dialogs.remember(settings, chosen)  # a file chosen: its folder is remembered
    assert dialogs.start_folder(settings, library) == str(chosen.parent)
    chosen.unlink()
    chosen.parent.rmdir()  # gone since: the music folder again
    assert dialogs.start_folder(settings, library) == str(music)
