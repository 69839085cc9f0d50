"""Desktop integration: the applications-menu entry and icon, installed per user.

``segue install-desktop`` writes ``~/.local/share/applications/segue.desktop`` (its ``Exec``
pointing at this installation's ``segue``, so it works from a virtualenv, and taking the files
the desktop opens with it; its ``MimeType`` the audio types Segue plays) and the icon into the
hicolor theme, following the freedesktop.org specifications. The template and the icons ship
in :mod:`player.resources`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from player import resources


def _quote(arg: str) -> str:
    """Quote an Exec argument as the Desktop Entry specification asks (a literal ``%`` is
    written ``%%`` there, quoted or not: a lone one would start a field code)."""
    arg = arg.replace("%", "%%")
    if not any(c in arg for c in ' \t\n"\'\\><~|&;$*?#()`'):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("`", "\\`").replace("$", "\\$")
    return f'"{escaped}"'


def exec_line() -> str:
    """The command that starts this installation: its ``segue`` launcher, else the module."""
    launcher = Path(sys.executable).with_name("segue")
    if launcher.exists():
        return _quote(str(launcher))
    found = shutil.which("segue")
    if found:
        return _quote(found)
    return f"{_quote(sys.executable)} -m player"


def install_desktop_entry(prefix: Path | None = None) -> Path:
    """Install the .desktop file and icons under ``prefix`` (default ~/.local/share)."""
    base = prefix or Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    apps = base / "applications"
    apps.mkdir(parents=True, exist_ok=True)
    for name, size in ((resources.ICON_PNG, "256x256"), (resources.ICON_SVG, "scalable")):
        folder = base / "icons" / "hicolor" / size / "apps"
        folder.mkdir(parents=True, exist_ok=True)
        with resources.path(name) as icon:
            shutil.copyfile(icon, folder / name)
    # The template says "Exec=segue %U"; this installation's launcher replaces the bare name,
    # and the field code (the files or URLs the desktop opens with Segue) stays.
    text = re.sub(r"^Exec=segue(?= |$)", lambda _: f"Exec={exec_line()}",
                  resources.read_text(resources.DESKTOP_ENTRY), count=1, flags=re.MULTILINE)
    entry = apps / "segue.desktop"
    entry.write_text(text, encoding="utf-8")
    entry.chmod(0o755)
    if shutil.which("update-desktop-database"):  # refresh menus where the tool exists
        subprocess.run(["update-desktop-database", str(apps)], capture_output=True)
    return entry
