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
@pytest.mark.slow
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


# -- importers ---------------------------------------------------------------------------------

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from player.importer import import_history  # noqa: E402

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)
_keys = st.sampled_from(["endTime", "artistName", "trackName", "msPlayed", "ts",
                         "master_metadata_album_artist_name", "master_metadata_track_name",
                         "ms_played", "listened_at", "track_metadata", "user_name"])
_records = st.one_of(st.dictionaries(_keys, _json_values, max_size=6), _json_values)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(records=st.lists(_records, max_size=8), raw=st.binary(max_size=200))
@pytest.mark.slow
def test_importers_never_let_an_exception_escape(tmp_path: Path, records: list,
                                                 raw: bytes) -> None:
    import json

    folder = tmp_path / "imports"
    folder.mkdir(exist_ok=True)
    (folder / "StreamingHistory0.json").write_text(json.dumps(records))
    (folder / "garbage.json").write_bytes(raw)
    (folder / "log.tsv").write_bytes(b"user\ttimestamp\tartist\ttitle\tms_played\n" + raw)
    (folder / "list.m3u").write_bytes(raw)
    lib = Library.open(tmp_path / "data")
    try:
        before = lib.listen_count()
        report = import_history(lib, [folder])
        assert lib.listen_count() == before + report.listens
        assert all(reason for _, reason in report.errors)
        assert lib.integrity_check() == "ok"
    finally:
        lib.close()
