"""Checkpoints: round trip, corrupt / truncated / foreign files, atomic save under a crash."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from recommender.api import Config, Recommender
from recommender.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[2]


def small_config() -> Config:
    return Config(embedding_dim=8, hidden_dim=16, batch_size=2, bptt=4, epochs=2,
                  val_share=0.0, repeat_window=8, successor_memory=2, threads=1)


@pytest.fixture(scope="module")
def fitted() -> Recommender:
    sessions = [[("Artist", f"song {i % 5}"), ("Artist", f"song {(i + 1) % 5}"), 7, "x"]
                for i in range(12)]
    meta = {("Artist", f"song {i}"): {"artist": "Artist"} for i in range(5)}
    return Recommender(small_config()).fit(sessions, metadata=meta)


def test_round_trip_keeps_everything(fitted: Recommender, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"
    fitted.save(path)
    loaded = Recommender.load(path)
    assert loaded.known_tracks() == fitted.known_tracks()  # tuple, int and str ids
    assert isinstance(loaded.known_tracks()[0], tuple)
    assert loaded.config == fitted.config
    assert loaded.metadata == fitted.metadata
    assert loaded.history == fitted.history
    assert loaded.metrics["epochs"] == fitted.metrics["epochs"]
    ctx = [("Artist", "song 1"), 7]
    assert loaded.recommend(ctx, k=4) == fitted.recommend(ctx, k=4)
    # Fine-tuning a loaded model works and grows its vocabulary.
    loaded.fit([[7, "brand new"]])
    assert "brand new" in loaded.known_tracks()
    assert not list(tmp_path.glob(".*.tmp"))  # no temp file left behind


def test_checkpoint_is_a_plain_dict(fitted: Recommender, tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    fitted.save(path)
    payload = torch.load(path, weights_only=True)
    assert payload["format"] == "segue-recommender" and payload["format_version"] == 1
    assert set(payload) >= {"config", "vocab", "state_dict", "metrics", "metadata"}


def test_bad_files_raise_checkpoint_error(fitted: Recommender, tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    fitted.save(good)
    data = good.read_bytes()
    cases = {
        "missing.pt": None,
        "empty.pt": b"",
        "garbage.pt": os.urandom(4096),
        "truncated.pt": data[: len(data) // 2],
        "truncated-tail.pt": data[:-10],
        "flipped.pt": data[:200] + bytes(b ^ 0xFF for b in data[200:400]) + data[400:],
        "foreign-pickle.pt": pickle.dumps({"weights": [1, 2, 3]}),
        "text.pt": b"hello, I am not a model\n",
    }
    for name, content in cases.items():
        p = tmp_path / name
        if content is not None:
            p.write_bytes(content)
        with pytest.raises(CheckpointError):
            Recommender.load(p)


def test_malicious_pickle_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    p = tmp_path / "evil.pt"
    p.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(CheckpointError):
        Recommender.load(p)
    torch.save({"format": "segue-recommender", "evil": Evil()}, tmp_path / "evil2.pt")
    with pytest.raises(CheckpointError):
        Recommender.load(tmp_path / "evil2.pt")
    assert not marker.exists()


def test_foreign_or_inconsistent_dicts(fitted: Recommender, tmp_path: Path) -> None:
    good = tmp_path / "good.pt"
    fitted.save(good)
    payload = torch.load(good, weights_only=True)

    def broken(**change) -> Path:
        p = tmp_path / "broken.pt"
        d = dict(payload)
        d.update(change)
        torch.save(d, p)
        return p

    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError):
        Recommender.load(tmp_path / "other.pt")
    torch.save(torch.zeros(3), tmp_path / "tensor.pt")
    with pytest.raises(CheckpointError):
        Recommender.load(tmp_path / "tensor.pt")
    bad_sd = dict(payload["state_dict"])
    bad_sd["bias"] = torch.zeros(3)
    nan_sd = dict(payload["state_dict"])
    nan_sd["bias"] = torch.full_like(nan_sd["bias"], float("nan"))
    for change in ({"format_version": 99}, {"vocab": payload["vocab"][:-1]},
                   {"state_dict": bad_sd}, {"state_dict": nan_sd},
                   {"config": {**payload["config"], "cell": "lstm"}},
                   {"config": {**payload["config"], "hidden_dim": "big"}},
                   {"vocab": "abc"}, {"history": [[1]]}):
        with pytest.raises(CheckpointError):
            Recommender.load(broken(**change))


def test_failed_replace_leaves_old_file_intact(fitted: Recommender, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "model.pt"
    save_checkpoint(path, {"format": "old"})
    before = path.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        fitted.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]  # temp file removed


@pytest.mark.slow
def test_crash_mid_save_leaves_old_checkpoint(fitted: Recommender, tmp_path: Path) -> None:
    """A child process dies (os._exit) after writing the new data but before the rename."""
    path = tmp_path / "model.pt"
    fitted.save(path)
    before = path.read_bytes()
    script = textwrap.dedent(f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        from recommender.api import Recommender
        rec = Recommender.load({str(path)!r})
        rec.fit([[7, "x", 7]])               # a different model to write
        os.fsync = lambda fd: os._exit(9)    # "power cut" right after the data is written
        rec.save({str(path)!r})
        os._exit(0)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=120)
    assert proc.returncode == 9, proc.stderr.decode()[-2000:]
    assert path.read_bytes() == before
    assert Recommender.load(path).known_tracks() == fitted.known_tracks()


def test_load_checkpoint_only_raises_checkpoint_error(tmp_path: Path) -> None:
    d = tmp_path / "dir.pt"
    d.mkdir()
    with pytest.raises(CheckpointError):
        load_checkpoint(d)
