"""Fixtures and helpers for the reliability tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from player.library.db import Library
from tests.conftest import without_root_powers

CHECKOUT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tracks_for_log(library: Library) -> list[int]:
    library.add_tracks([{"path": f"/m/{i}.mp3", "mtime": 1.0, "size": 1, "title": f"T{i}",
                         "artist": f"A{i % 5}", "duration_ms": 180_000} for i in range(20)])
    return [r["id"] for r in library.db.query("SELECT id FROM tracks ORDER BY id")]


def run_segue(*args: str | Path, unprivileged: bool = False, timeout: float = 300,
              **kwargs) -> subprocess.CompletedProcess:
    """Run ``segue ARGS`` as a real process; ``unprivileged``: with file permissions
    enforced even for root. ``timeout`` only guards against a hang (the attack)."""
    cmd = [sys.executable, "-m", "player", *map(str, args)]
    if unprivileged:
        cmd = without_root_powers(cmd)
    kwargs.setdefault("cwd", CHECKOUT)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kwargs)


def assert_one_line_error(proc: subprocess.CompletedProcess, code: int, *words: str) -> str:
    """The process failed with ``code`` and said why in one line on stderr (no traceback)."""
    err = proc.stderr.strip()
    assert proc.returncode == code, (proc.returncode, err[-3000:])
    assert "Traceback" not in err, err[-3000:]
    lines = [line for line in err.splitlines() if line.startswith("segue")]
    assert len(lines) == 1, err
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    return lines[0]
