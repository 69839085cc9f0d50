"""The ``evaluate`` CLI (the import rules are in tests/test_architecture.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from recommender.evaluate_cli import main

ROOT = Path(__file__).resolve().parents[2]


def write_log(path: Path, users: tuple[str, ...] = ("ann", "bob")) -> Path:
    rows = ["user\ttimestamp\tartist\ttitle\tms_played"]
    for u in users:
        for day in range(8):
            for j in range(6):
                title = f"song {(day + j) % 7}" if u == "ann" else f"tune {j}"
                rows.append(f"{u}\t2022-01-{day + 1:02d}T10:{j * 4:02d}:00Z\tArt\t{title}\t"
                            f"{200000 if j != 2 else 5000}")
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.slow
def test_cli_json_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = write_log(tmp_path / "log.tsv")
    assert main([str(log), "--models", "gru,pop,recent,markov,sknn", "--json"]) == 0
    out = capsys.readouterr().out
    report = json.loads(out)  # exactly one JSON object
    assert report["protocol"] == "v1"
    assert [u["user"] for u in report["users"]] == ["ann", "bob"]
    for u in report["users"]:
        assert u["targets"] == 2 * 4  # 8 sessions -> 6 train, 2 test of 5 kept plays
        assert set(u["models"]) == {"gru", "pop", "recent", "markov", "sknn"}
        for m in u["models"].values():
            assert set(m) == {"hr@10", "hr@20", "mrr@10", "mrr@20", "train_s", "ms_per_pred"}
    assert set(report["macro"]) == {"gru", "pop", "recent", "markov", "sknn"}
    bob = report["users"][1]["models"]
    assert bob["markov"]["hr@10"] == 1.0  # bob always plays tune 0,1,3,4,5 in order


def test_cli_table_and_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "logs"
    folder.mkdir()
    write_log(folder / "a.tsv", ("ann",))
    write_log(folder / "b.tsv", ("bob",))
    assert main([str(folder), "--models", "pop,markov"]) == 0
    out = capsys.readouterr().out
    assert "markov" in out and "macro" in out and "ann" in out and "bob" in out


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.json")]) == 2
    assert "no such file" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{{{ not json")
    assert main([str(bad), "--json"]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert main([str(write_log(tmp_path / "l.tsv")), "--models", "lstm"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert main([]) == 2


def test_module_entry_point() -> None:
    proc = subprocess.run([sys.executable, "-m", "recommender.evaluate_cli", "--help"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "segue evaluate" in proc.stdout
