"""The GRU recommender: learning, determinism, fine-tuning, cold tracks, the catalogue cap,
cancel, NaN guard, explain."""

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
                unk_rate=0.0, lr=0.01, threads=1, seed=0)
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


def test_candidates_it_never_learned_are_scored_from_their_fields() -> None:
    meta = {**meta_for(CYCLE), "new-a": {"artist": "A"}, "new-a2": {"artist": "a"},
            "new-b": {"artist": "B"}}
    rec = Recommender(tiny(epochs=3)).fit(cycle_sessions(10), metadata=meta)
    # v1: a test track unheard in training is not a candidate -> a miss
    data = UserData("u", [[Event(t) for t in s] for s in cycle_sessions(10)],
                    [["t0", "t1", "zz", "t2"]])
    metrics, _ = evaluate_model(Recommender(tiny(epochs=3)), data)
    assert metrics.targets == 3 and metrics.ranks[1] == float("inf")
    # Library candidates: the never-learned ones get a finite score from their artist;
    # two with the same fields tie exactly, another artist's does not.
    sc = rec.scorer(["t0", "new-a", "new-a2", "new-b", "nothing-known"])
    sc.observe_sessions([["t0", "t1"]])
    scores, _ = sc.scores()
    assert np.isfinite(scores).all()
    assert scores[1] == scores[2] != scores[3]
    # Once heard in the context it counts for recency and repeats like any track.
    col = sc.scoring.column("new-b")
    assert col >= rec.net.n_items  # an extra column, not a learned one
    sc.observe("new-b")
    assert sc.log.items[sc.log.n - 1] == col
    assert sc.signals.features()[0][col] == 1.0  # recency: just played


def test_skips_are_a_training_signal_only() -> None:
    sessions = [[Event(t) for t in s] for s in cycle_sessions(20)]
    for s in sessions:
        s.insert(1, Event("skipme", skipped=True))
    rec = Recommender(tiny(epochs=3, skip_weight=0.5)).fit(sessions)
    assert "skipme" not in rec.learned_tracks()  # never heard through: nothing to learn
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


def test_finetune_grows_vocabulary_new_track_starts_as_a_cold_track() -> None:
    rec = Recommender(tiny(epochs=5, finetune_epochs=0)).fit(
        cycle_sessions(20), metadata=meta_for(CYCLE))
    n = len(rec.learned_tracks())
    w = rec.net.item.weight.detach().clone()
    rec.fit([["t0", "new-a", "t1"], ["new-x"]],
            metadata={"new-a": {"artist": "a "}, "new-x": {"genre": "POP"}})
    assert rec.learned_tracks()[n:] == ["new-a", "new-x"]
    net = rec.net
    assert torch.equal(net.item.weight[: len(w)].detach(), w)  # 0 epochs: old rows kept
    # A new track starts exactly where the cold scorer put it: its own vector is the cold
    # offset and its bias the cold bias, on top of its fields (artist A, like t0..t2).
    row = rec.vocab.get("new-a")
    learned, cold = net.output_vectors(torch.tensor([row]))
    assert torch.allclose(learned, cold)
    assert torch.equal(net.bias[row], net.cold_bias[0])
    artist = net.item_fields[:, 0]
    assert artist[row] == artist[rec.vocab.get("t0")] != 0
    assert artist[rec.vocab.get("new-x")] == 0  # no artist: the genre alone
    # A real fine-tune (its time, target < 5 s, is measured in bench/rec_speed.py).
    rec.config.finetune_epochs = 2
    rec.fit([["t1", "new-a2", "t2"]], metadata={"new-a2": {"artist": "A"}})
    assert rec.metrics["finetunes"] == 2


def test_first_play_is_scored_cold_in_training() -> None:
    from recommender.data import build_stream
    from recommender.train import Trainer, first_positions
    from recommender.vocab import Vocab

    vocab = Vocab(["a", "b", "c"])
    stream = build_stream([["a", "b"], ["a", "c", "b"]], vocab)
    first = first_positions(stream.items, np.array([False, True, False, False]))
    # a was learned before this stream (-1); b first at 1, c at 3; padding never
    assert first.tolist() == [np.iinfo(np.int64).max, -1, 1, 3]
    from recommender.model import Net

    cfg = tiny()
    tr = Trainer(Net(cfg, len(vocab), [1] * 5), stream, cfg, lr=0.01, seed=0)
    seen = tr.seen(torch.tensor([0, 1, 2, 3]), torch.tensor([1, 2, 3]))
    # a fresh network has learned nothing: a is first heard at 0, b at 1, c at 3; at
    # position 0 (a played) b and c are not heard yet - the target b is a cold track
    assert seen.tolist() == [[True, False, False], [True, True, False], [True, True, False],
                             [True, True, True]]


def test_add_tracks_makes_unplayed_tracks_scorable(tmp_path) -> None:
    rec = Recommender(tiny(epochs=5)).fit(cycle_sessions(20), metadata=meta_for(CYCLE))
    n = len(rec.known_tracks())
    added = rec.add_tracks({"fresh-a": {"artist": "a", "genre": "jazz"},
                            "fresh-z": {"artist": "Zed"},
                            "no-meta": {},  # nothing known: not scorable
                            "t1": {"artist": "A"}})  # learned already
    assert added == ["fresh-a", "fresh-z"] and rec.known_tracks()[n:] == added
    assert rec.learned_tracks() == rec.known_tracks()[:n]  # nothing was trained
    top = {t for t, _ in rec.recommend(["t0", "t1"], k=len(CYCLE) + 2)}
    assert {"fresh-a", "fresh-z"} <= top
    rec.save(tmp_path / "m.pt")
    again = Recommender.load(tmp_path / "m.pt")
    assert again.known_tracks() == rec.known_tracks()
    assert again.recommend(["t0", "t1"], k=4) == rec.recommend(["t0", "t1"], k=4)
    assert rec.add_tracks({"fresh-a": {"artist": "A"}}) == []


def test_catalogue_cap_keeps_the_most_played_tracks() -> None:
    sessions = cycle_sessions(20) + [["rare-1", "t0"], ["rare-2", "t1"]]
    meta = {**meta_for(CYCLE), "rare-1": {"artist": "A"}, "rare-2": {"artist": "B"}}
    rec = Recommender(tiny(epochs=2, max_tracks=8)).fit(sessions, metadata=meta)
    assert set(rec.learned_tracks()) == set(CYCLE)  # the 8 most played
    # The rest is scored from its metadata, like any track the network never learned.
    assert {"rare-1", "rare-2"} <= set(rec.known_tracks())
    assert {t for t, _ in rec.recommend(["t0"], k=10)} >= {"rare-1", "rare-2"}


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
