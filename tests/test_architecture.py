"""The project's import rules, checked on every module (found by walking the packages, so a
new module is covered the day it is added), each in a fresh interpreter."""

from __future__ import annotations

import json
import os
import pkgutil
import subprocess
import sys
from pathlib import Path

import player
import recommender

ROOT = Path(__file__).resolve().parents[1]

#: The recommender's modules that are the network itself; every other one (log loading, the
#: protocol, the baselines, ``segue evaluate``) must load without torch.
TORCH_MODULES = {"recommender.api", "recommender.blend", "recommender.checkpoint",
                 "recommender.infer", "recommender.model", "recommender.train"}


def modules(package) -> list[str]:
    """Every module of ``package``, walked on disk."""
    found = [package.__name__]
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        if not info.name.endswith("__main__"):  # running it is not importing it
            found.append(info.name)
    return sorted(found)


def imported_by(names: list[str]) -> set[str]:
    """The top-level packages in ``sys.modules`` after importing ``names`` in a fresh Python."""
    code = ("import importlib, json, sys\n"
            f"for name in {names!r}: importlib.import_module(name)\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return set(json.loads(proc.stdout))


def test_the_walk_finds_the_modules() -> None:
    found = modules(recommender)
    assert {"recommender.api", "recommender.evaluate_cli", "recommender.logs"} <= set(found)
    assert TORCH_MODULES <= set(found)  # a renamed module must not leave a stale exception
    assert "player.library.scanner" in modules(player)


def test_recommender_imports_no_qt_no_sqlite_no_player() -> None:
    bad = imported_by(modules(recommender)) & {"PySide6", "shiboken6", "sqlite3", "_sqlite3",
                                                "sqlite_utils", "player"}
    assert not bad


def test_the_recommender_loads_logs_and_evaluates_without_torch() -> None:
    light = [m for m in modules(recommender) if m not in TORCH_MODULES]
    assert "torch" not in imported_by(light)


def test_the_library_and_the_command_line_do_not_load_qt() -> None:
    """The tag-reading workers and ``segue scan`` run without Qt."""
    names = [m for m in modules(player) if m.startswith("player.library")] + ["player.cli"]
    assert not imported_by(names) & {"PySide6", "shiboken6", "torch"}


def test_the_training_process_loads_no_qt() -> None:
    """The child that trains (player.trainproc) and what it runs (player.bridge) never load
    Qt; torch only once it trains (the GUI imports player.trainproc at start-up)."""
    assert not imported_by(["player.trainproc", "player.bridge"]) & {"PySide6", "shiboken6",
                                                                      "torch"}


def test_torch_is_not_imported_when_the_window_first_shows(tmp_path: Path) -> None:
    """The real ``segue`` start-up path: the window is up before torch is even imported (the
    model loads in the background afterwards). The start-up probe reports at the first turn of
    the event loop after ``show()`` and quits."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "SEGUE_STARTUP_PROBE": "1"}
    proc = subprocess.run([sys.executable, "-m", "player", "--data-dir", str(tmp_path)],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    probe = [line for line in proc.stderr.splitlines() if line.startswith("window-shown ")]
    assert probe and probe[0].endswith(" torch=False"), proc.stderr[-2000:]
