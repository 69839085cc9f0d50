"""The benchmarks that read the team's shared data take its path as an option, and run
without it (issue 13): a given folder is used, an absent one is skipped cleanly."""

from __future__ import annotations

import json
from pathlib import Path

from bench import fuzz, retrain_gui


def test_fuzz_without_the_corpus_runs_on_generated_seeds(tmp_path: Path) -> None:
    result = fuzz.main(["--inputs", "20", "--rows", "20", "--corpus", str(tmp_path / "none")])
    assert result["corpus"] == "absent (generated only)"
    assert result["escaped_count"] == 0 and result["seed_files"] >= 1


def test_fuzz_mutates_the_corpus_it_is_given(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    generated = fuzz.seed_files(tmp_path / "generated", corpus=None)
    corpus.mkdir()
    (corpus / "odd.flac").write_bytes(generated[0].read_bytes())
    (corpus / "notes.txt").write_text("not audio")
    with_corpus = fuzz.seed_files(tmp_path / "seeds", corpus)
    assert len(with_corpus) == len(generated) + 1 and with_corpus[-1].name == "odd.flac"


def test_retrain_history_from_the_export_given_or_synthetic(tmp_path: Path) -> None:
    export = tmp_path / "export"
    export.mkdir()
    plays = [{"endTime": f"2024-01-0{1 + i // 10} 10:{i % 10:02d}", "artistName": f"A{i % 3}",
              "trackName": f"T{i % 7}", "msPlayed": 200_000} for i in range(30)]
    (export / "StreamingHistory0.json").write_text(json.dumps(plays))
    said = retrain_gui._prepare(tmp_path / "a", 0, synthetic=False, export=export)
    assert said == "Spotify export export (30 plays)"
    absent = retrain_gui._prepare(tmp_path / "b", 200, synthetic=False,
                                  export=tmp_path / "absent")
    assert absent == "synthetic (200 plays)"
