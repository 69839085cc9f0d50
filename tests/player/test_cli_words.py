"""The command line as a user types it (issue 11): ``segue evaluate`` with its options before
or after the paths, ``segue next`` showing scores, and the words of ``import``. Real
processes, real output."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from player.library.db import Library
from tests.learning.conftest import habit_library  # noqa: F401 - a fixture
from tests.recommender.test_rec_imports_cli import write_log


def segue(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "player", *args], capture_output=True,
                          text=True, timeout=300)


def test_evaluate_help() -> None:
    proc = segue("evaluate", "-h")
    assert proc.returncode == 0, proc.stderr
    assert "usage: segue evaluate" in proc.stdout and "--models" in proc.stdout


@pytest.mark.parametrize("order", ["options first", "options last", "mixed"])
def test_evaluate_options_before_or_after_the_paths(tmp_path: Path, order: str) -> None:
    log = str(write_log(tmp_path / "log.tsv"))
    args = {"options first": ["--json", "--models", "markov", log],
            "options last": [log, "--models", "markov", "--json"],
            "mixed": ["--models", "markov", log, "--json"]}[order]
    proc = segue("--data-dir", str(tmp_path / "data"), "evaluate", *args)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)  # one JSON object
    assert set(report["macro"]) == {"markov"}


def test_evaluate_models_then_the_log_prints_the_table(tmp_path: Path) -> None:
    log = str(write_log(tmp_path / "log.tsv"))
    proc = segue("evaluate", "--models", "markov", log)
    assert proc.returncode == 0, proc.stderr
    assert "markov" in proc.stdout and "macro" in proc.stdout


def test_evaluate_usage_errors_still_say_so(tmp_path: Path) -> None:
    assert segue("evaluate").returncode == 2
    bad = segue("evaluate", "--no-such-option", str(write_log(tmp_path / "log.tsv")))
    assert bad.returncode == 2 and "unrecognized arguments" in bad.stderr


def test_next_prints_scores(library: Library, habit_library, data_dir: Path) -> None:  # noqa: F811
    library.close()  # the process opens it
    proc = segue("--data-dir", str(data_dir), "next", "-n", "3")
    assert proc.returncode == 0, proc.stderr
    rows = [re.match(r"\s*\d+\.\s+(\S+)\s+(.*)", line)
            for line in proc.stdout.splitlines()[1:]]
    assert len(rows) == 3 and all(rows), proc.stdout
    picks = json.loads(segue("--data-dir", str(data_dir), "next", "-n", "3",
                             "--json").stdout)["next"]
    for row, pick in zip(rows, picks):
        assert pick["score"] is not None
        assert float(row[1]) == pytest.approx(pick["score"], rel=1e-3)  # "N. SCORE title"
        assert row[2].startswith(pick["title"])


def test_import_says_one_playlist(data_dir: Path, tmp_path: Path) -> None:
    m3u = tmp_path / "mix.m3u8"
    m3u.write_text("#EXTM3U\n#EXTINF:1,Someone - Something\nsomething.mp3\n", encoding="utf-8")
    proc = segue("--data-dir", str(data_dir), "import", str(m3u))
    assert proc.returncode == 0, proc.stderr
    assert "1 playlist" in proc.stdout and "1 playlists" not in proc.stdout
