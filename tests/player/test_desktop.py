"""The applications-menu entry: installed per user, valid, and starting this installation."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from player.desktop import install_desktop_entry


def test_install_desktop_entry(tmp_path: Path) -> None:
    entry = install_desktop_entry(tmp_path)
    assert entry == tmp_path / "applications" / "segue.desktop"
    assert (tmp_path / "icons/hicolor/256x256/apps/segue.png").stat().st_size > 1000
    assert (tmp_path / "icons/hicolor/scalable/apps/segue.svg").exists()
    fields = dict(line.split("=", 1) for line in entry.read_text().splitlines() if "=" in line)
    assert fields["Name"] == "Segue" and fields["Icon"] == "segue"
    command = shlex.split(fields["Exec"])
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
