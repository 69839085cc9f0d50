"""Validation and the blend run beside the training: the model is bitwise the sequential one.

``Trainer.fit`` validates each round on a copy of the network while the next round trains,
and fits the blend beside the training; when a validation stops training, the round trained
meanwhile is discarded and the trainer restored (weights, optimiser, learning rate, random
generators). These tests compare that against the strictly sequential order
(``overlap=False``) on a real training with early stopping, dropout, hidden inputs, a
sampled softmax and the blend.
"""

from __future__ import annotations

import threading
import time

import torch

from recommender.blend import fit_blend
from recommender.config import Config
from recommender.data import build_stream
from recommender.logs import sessions_by_user, track_key
from recommender.model import BLEND_BUFFERS, Net
from recommender.synth import heavy_log
from recommender.train import (TrainReport, Trainer, item_fields, select_vocab, split_point,
                               value_counts)
from recommender.vocab import TrackFields


class WaitingTrainer(Trainer):
    """A trainer whose validations (run beside the training) return only after the
    training has taken another step: so every round's verdict arrives while the next
    round trains, and the stop always lands on a round trained ahead - the path that must
    be discarded exactly."""

    def evaluate(self, lo: int, hi: int) -> dict[str, float]:
        val = super().evaluate(lo, hi)
        if threading.current_thread() is not threading.main_thread():
            steps, deadline = self.report.steps, time.monotonic() + 5.0
            while self.report.steps == steps and time.monotonic() < deadline:
                time.sleep(0.001)
        return val


def config() -> Config:
    # Small, but with every source of randomness on (dropout, hidden inputs, sampling), a
    # validation every few hundred plays and a tail long enough for the blend.
    return Config(embedding_dim=16, hidden_dim=32, batch_size=8, bptt=8, epochs=12,
                  patience=2, val_every_plays=600, full_softmax_max=256, n_sample=64,
                  repeat_window=32, successor_memory=4, seed=3, max_train_s=0)


def train(trainer_cls: type[Trainer], overlap: bool) -> tuple[Net, TrainReport]:
    cfg = config()
    plays, albums = heavy_log(plays=4000, artists=60, seed=1)
    (sessions,) = sessions_by_user(plays).values()
    fields = TrackFields()
    fields.update({track_key(t.artist, t.title): t.metadata() for al in albums for t in al})
    torch.manual_seed(cfg.seed)
    vocab = select_vocab(sessions, cfg.max_tracks)
    stream = build_stream(sessions, vocab, cfg.max_skips)
    cols = item_fields(cfg, vocab, fields)
    net = Net(cfg, len(vocab), value_counts(cols))
    net.item_fields.copy_(cols)
    trainer = trainer_cls(net, stream, cfg, lr=cfg.lr, seed=cfg.seed)
    report = trainer.fit(cfg.epochs, split_point(stream, cfg), cfg.patience, cfg.tail_epochs,
                         blend=fit_blend, overlap=overlap)
    return net, report


def test_overlapped_training_gives_the_sequential_model_bitwise() -> None:
    seq_net, seq = train(Trainer, overlap=False)
    net, rep = train(WaitingTrainer, overlap=True)
    assert 0 < seq.best_epoch < seq.epochs < config().epochs  # it stopped early
    assert "discarded" in rep.cpu and "discarded" not in seq.cpu  # a round was undone
    assert rep.blend.get("fitted") == 1.0 and rep.blend == seq.blend
    assert (rep.epochs, rep.best_epoch, rep.steps, rep.val, rep.history) == \
        (seq.epochs, seq.best_epoch, seq.steps, seq.val, seq.history)
    a, b = seq_net.state_dict(), net.state_dict()
    assert list(a) == list(b)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])]
    assert not torch.equal(net.blend, torch.tensor(
        [1.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0]))  # the fitted blend was copied in
    assert all(name in a for name in BLEND_BUFFERS)


def test_cancel_stops_the_threads_beside_the_training() -> None:
    cancel = threading.Event()
    cfg = config()
    plays, albums = heavy_log(plays=4000, artists=60, seed=1)
    (sessions,) = sessions_by_user(plays).values()
    vocab = select_vocab(sessions, cfg.max_tracks)
    stream = build_stream(sessions, vocab, cfg.max_skips)
    net = Net(cfg, len(vocab), [1] * 5)
    steps = []

    def progress(epoch: int, step: int, loss: float) -> None:
        steps.append(step)
        if len(steps) == 40:  # a few validations in: some run beside the training
            cancel.set()

    before = threading.active_count()
    trainer = Trainer(net, stream, cfg, lr=cfg.lr, seed=cfg.seed, progress=progress,
                      cancel=cancel)
    try:
        trainer.fit(cfg.epochs, split_point(stream, cfg), cfg.patience, blend=fit_blend)
    except Exception as exc:  # noqa: BLE001 - the type is checked below
        assert type(exc).__name__ == "Cancelled"
    else:
        raise AssertionError("training was not cancelled")
    assert threading.active_count() == before  # nothing left running


def test_context_signals_copy_goes_on_alone() -> None:
    import numpy as np

    from recommender.signals import ContextSignals

    def play(sig: ContextSignals, plays: list[int]) -> None:
        for t in plays:
            if t < 0:
                sig.start_session()
            else:
                sig.observe(t)

    artist = np.array([0, 1, 1, 2, 2, 3, 0])
    history = [1, 2, 3, -1, 2, 4, 5, -1, 1, 2, 6, 0, -1, 3, 4]
    later = [2, 5, -1, 1, 3, 2, -1, 4, 5, 6]
    a = ContextSignals(artist)
    play(a, history)
    before = a.features()
    b = a.copy()
    play(b, later)
    assert np.array_equal(a.features(), before)  # the copy's plays left the original alone
    play(a, later)
    assert np.array_equal(a.features(), b.features())  # and the copy went on the same
    assert not np.array_equal(a.features(), before)


def test_a_big_vocabulary_is_validated_in_turn(monkeypatch) -> None:
    """Beside each other, a step's and a validation's score tensors doubled the peak memory
    of the 1.5M-track library's training: above OVERLAP_MAX_ITEMS the rounds are validated
    in turn - the same model, as the sequential order is the reference."""
    import recommender.train as train_module

    overlapped, _ = train(Trainer, overlap=True)
    monkeypatch.setattr(train_module, "OVERLAP_MAX_ITEMS", 10)
    assert not train_module.overlaps(overlapped)
    in_turn, report = train(Trainer, overlap=True)
    assert report.cpu.get("discarded", 0.0) == 0.0  # nothing trained ahead of a verdict
    for a, b in zip(overlapped.state_dict().values(), in_turn.state_dict().values(),
                    strict=True):
        assert torch.equal(a, b)
