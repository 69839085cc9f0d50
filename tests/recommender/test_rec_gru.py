"""The GRU recommender: learning, determinism, fine-tuning, cancel, NaN guard, explain."""

from __future__ import annotations

import random
import threading

import numpy as np
import pytest
import torch

from recommender.api import Cancelled, Config, Event, Recommender, TrainingError
from recommender.evaluate import UserData, evaluate_model

pytestmark = pytest.mark.slow  # real torch training in nearly every test

CYCLE = [f"t{i}" for i in range(8)]


def tiny(**over) -> Config:
    base = dict(embedding_dim=16, hidden_dim=32, batch_size=4, bptt=8, epochs=25,
                val_share=0.0, repeat_window=16, successor_memory=4, dropout=0.0,
                unk_rate=0.0, lr=0.01, threads=2, seed=0)
    base.update(over)
    return Config(**base)


def cycle_sessions(n: int = 40, length: int = 10, seed: int = 0) -> list[list[str]]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = rng.randrange(len(CYCLE))
        out.append([CYCLE[(s + j) % len(CYCLE)] for j in range(length)])
    return out


def hr_at_1(rec: Recommender, length: int = 3) -> float:
    hits = 0
    for i in range(len(CYCLE)):
        ctx = [CYCLE[(i - j) % 8] for j in range(length - 1, -1, -1)]
        hits += rec.recommend(ctx, k=1)[0][0] == CYCLE[(i + 1) % 8]
    return hits / len(CYCLE)


@pytest.mark.parametrize("cell", ["gru", "rnn"])
def test_plain_network_learns_a_deterministic_sequence(cell: str) -> None:
    # Copy mechanisms off: the recurrent network alone must learn "after t_i comes t_i+1".
    # (Timing targets are measured by bench/rec_speed.py, not asserted on a busy CI box.)
    rec = Recommender(tiny(cell=cell, repeat_window=0, successor_memory=0)).fit(
        cycle_sessions())
    assert hr_at_1(rec) >= 7 / 8


def test_full_model_learns_and_recommend_returns_probabilities() -> None:
    rec = Recommender(tiny()).fit(cycle_sessions())
    # With the copy inputs the model leans on the history: give it some (as the player will).
    assert hr_at_1(rec, length=20) == 1.0
    recs = rec.recommend(["t0", "t1"], k=3, exclude=["t2"])
    assert [t for t, _ in recs][0] != "t2" and len(recs) == 3
    assert all(0.0 <= p <= 1.0 for _, p in recs)
    assert recs[0][1] >= recs[1][1] >= recs[2][1]
    assert len(rec.recommend(["t0"], k=100)) == 8  # k capped at the vocabulary
    assert rec.recommend(["never-seen"], k=2)  # unknown context tracks are fine
    assert rec.recommend([], k=2)


def test_same_seed_same_model() -> None:
    a = Recommender(tiny(epochs=3)).fit(cycle_sessions(20))
    b = Recommender(tiny(epochs=3)).fit(cycle_sessions(20))
    for (ka, va), (kb, vb) in zip(a.net.state_dict().items(), b.net.state_dict().items()):
        assert ka == kb and torch.equal(va, vb), ka
    c = Recommender(tiny(epochs=3, seed=1)).fit(cycle_sessions(20))
    assert not torch.equal(a.net.item.weight, c.net.item.weight)


def test_scorer_agrees_with_recommend() -> None:
    rec = Recommender(tiny(epochs=5)).fit(cycle_sessions(20))
    ctx_sessions = [["t3", "t4", "t5"], ["t0", "t1"]]
    sc = rec.scorer(rec.known_tracks())
    sc.observe_sessions(ctx_sessions)
    scores, tb = sc.scores()
    assert tb is None
    flat = [Event(t, time=1000.0 * i) for i, t in enumerate(ctx_sessions[0])] + \
        [Event(t, time=10_000.0 + i) for i, t in enumerate(ctx_sessions[1])]
    rec_ids = [t for t, _ in rec.recommend(flat, k=8)]
    order = [rec.known_tracks()[i] for i in np.argsort(-scores, kind="stable")]
    assert rec_ids == order
    # Incremental observes reach the same state as a bulk feed of the same plays.
    sc2 = rec.scorer(rec.known_tracks())
    sc2.observe_sessions(ctx_sessions[:1])
    sc2.start_session()
    for t in ctx_sessions[1]:
        sc2.observe(t)
    assert np.allclose(sc2.scores()[0], scores, atol=1e-4)


