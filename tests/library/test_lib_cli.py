"""``segue scan`` and ``segue stats`` as a user runs them: a real process, real output."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import GOOD_TRACKS


def segue(*args: str, env: dict | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "player", *args], capture_output=True,
                          text=True, timeout=120, env=env)


def test_scan_json_is_one_object(music_dir: Path, data_dir: Path) -> None:
    (music_dir / "bad.mp3").write_bytes(b"")
    proc = segue("--data-dir", str(data_dir), "scan", str(music_dir), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # exactly one JSON document, nothing else on stdout
    assert out["added"] == len(GOOD_TRACKS)
    assert (out["updated"], out["unchanged"], out["missing"]) == (0, 0, 0)
    assert out["failed"] == [{"path": str(music_dir / "bad.mp3"), "reason": "empty file (0 bytes)"}]
    assert isinstance(out["seconds"], float)

    again = json.loads(segue("--data-dir", str(data_dir), "scan", "--json").stdout)
    assert again["unchanged"] == len(GOOD_TRACKS) and again["added"] == 0


def test_scan_summary_and_stats(music_dir: Path, data_dir: Path) -> None:
    env = {**os.environ, "SEGUE_DATA_DIR": str(data_dir)}  # the environment variable works
    proc = segue("scan", str(music_dir), env=env)
    assert proc.returncode == 0
    assert f"{len(GOOD_TRACKS)} added" in proc.stdout
    stats = json.loads(segue("stats", "--json", env=env).stdout)
    assert stats["tracks"] == len(GOOD_TRACKS)
    # Björk, 坂本龍一, Various Artists (album artist of two), Dave, Eve, Frank, Grace
    assert stats["artists"] == 7 and stats["listens"] == 0
    assert "tracks" in segue("stats", env=env).stdout


def test_missing_folder_is_a_usage_error(data_dir: Path, tmp_path: Path) -> None:
    proc = segue("--data-dir", str(data_dir), "scan", str(tmp_path / "nope"), "--json")
    assert proc.returncode == 2
    assert "no such folder" in proc.stderr and proc.stdout == ""


def test_unopenable_database_is_an_error(data_dir: Path, music_dir: Path) -> None:
    (data_dir / "library.db").write_bytes(b"garbage" * 1000)
    proc = segue("--data-dir", str(data_dir), "scan", str(music_dir))
    assert proc.returncode == 1
    assert "cannot open the library" in proc.stderr
    assert (data_dir / "library.db").read_bytes() == b"garbage" * 1000  # untouched


def test_help_lists_the_commands() -> None:
    proc = segue("--help")
    assert proc.returncode == 0
    for command in ("scan", "stats", "evaluate"):
        assert command in proc.stdout


def test_scanning_a_real_folder_replaces_the_demo(music_dir: Path, data_dir: Path) -> None:
    from player.demo import install_demo_library
    from player.library.db import Library

    lib = Library.open(data_dir)
    install_demo_library(lib, data_dir)
    lib.close()
    assert json.loads(segue("--data-dir", str(data_dir), "scan", "--json").stdout)["added"] == 8
    proc = segue("--data-dir", str(data_dir), "scan", str(music_dir))
    assert proc.returncode == 0, proc.stderr
    assert "the demo library was removed (8 tracks): your music replaces it" in proc.stderr
    stats = json.loads(segue("--data-dir", str(data_dir), "stats", "--json").stdout)
    assert (stats["tracks"], stats["roots"], stats["missing"]) == (len(GOOD_TRACKS), 1, 0)
