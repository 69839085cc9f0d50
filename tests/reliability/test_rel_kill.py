"""SIGKILL at random moments: during a first scan, a rescan, and playback with listens being
written. Nothing committed is lost, nothing is corrupted, and work resumes. (More seeds:
``python -m bench kills``.)"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from bench import kills

pytestmark = pytest.mark.slow  # real processes, killed many times


@pytest.fixture(scope="module")
def scanned(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("kills")
    music = work / "music"
    kills.make_music(music, 200)
    ref = work / "ref"
    t0 = time.monotonic()
    kills._complete_scan(ref, music)
    return {"work": work, "music": music, "ref": ref, "duration": time.monotonic() - t0,
            "state": kills._library_state(ref)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_during_first_scan(scanned: dict, seed: int) -> None:
    kills.first_scan(scanned["work"], scanned["music"], scanned["state"], seed,
                     scanned["duration"])


@pytest.fixture(scope="module")
def edited(scanned: dict) -> dict:
    work = scanned["work"]
    before = work / "before-edit"
    shutil.copytree(scanned["ref"], before)
    kills.edit_music(scanned["music"], seed=7)
    ref2 = work / "ref2"
    shutil.copytree(before, ref2)
    t0 = time.monotonic()
    kills._complete_scan(ref2)
    return {"before": before, "duration": time.monotonic() - t0,
            "state": kills._library_state(ref2), "ids": kills._ids(ref2)}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_kill_during_rescan(scanned: dict, edited: dict, seed: int) -> None:
    kills.rescan(scanned["work"], edited["before"], edited["state"], edited["ids"], seed,
                 edited["duration"])


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_kill_during_playback(tmp_path: Path, seed: int) -> None:
    seen = kills.playback(tmp_path, seed, run_for=3.0)
    # the first play was open before the child said "started": it was closed or recovered
    assert seen["closed_before_kill"] + seen["recovered"] >= 1


@pytest.fixture(scope="module")
def model_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    data = tmp_path_factory.mktemp("model") / "data"
    kills.make_model_data(data, plays=600)
    return data


@pytest.mark.parametrize("seed", [1])
def test_kill_during_training(tmp_path: Path, model_data: Path, seed: int) -> None:
    kills.training(tmp_path, model_data, seed, duration=4.0)


@pytest.mark.parametrize("seed", [1, 2])
def test_kill_during_checkpoint_writes(tmp_path: Path, model_data: Path, seed: int) -> None:
    kills.checkpoint_write(tmp_path, model_data, seed)