def test_unknown_candidates_rank_last_and_evaluate_runs() -> None:
    rec = Recommender(tiny(epochs=3))
    data = UserData("u", [[Event(t) for t in s] for s in cycle_sessions(10)],
                    [["t0", "t1", "zz", "t2"]])
    metrics, timing = evaluate_model(rec, data)
    assert metrics.targets == 3 and metrics.ranks[1] == float("inf")
    sc = rec.scorer(["t0", "nope"])
    sc.observe_sessions([["t0"]])
    assert sc.scores()[0][1] == float("-inf")


def test_skips_are_a_training_signal_only() -> None:
    sessions = [[Event(t) for t in s] for s in cycle_sessions(20)]
    for s in sessions:
        s.insert(1, Event("skipme", skipped=True))
    rec = Recommender(tiny(epochs=3, skip_weight=0.5)).fit(sessions)
    assert "skipme" in rec.known_tracks()
    # A skipped play in the context is ignored.
    a = rec.recommend(["t1", "t2"], k=3)
    b = rec.recommend(["t1", Event("t5", skipped=True), "t2"], k=3)
    assert a == b


def test_fit_input_errors() -> None:
    with pytest.raises(ValueError):
        Recommender(tiny()).fit([[Event("a", skipped=True)], []])
    with pytest.raises(RuntimeError):
        Recommender(tiny()).recommend(["a"])
    with pytest.raises(TypeError):
        Recommender(tiny()).fit([[1.5, 2.5]])  # floats are not stable ids
    with pytest.raises(ValueError):
        Recommender(tiny()).fit([["a"]], resume=True)
    with pytest.raises(ValueError):
        Config(cell="lstm").validate()


def test_cancel_stops_training_promptly_and_keeps_the_old_model() -> None:
    cancel = threading.Event()
    calls = []

    def progress(epoch: int, step: int, loss: float) -> None:
        calls.append((epoch, step, loss))
        cancel.set()

    rec = Recommender(tiny(epochs=1000))
    with pytest.raises(Cancelled):
        rec.fit(cycle_sessions(), progress=progress, cancel=cancel)
    assert len(calls) == 1 and not rec.fitted  # promptly: after the step that saw the cancel
    # Cancelling a fine-tune leaves the fitted model untouched.
    rec = Recommender(tiny(epochs=2)).fit(cycle_sessions(10))
    before = rec.net.item.weight.clone()
    cancel.set()
    with pytest.raises(Cancelled):
        rec.fit([["t1", "new"]], cancel=cancel)
    assert torch.equal(rec.net.item.weight, before) and "new" not in rec.known_tracks()


def test_nan_guard_recovers_then_gives_up(monkeypatch: pytest.MonkeyPatch) -> None:
    import recommender.train as train_mod

    real = train_mod.F.nll_loss
    bad = {"left": 2}

    def flaky(*args, **kwargs):
        out = real(*args, **kwargs)
        if bad["left"] > 0:
            bad["left"] -= 1
            return out * float("nan")
        return out

    monkeypatch.setattr(train_mod.F, "nll_loss", flaky)
    rec = Recommender(tiny(epochs=3)).fit(cycle_sessions(10))
    assert rec.metrics["nan_events"] == 2
    assert all(torch.isfinite(p).all() for p in rec.net.parameters())

    bad["left"] = 10 ** 6
    with pytest.raises(TrainingError):
        Recommender(tiny(epochs=3)).fit(cycle_sessions(10))


def test_explain_names_the_track_that_led_to_the_pick() -> None:
    rec = Recommender(tiny(repeat_window=0, successor_memory=0)).fit(cycle_sessions())
    reasons = rec.explain(["t6", "t2", "t3"], "t4")
    assert reasons and reasons[0][0] == "t3" and reasons[0][1] > 0
    assert rec.explain(["t3"], "not-a-track") == []


