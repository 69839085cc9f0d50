"""Desktop integration: the applications-menu entry and icon, installed per user.

``segue install-desktop`` writes ``~/.local/share/applications/segue.desktop`` (its ``Exec``
pointing at this installation's ``segue``, so it works from a virtualenv) and the icon into
the hicolor theme, following the freedesktop.org specifications.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

RESOURCES = Path(__file__).resolve().parent.parent / "resources"


def _quote(arg: str) -> str:
    """Quote an Exec argument as the Desktop Entry specification asks."""
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
    icons = base / "icons" / "hicolor"
    apps.mkdir(parents=True, exist_ok=True)
    (icons / "256x256" / "apps").mkdir(parents=True, exist_ok=True)
    (icons / "scalable" / "apps").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(RESOURCES / "segue.png", icons / "256x256" / "apps" / "segue.png")
    shutil.copyfile(RESOURCES / "segue.svg", icons / "scalable" / "apps" / "segue.svg")
    text = (RESOURCES / "segue.desktop").read_text(encoding="utf-8")
    text = text.replace("Exec=segue", f"Exec={exec_line()}")
    entry = apps / "segue.desktop"
    entry.write_text(text, encoding="utf-8")
    entry.chmod(0o755)
    if shutil.which("update-desktop-database"):  # refresh menus where the tool exists
        subprocess.run(["update-desktop-database", str(apps)], capture_output=True)
    return entry
