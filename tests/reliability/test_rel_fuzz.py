"""Mutated real audio files: the tag reader and the scanner never let an exception escape.
(The 10,000-input run: ``python -m bench fuzz``.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import fuzz
from player.library.db import Library
from player.library.scanner import scan_folders


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return fuzz.seed_files(tmp_path_factory.mktemp("fuzz-seeds"))


@pytest.mark.parametrize("seed", [11, 12])
def test_read_tags_on_mutants(seeds: list[Path], tmp_path: Path, seed: int) -> None:
    result = fuzz.fuzz_read_tags(seeds, 1000, seed, tmp_path)
    assert result["escaped"] == []
    assert result["read"] > 100 and result["rejected"] > 100  # both paths exercised


def test_scan_of_mutants_records_each_file_once(seeds: list[Path], tmp_path: Path,
                                                library: Library) -> None:
    mutants = fuzz.mutant_folder(seeds, 400, seed=5, folder=tmp_path / "mutants")
    result = scan_folders(library, [tmp_path / "mutants"], workers=2)
    stored = {r["path"] for r in library.db.query("SELECT path FROM tracks")}
    failed = {p for p, _ in result.failed}
    assert stored | failed == {str(p) for p in mutants}
    assert not stored & failed
    assert all(reason for _, reason in result.failed)
    assert library.integrity_check() == "ok"