def meta_for(tracks: list[str]) -> dict[str, dict[str, str]]:
    return {t: {"artist": "A" if t in ("t0", "t1", "t2") else "B", "genre": "pop"}
            for t in tracks}


def test_finetune_grows_vocabulary_new_track_starts_at_artist_mean() -> None:
    rec = Recommender(tiny(epochs=5, finetune_epochs=0)).fit(
        cycle_sessions(20), metadata=meta_for(CYCLE))
    n = len(rec.known_tracks())
    w = rec.net.item.weight.detach().clone()
    a_rows = [rec.vocab.get(t) for t in ("t0", "t1", "t2")]
    rec.fit([["t0", "new-a", "t1"], ["new-x"]],
            metadata={"new-a": {"artist": "a "}, "new-x": {"genre": "POP"}})
    assert rec.known_tracks()[n:] == ["new-a", "new-x"]
    new_w = rec.net.item.weight.detach()
    assert torch.equal(new_w[: len(w)], w)  # finetune_epochs=0: old rows untouched
    assert torch.allclose(new_w[rec.vocab.get("new-a")], w[a_rows].mean(0))
    # No artist: the genre group (every track is "pop") gives the mean of all tracks.
    assert torch.allclose(new_w[rec.vocab.get("new-x")], w[1:].mean(0))
    assert rec.net.item_artist[rec.vocab.get("new-a")] == rec.net.item_artist[a_rows[0]]
    # A real fine-tune keeps the new track close to its artist (its time, target < 5 s, is
    # measured in bench/rec_speed.py, not here).
    rec.config.finetune_epochs = 2
    rec.fit([["t1", "new-a2", "t2"]], metadata={"new-a2": {"artist": "A"}})
    v = rec.net.item.weight.detach()
    cos = torch.nn.functional.cosine_similarity(v[rec.vocab.get("new-a2")],
                                                v[a_rows].mean(0), dim=0)
    assert cos > 0.8
    assert rec.metrics["finetunes"] == 2


def test_add_tracks_cold_start_for_known_artists_only(tmp_path) -> None:
    rec = Recommender(tiny(epochs=5)).fit(cycle_sessions(20), metadata=meta_for(CYCLE))
    n = len(rec.known_tracks())
    w = rec.net.item.weight.detach().clone()
    a_rows = [rec.vocab.get(t) for t in ("t0", "t1", "t2")]
    added = rec.add_tracks({"fresh-a": {"artist": "a", "genre": "jazz"},
                            "fresh-z": {"artist": "Zed", "genre": "pop"},  # genre only: out
                            "t1": {"artist": "A"}})  # already known: unchanged
    assert added == ["fresh-a"] and rec.known_tracks()[n:] == ["fresh-a"]
    new_w = rec.net.item.weight.detach()
    assert torch.equal(new_w[: len(w)], w)
    assert torch.allclose(new_w[rec.vocab.get("fresh-a")], w[a_rows].mean(0))
    # Scorable at once, and it survives a checkpoint.
    assert "fresh-a" in {t for t, _ in rec.recommend(["t0", "t1"], k=len(CYCLE) + 1)}
    rec.save(tmp_path / "m.pt")
    assert "fresh-a" in Recommender.load(tmp_path / "m.pt").known_tracks()
    assert rec.add_tracks({"fresh-a": {"artist": "A"}}) == []


def test_copy_and_concurrent_use() -> None:
    import copy

    rec = Recommender(tiny(epochs=2)).fit(cycle_sessions(10))
    twin = copy.deepcopy(rec)  # the player fine-tunes a copy while the original serves
    assert twin.recommend(["t1"], k=3) == rec.recommend(["t1"], k=3)
    errors: list[BaseException] = []
    stop = threading.Event()

    def reader() -> None:
        try:
            while not stop.is_set():
                twin.recommend(["t1", "t2", "new"], k=3)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    th = threading.Thread(target=reader)
    th.start()
    twin.fit([["t1", "new", "t2"]] * 3)  # fine-tune swaps in a bigger model meanwhile
    stop.set()
    th.join()
    assert not errors and "new" in twin.known_tracks() and "new" not in rec.known_tracks()
