"""The applications-menu entry: installed per user, valid, and starting this installation."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from player import resources
from player.desktop import _quote, install_desktop_entry
from player.library.tags import AUDIO_EXTENSIONS

GLOBS = Path("/usr/share/mime/globs2")  # shared-mime-info: "weight:type:glob" per line


def test_install_desktop_entry(tmp_path: Path) -> None:
    entry = install_desktop_entry(tmp_path)
    assert entry == tmp_path / "applications" / "segue.desktop"
    assert (tmp_path / "icons/hicolor/256x256/apps/segue.png").stat().st_size > 1000
    assert (tmp_path / "icons/hicolor/scalable/apps/segue.svg").exists()
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert fields["Name"] == "Segue" and fields["Icon"] == "segue"
    command = shlex.split(fields["Exec"])
    assert command[-1] == "%U"  # "Open with Segue": the desktop passes the chosen files
    command = command[:-1]
    assert Path(command[0]).exists()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True,
                               text=True)
        assert check.returncode == 0, check.stdout + check.stderr
    # the command it launches is this Segue (asked for its help, not its window)
    helped = subprocess.run([*command, "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "segue" in helped.stdout


def test_cli_installs_it(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "player", "install-desktop", "--prefix",
                           str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "applications" / "segue.desktop").exists()


def _entry_fields() -> dict[str, str]:
    text = resources.read_text(resources.DESKTOP_ENTRY)
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def test_the_entry_claims_exactly_the_audio_types_segue_reads() -> None:
    """MimeType names every audio type the system gives one of Segue's file extensions (audio
    and M3U playlists), and no type that none of them has (shared-mime-info is the reference
    the desktops use)."""
    if not GLOBS.exists():
        pytest.skip(f"{GLOBS} is absent (shared-mime-info not installed)")
    by_type: dict[str, set[str]] = {}
    for line in GLOBS.read_text().splitlines():
        parts = line.split(":")
        if len(parts) >= 3 and parts[1].startswith("audio/") and parts[2].startswith("*."):
            by_type.setdefault(parts[1], set()).add(parts[2][1:].lower())
    # Audio files, and M3U playlists (Open with plays them: player.opener).
    ours = {t for t, exts in by_type.items() if exts & (AUDIO_EXTENSIONS | {".m3u", ".m3u8"})}
    declared = set(filter(None, _entry_fields()["MimeType"].split(";")))
    assert declared == ours, (sorted(ours - declared), sorted(declared - ours))


def test_exec_quotes_odd_launcher_paths() -> None:
    """A launcher in a folder with spaces or a percent sign still starts (Exec quoting rules)."""
    assert _quote("/usr/bin/segue") == "/usr/bin/segue"
    assert _quote("/home/a b/segue") == '"/home/a b/segue"'
    assert _quote("/opt/100%/segue") == "/opt/100%%/segue"


def test_version() -> None:
    from importlib import metadata

    proc = subprocess.run([sys.executable, "-m", "player", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"segue {metadata.version('segue')}\n"
