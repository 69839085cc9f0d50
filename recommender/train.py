"""Training and fine-tuning loop: session-parallel truncated BPTT with early stopping.

* progress(epoch, step, loss) after every optimiser step;
* a ``threading.Event`` cancel checked before every step (raises ``Cancelled``);
* a NaN guard: a non-finite loss or gradient skips the step, restores the last good
  weights and halves the learning rate; after ``MAX_NAN`` such events training gives up;
* early stopping on a time-ordered validation tail (HR@20 + MRR@20 there, the protocol's
  own measure), then a short pass over that tail so the newest listening is learned too;
* stopping is decided by work done (epochs, early stopping), never by the clock, so the
  same data and seed give the same model on any machine load; the time budget
  (``Config.max_train_s``) is a safety net that is reported when it bites;
* time-aware scoring: at every position, a track not heard yet is scored as a cold track
  (from its fields), as a track the listener never played is at recommendation time.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .base import Cancelled  # defined there (torch-free), raised here
from .config import Config
from .data import (NEVER, Stream, build_stream, lane_layout, next_occurrences,
                   previous_occurrences, repeat_features, successor_features, windows)
from .logs import Event, TrackId
from .model import BLEND_BUFFERS, Feats, Net
from .vocab import FIELDS, PAD, TrackFields, Vocab

log = logging.getLogger(__name__)

#: How many non-finite losses are survived before training gives up.
MAX_NAN = 3
#: A sampled-softmax step always scores the tracks of the latest this-many plays.
SAMPLE_RECENT = 16
#: ...and what followed the latest this-many earlier plays of each input track.
SAMPLE_SUCCESSORS = 4
#: Validation and the blend run beside the training (see ``_EarlyStopping``) only up to
#: this many learned tracks. Beside each other, a training step's and a validation's score
#: tensors are alive at once: on the 1.5M-track library (133,554 learned tracks) the peak
#: went from 4.2 to 8.0 GB (`segue train --fresh` under /usr/bin/time), over the 4 GB the
#: scale target allows; there the rounds are validated in turn (265 s instead of 241 s).
#: The heavy listener of bench.train_load learns 26,000.
OVERLAP_MAX_ITEMS = 100_000


def overlaps(net: Net) -> bool:
    """Whether validation may run beside the training for this network (same model either
    way: the overlapped run is bitwise the sequential one)."""
    return net.n_items <= OVERLAP_MAX_ITEMS


class TrainingError(RuntimeError):
    """Training diverged (non-finite loss) and could not recover."""


@dataclass
class TrainReport:
    """What a training run did: epochs, best epoch, validation figures, time."""

    epochs: float = 0  # passes over the training plays (in rounds: 1.5 = one and a half)
    best_epoch: float = 0
    steps: int = 0
    seconds: float = 0.0
    val: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    nan_events: int = 0
    time_limited: bool = False
    #: Wall seconds the training thread waited for the threads beside it (a validation's
    #: verdict, the blend at the end): on an idle machine, the wall time is about the
    #: training thread's CPU time plus this.
    waited: float = 0.0
    #: CPU seconds of the training thread by phase (train, validate, blend, tail): what
    #: the work cost, whatever else the machine was doing.
    cpu: dict[str, float] = field(default_factory=dict)
    #: What the blend fit reported (empty: no blend fitted).
    blend: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """Plain dict for checkpoints."""
        return {"epochs": self.epochs, "best_epoch": self.best_epoch, "steps": self.steps,
                "seconds": round(self.seconds, 3), "val": dict(self.val),
                "history": list(self.history), "nan_events": self.nan_events,
                "time_limited": self.time_limited, "waited_s": round(self.waited, 3),
                "cpu_seconds": round(sum(self.cpu.values()), 3),
                "cpu": {k: round(v, 3) for k, v in self.cpu.items()}}

    def timed(self, phase: str) -> _Phase:
        """``with report.timed("train"): ...`` adds the block's CPU time to ``phase``."""
        return _Phase(self.cpu, phase)


class _Phase:
    """Context manager adding the calling thread's CPU time to ``cpu[phase]``."""

    def __init__(self, cpu: dict[str, float], phase: str) -> None:
        self.cpu, self.phase = cpu, phase

    def __enter__(self) -> None:
        self.start = time.thread_time()

    def __exit__(self, *exc: object) -> None:
        self.cpu[self.phase] = self.cpu.get(self.phase, 0.0) + time.thread_time() - self.start


class Trainer:
    """Trains ``net`` on one ``Stream``; positions are indices into the stream."""

    def __init__(self, net: Net, stream: Stream, cfg: Config, *, lr: float, seed: int,
                 progress: Callable[[int, int, float], None] | None = None,
                 cancel: threading.Event | None = None) -> None:
        self.net, self.stream, self.cfg = net, stream, cfg
        self.lr = lr
        self.progress, self.cancel = progress, cancel
        self.rng = np.random.default_rng(seed)
        self.gen = torch.Generator().manual_seed(seed)
        self.items = torch.from_numpy(stream.items)
        self.session = torch.from_numpy(stream.session)
        self.starts = torch.from_numpy(stream.starts)
        self.targets = torch.from_numpy(stream.targets())
        self.skips = torch.from_numpy(stream.skips)
        self.prev_occ = previous_occurrences(stream.items, cfg.successor_memory)
        self.sample_probs: torch.Tensor | None = None
        if net.n_items > cfg.full_softmax_max:
            counts = np.bincount(stream.items, minlength=net.n_items).astype(np.float64)
            probs = (counts + 1.0) ** 0.75
            probs[0] = 0.0
            self.sample_probs = torch.from_numpy(probs / probs.sum())
        self.next_occ = next_occurrences(stream.items)
        self.first_pos = torch.from_numpy(first_positions(stream.items, net.heard.numpy()))
        self.opt = self._optimizer()
        self.good_state = copy.deepcopy(net.state_dict())
        self.report = TrainReport()

    def _set_lr(self, lr: float) -> None:
        self.lr = lr
        for group in self.opt.param_groups:
            group["lr"] = lr

    def _optimizer(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.net.parameters(), lr=self.lr,
                                weight_decay=self.cfg.weight_decay)

    # ------------------------------------------------------------------ features

    def feats(self, pos: torch.Tensor) -> Feats:
        """Copy-mechanism inputs for stream positions ``pos`` [M] (see ``Net.logits``)."""
        out: Feats = {}
        p = pos.numpy()
        st, cfg = self.stream, self.cfg
        if self.net.has_repeat:
            arrays = repeat_features(st.items, st.session, self.next_occ, p,
                                     cfg.repeat_window, cfg.repeat_latest)
            out["repeat"] = tuple(torch.from_numpy(a) for a in arrays)  # type: ignore[assignment]
        if self.net.has_succ:
            arrays = successor_features(st.items, st.session, p, self.prev_occ[p],
                                        cfg.successor_offsets)
            out["succ"] = tuple(torch.from_numpy(a) for a in arrays)  # type: ignore[assignment]
        return out

    # ------------------------------------------------------------------ one epoch

    def train_epoch(self, lo: int, hi: int, epoch: int) -> float:
        """One pass over the plays in ``[lo, hi)`` (targets inside it only); mean loss."""
        return list(self.train_rounds(lo, hi, epoch, 1))[0]

    def train_rounds(self, lo: int, hi: int, epoch: int, rounds: int,
                     between: Callable[[], None] | None = None) -> Iterator[float]:
        """One pass over the plays in ``[lo, hi)`` (targets inside it only) in ``rounds``
        parts of about equal work: yields each part's mean loss (the caller validates in
        between). ``between()`` is called before every step (it may raise to end the
        pass)."""
        net, cfg = self.net, self.cfg
        net.train()
        layout = lane_layout(hi - lo, cfg.batch_size, self.rng)
        layout = np.where(layout >= 0, layout + lo, -1)
        steps = list(windows(layout, cfg.bptt))
        bounds = np.linspace(0, len(steps), rounds + 1).astype(int)
        h: torch.Tensor | None = None
        for r in range(rounds):
            net.train()
            total, count = 0.0, 0
            for step in range(int(bounds[r]), int(bounds[r + 1])):
                if self.cancel is not None and self.cancel.is_set():
                    raise Cancelled("training cancelled")
                if between is not None:
                    between()
                loss, n, h = self._step(steps[step], hi, h)
                if n:
                    total += loss * n
                    count += n
                    if self.progress is not None:
                        self.progress(epoch, step + 1, loss)
            yield total / max(count, 1)

    def _step(self, w: np.ndarray, hi: int, h: torch.Tensor | None
              ) -> tuple[float, int, torch.Tensor | None]:
        """One optimiser step on the window ``w`` [lanes, bptt] of stream positions (-1:
        none): (loss, targets, hidden state to carry on)."""
        net, cfg = self.net, self.cfg
        pos = torch.from_numpy(np.ascontiguousarray(w))
        ok = pos >= 0
        p0 = pos.clamp(min=0)
        x = self.items[p0] * ok
        cold = None
        if cfg.unk_rate > 0:
            # Hide some inputs' own embedding (their fields stay), so that the network
            # learns what a track it never learned means in a context.
            cold = torch.rand(x.shape, generator=self.gen) < cfg.unk_rate
        start = self.starts[p0] & ok
        reset = start if not cfg.carry_state else None
        tg = self.targets[p0] * ok * (p0 + 1 < hi)
        out, h = net(x, start, h, reset, cold=cold)
        sel = (tg.reshape(-1) != 0).nonzero().squeeze(1)
        if len(sel) == 0:
            return 0.0, 0, h.detach()
        hs = out.reshape(-1, out.shape[-1])[sel]
        ps = p0.reshape(-1)[sel]
        target = tg.reshape(-1)[sel]
        feats = self.feats(ps)
        skips = self.skips[ps] if cfg.skip_weight > 0 else None
        subset = self._subset(target, feats, skips)
        logp = F.log_softmax(net.parts(hs, feats, subset=subset,
                                       seen=self.seen(ps, subset)), dim=1)
        loss = F.nll_loss(logp, self._cols(subset, target))
        if skips is not None:
            loss = loss + cfg.skip_weight * self._skip_loss(
                logp, self._cols(subset, skips), skips, target)
        if not self._finite_step(loss):
            return 0.0, 0, None  # the state came from bad weights: start the lanes afresh
        self.report.steps += 1
        return float(loss.detach()), len(sel), h.detach()

    def _subset(self, target: torch.Tensor, feats: Feats, skips: torch.Tensor | None
                ) -> torch.Tensor | None:
        """Tracks scored by a sampled-softmax step (``None``: the full softmax).

        With a large vocabulary only these are scored: padding, the targets, every track
        the copy inputs point at and the skips (the hard negatives), plus ``n_sample``
        tracks drawn by popularity^0.75 (the easy ones).
        """
        if self.sample_probs is None:
            return None
        drawn = torch.multinomial(self.sample_probs, self.cfg.n_sample, replacement=True,
                                  generator=self.gen)
        parts = [torch.zeros(1, dtype=torch.long), target, drawn]
        for name, (items, _, valid) in feats.items():
            if name == "repeat":  # the latest plays are the hard negatives; not all 512
                items, valid = items[:, :SAMPLE_RECENT], valid[:, :SAMPLE_RECENT]
            elif name == "succ":  # what followed the latest few earlier plays
                k = self.cfg.successor_memory
                keep = [o * k + j for o in range(self.cfg.successor_offsets)
                        for j in range(min(SAMPLE_SUCCESSORS, k))]
                items, valid = items[:, keep], valid[:, keep]
            parts.append(items[valid])
        if skips is not None:
            parts.append(skips.reshape(-1))
        return torch.unique(torch.cat(parts))  # sorted: padding (0) comes first

    def seen(self, pos: torch.Tensor, subset: torch.Tensor | None) -> torch.Tensor:
        """[M, S]: whether each scored track had been heard by each position ``pos`` [M]
        (else it is scored as a cold track, from its fields)."""
        first = self.first_pos if subset is None else self.first_pos[subset]
        return first[None, :] <= pos[:, None]

    @staticmethod
    def _cols(subset: torch.Tensor | None, tracks: torch.Tensor) -> torch.Tensor:
        """Column of each track in the (sub)set of scored tracks."""
        return tracks if subset is None else torch.searchsorted(subset, tracks)

    def _skip_loss(self, logp: torch.Tensor, cols: torch.Tensor, skips: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:
        """Unlikelihood of the tracks skipped right after each play: -log(1 - p(skip))."""
        mask = (skips != 0) & (skips != target[:, None])
        if not bool(mask.any()):
            return logp.new_zeros(())
        p = logp.gather(1, cols).exp().clamp(max=1 - 1e-6)
        return -(torch.log1p(-p) * mask).sum() / mask.sum()

    def _finite_step(self, loss: torch.Tensor) -> bool:
        """Backward + clipped Adam step; on a non-finite loss/gradient restore and slow down."""
        self.opt.zero_grad(set_to_none=True)
        if torch.isfinite(loss):
            loss.backward()
            norm = torch.nn.utils.clip_grad_norm_(self.net.parameters(), self.cfg.clip)
            if torch.isfinite(norm):
                self.opt.step()
                return True
        self.report.nan_events += 1
        log.warning("non-finite loss or gradient (event %d): restoring weights, lr %.2g -> %.2g",
                    self.report.nan_events, self.lr, self.lr / 2)
        if self.report.nan_events > MAX_NAN:
            raise TrainingError("training diverged: the loss stayed non-finite")
        self.net.load_state_dict(self.good_state)
        self.lr /= 2
        self.opt = self._optimizer()
        return False

    # ------------------------------------------------------------------ validation

    def val_positions(self, lo: int, hi: int) -> torch.Tensor:
        """Positions in ``[lo, hi)`` with a target inside it: the latest
        ``val_max_targets`` of them (a validation costs the same on any history)."""
        pos = torch.arange(lo, hi)
        tg = self.targets[pos] * (pos + 1 < hi)
        pos = pos[tg != 0]
        return pos[-self.cfg.val_max_targets:]

    @torch.no_grad()
    def hidden_at(self, pos: torch.Tensor, warmup: int = 256) -> torch.Tensor:
        """Hidden states [len(pos), H] after the plays at ``pos`` (sorted), read from the
        stream from ``warmup`` plays before the first of them."""
        net = self.net
        a = max(int(pos[0]) - warmup, 0) if len(pos) else 0
        b = int(pos[-1]) + 1 if len(pos) else 0
        span = torch.arange(a, b)
        x, start = self.items[span][None], self.starts[span][None]
        reset = start.clone() if not self.cfg.carry_state else None
        out, _ = net(x, start, None, reset)
        return out[0][pos - a]

    @torch.no_grad()
    def evaluate(self, lo: int, hi: int) -> dict[str, float]:
        """HR@20, MRR@20 and loss of the targets in ``[lo, hi)`` with conservative ranks.

        Every track of the stream is a candidate (the library's view), each scored as it
        was known at that moment: a track not heard yet is a cold track.
        """
        net = self.net
        net.eval()
        pos = self.val_positions(lo, hi)
        n = len(pos)
        if n == 0:
            net.train()
            return {"hr@20": 0.0, "mrr@20": 0.0, "loss": math.nan, "score": 0.0}
        hs = self.hidden_at(pos)
        tg = self.targets[pos]
        candidates = self.first_pos < NEVER
        candidates[PAD] = False
        hits = rr = loss = 0.0
        rows = chunk_rows(net.n_items, 256)
        for c in range(0, n, rows):
            p = pos[c: c + rows]
            lg = net.parts(hs[c: c + rows], self.feats(p), seen=self.seen(p, None))
            t = tg[c: c + rows]
            loss += float(F.cross_entropy(lg, t, reduction="sum"))
            lg = lg.masked_fill_(~candidates[None, :], float("-inf"))
            tl = lg.gather(1, t[:, None])
            rank = (lg >= tl).sum(1)  # ties against the model
            hit = (rank <= 20) & torch.isfinite(tl[:, 0])
            hits += float(hit.sum())
            rr += float((hit / rank.clamp(min=1)).sum())
        net.train()
        hr, mrr = hits / n, rr / n
        return {"hr@20": hr, "mrr@20": mrr, "loss": loss / n, "score": hr + mrr}

    # ------------------------------------------------------------------ the loop

    def fit(self, epochs: int, val_from: int | None = None, patience: int = 3,
            tail_epochs: int = 0, lo: int = 0, blend: BlendFn | None = None,
            overlap: bool = True) -> TrainReport:
        """Train up to ``epochs`` epochs on ``[lo, val_from)``, stopping early on the tail.

        Without ``val_from`` all epochs run on ``[lo, len)``. With it, the best epoch's
        weights are kept, ``blend(trainer, val_from, len, stop)`` fits the blend on a copy
        of them (on a tail the network has not learned yet; its buffers are copied over),
        and ``tail_epochs`` passes are made over the tail. Afterwards ``net.heard`` marks
        every track with a kept play.

        Validation and the blend run beside the training, in threads of their own, on
        copies of the network (see ``_EarlyStopping``): each torch operation still runs on
        one thread, so the model is bitwise the one a strictly sequential run makes
        (``overlap=False``: that run, each validation awaited before the next round and the
        blend fitted after the last).
        """
        t0 = time.perf_counter()
        n = len(self.stream)
        if val_from is None:
            self._fit_plain(epochs, lo, n, t0)
        else:
            stopping = _EarlyStopping(self, val_from, n, patience, blend,
                                      overlap and overlaps(self.net))
            try:
                stopping.run(epochs, lo, t0)
                if tail_epochs > 0:
                    with self.report.timed("tail"):
                        for e in range(tail_epochs):
                            self.train_epoch(val_from, n,
                                             math.ceil(self.report.epochs) + 1 + e)
                stopping.finish_blend()
            finally:
                stopping.close()
        self.net.heard.copy_(self.first_pos < NEVER)
        self.net.heard[PAD] = False
        self.report.seconds = time.perf_counter() - t0
        return self.report

    def _fit_plain(self, epochs: int, lo: int, hi: int, t0: float) -> None:
        """``epochs`` passes over ``[lo, hi)`` without validation (a fine-tune)."""
        budget = self.cfg.max_train_s
        for epoch in range(1, epochs + 1):
            r0 = time.perf_counter()
            with self.report.timed("train"):
                loss = self.train_epoch(lo, hi, epoch)
            done = float(epoch)
            self.report.epochs = done
            self.good_state = copy.deepcopy(self.net.state_dict())
            self.report.history.append({"epoch": done, "loss": loss})
            log.info("epoch %s: loss %.4f", done, loss)
            elapsed, last = time.perf_counter() - t0, time.perf_counter() - r0
            if budget > 0 and epoch < epochs and \
                    elapsed + last * (1.0 + self.cfg.val_share) > budget:
                log.info("stopping after %s epochs: time budget of %.0f s", done, budget)
                self.report.time_limited = True
                break
        self.report.best_epoch = self.report.epochs

    # ------------------------------------------------------------------ rolling back

    def checkpoint(self) -> TrainerState:
        """Everything a round of training changes, as it is now (see ``restore``)."""
        return TrainerState(
            weights=copy.deepcopy(self.net.state_dict()),
            optimizer=copy.deepcopy(self.opt.state_dict()), lr=self.lr,
            rng=copy.deepcopy(self.rng.bit_generator.state), gen=self.gen.get_state(),
            torch_rng=torch.get_rng_state(), steps=self.report.steps,
            nan_events=self.report.nan_events, cpu=time.thread_time())

    def restore(self, state: TrainerState) -> None:
        """Back to ``state``: the weights, the optimiser's moments, the learning rate and
        every random generator, so that what follows is what would have followed then."""
        self.net.load_state_dict(state.weights)
        self.good_state = state.weights
        self.lr = state.lr
        self.opt = self._optimizer()  # a NaN event since may have replaced it
        self.opt.load_state_dict(copy.deepcopy(state.optimizer))
        self.rng.bit_generator.state = copy.deepcopy(state.rng)
        self.gen.set_state(state.gen)
        torch.set_rng_state(state.torch_rng)
        self.report.steps, self.report.nan_events = state.steps, state.nan_events


#: ``blend(trainer, lo, hi, stop)``: fits the blend of ``trainer.net`` on the targets in
#: ``[lo, hi)``, writing only the net's blend buffers (``model.BLEND_BUFFERS``) and
#: returning a report; raises ``Cancelled`` soon after ``stop`` is set.
BlendFn = Callable[["Trainer", int, int, threading.Event], dict[str, Any]]


@dataclass
class TrainerState:
    """A ``Trainer`` at the end of a round (``Trainer.checkpoint``)."""

    weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    lr: float
    rng: dict[str, Any]  # numpy's bit generator state (lane layouts)
    gen: torch.Tensor  # the trainer's torch generator (hidden inputs, sampled tracks)
    torch_rng: torch.Tensor  # torch's global generator (dropout)
    steps: int
    nan_events: int
    cpu: float  # the training thread's CPU clock then (what came after was discarded)


#: The blend of the best round so far starts beside the training when this many more
#: validations without improvement would stop training (0: at the stop, beside the tail
#: epoch only), and stops when a better round comes. Measured on the heavy listener (new
#: bests at 0.33, 0.67, 1 and 2 epochs; patience 3, stop at 3) with ``python -m
#: bench.train_load``: started at each best, three blends were superseded (~27 CPU s
#: lost); lead 2: 66 s wall, 11 CPU s lost; lead 1: 66 s, 6 s lost; and lead 0 against
#: lead 1, alternating on a machine at ~70% idle: 56.5 / 62.7 s against 64.2 / 53.7 s,
#: with 6 CPU s less. The overlap buys no wall time because the blend's Python parts (the
#: context signals, its per-target loops) hold the GIL the training thread needs after
#: each of its ~1,700 torch calls per step: 30 training steps took 2x the wall time with a
#: blend beside them. So: lead 0 - the least CPU, which is what counts beside a busy
#: process.
BLEND_LEAD = 0


class _Interrupted(Exception):
    """The round being trained comes after the early stop: it is discarded."""


@dataclass
class _Pending:
    """A round's validation, running on a copy of the network."""

    done: float  # epochs done at the end of the round
    loss: float
    net: Net  # the copy (the blend's, if this round turns out best)
    state: TrainerState  # the trainer at the end of the round
    future: Future[tuple[dict[str, float], float]]


class _EarlyStopping:
    """Rounds of training with early stopping on the held-out tail, validation pipelined.

    Sequentially, each round of training waits for the previous round's validation, and
    the blend waits for the end of training. Here a round's validation runs on a copy of
    the network in a thread of its own while the next round trains; when the validation
    says "stop", the round trained meanwhile is discarded and the trainer restored to the
    end of the validated round (``Trainer.restore``: weights, optimiser, learning rate
    and random generators), so the decisions and what follows them are exactly the
    sequential ones. Likewise, the blend is fitted on the best round's copy beside the
    training; a later better round supersedes it. Why this gives the same model bitwise: the copies
    hold the same weights, no work of the side threads touches the trainer's state or a
    random generator (validation and the blend run the network in eval mode), and every
    torch operation still runs on ``Config.threads`` threads, whichever thread calls it.

    The blend of a best round starts when ``BLEND_LEAD`` more validations without
    improvement would stop training (or when training stops): early on, new bests come
    round after round, and each superseded blend is CPU time lost - free on an idle
    machine, but taken from the training when other processes want the cores.

    Only when the learning rate depends on the verdicts (``plateau_decay`` != 1) is each
    validation awaited before the next round, as the next round's rate depends on it.
    """

    def __init__(self, trainer: Trainer, val_from: int, n: int, patience: int,
                 blend: BlendFn | None, overlap: bool = True) -> None:
        self.tr, self.val_from, self.n = trainer, val_from, n
        self.patience, self.blend = patience, blend
        self.overlap = overlap and trainer.cfg.plateau_decay == 1.0
        self.best, self.bad = -math.inf, 0
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_net: Net | None = None
        self.pending: _Pending | None = None
        self.validator = ThreadPoolExecutor(1, thread_name_prefix="segue-validate")
        self.blender = ThreadPoolExecutor(1, thread_name_prefix="segue-blend")
        self.blend_job: Future[tuple[dict[str, Any] | None, float]] | None = None
        self.blend_net: Net | None = None
        self.blend_stop = threading.Event()
        self.superseded: list[Future[tuple[dict[str, Any] | None, float]]] = []

    # -- the loop

    def run(self, epochs: int, lo: int, t0: float) -> None:
        """Train, validate and stop; leaves the trainer at the best round's weights."""
        tr, cfg = self.tr, self.tr.cfg
        hi = self.val_from
        # Validation (and early stopping) after every ``val_every_plays`` training plays,
        # at least once per epoch: a long history is learned within its first pass.
        rounds = max(1, math.ceil((hi - lo) / cfg.val_every_plays))
        budget = cfg.max_train_s
        stop = False
        for epoch in range(1, epochs + 1):
            parts = tr.train_rounds(lo, hi, epoch, rounds, between=self.poll)
            for r in range(rounds):
                r0 = time.perf_counter()
                try:
                    with tr.report.timed("train"):
                        loss = next(parts)
                except _Interrupted:
                    stop = True
                    break
                if self.pending is not None and self.settle():
                    stop = True  # the round just trained came after the stop: discarded
                    break
                self.submit(round(epoch - 1 + (r + 1) / rounds, 3), loss)
                if not self.overlap and self.settle():
                    stop = True
                    break
                elapsed, last = time.perf_counter() - t0, time.perf_counter() - r0
                if budget > 0 and (epoch < epochs or r + 1 < rounds) and \
                        elapsed + last * (1.0 + cfg.val_share) > budget:
                    # Another round would overrun the time budget: keep the best so far.
                    if self.pending is not None and self.settle():
                        stop = True
                        break
                    log.info("stopping after %s epochs: time budget of %.0f s",
                             tr.report.epochs, budget)
                    tr.report.time_limited = True
                    stop = True
                    break
            if stop:
                break
        if self.pending is not None:
            self.settle()
        if self.best_net is not None and self.blend_net is not self.best_net:
            self.start_blend(self.best_net)  # beside the tail epochs, at least
        if self.best_state is not None:
            tr.net.load_state_dict(self.best_state)
            tr.good_state = self.best_state

    def poll(self) -> None:
        """Between training steps: settle the previous round's validation as soon as it is
        in; raise ``_Interrupted`` when it stops training (the round is discarded)."""
        if self.pending is not None and self.pending.future.done() and self.settle():
            raise _Interrupted

    def submit(self, done: float, loss: float) -> None:
        """The round that just ended: validate a copy of it beside the next round."""
        tr = self.tr
        state = tr.checkpoint()
        tr.good_state = state.weights
        net = copy.deepcopy(tr.net)
        for p in net.parameters():
            p.grad = None
        view = copy.copy(tr)
        view.net = net
        lo, hi = self.val_from, self.n

        def validate() -> tuple[dict[str, float], float]:
            c0 = time.thread_time()
            val = view.evaluate(lo, hi)
            return val, time.thread_time() - c0

        self.pending = _Pending(done, loss, net, state, self.validator.submit(validate))

    def settle(self) -> bool:
        """Wait for the pending validation and act on it as the sequential loop did:
        True when training stops there (the trainer is then back at that round's end)."""
        p, tr = self.pending, self.tr
        assert p is not None
        self.pending = None
        w0 = time.perf_counter()
        val, cpu = p.future.result()
        tr.report.waited += time.perf_counter() - w0
        tr.report.cpu["validate"] = tr.report.cpu.get("validate", 0.0) + cpu
        row = {"epoch": p.done, "loss": p.loss, **{f"val_{k}": v for k, v in val.items()}}
        tr.report.epochs = p.done
        if val["score"] > self.best:
            self.best, self.bad = val["score"], 0
            self.best_state, self.best_net = p.state.weights, p.net
            tr.report.best_epoch, tr.report.val = p.done, val
            self.blend_stop.set()  # a blend running for an earlier round is no use now
        else:
            self.bad += 1
            if self.patience - self.bad == BLEND_LEAD and self.best_net is not None \
                    and self.overlap:
                self.start_blend(self.best_net)
            # A plateau: smaller steps settle faster than waiting at one rate. (With a
            # decay of 1, the pipelined case, this changes nothing, bitwise.)
            tr._set_lr(tr.lr * tr.cfg.plateau_decay)
        tr.report.history.append(row)
        log.info("epoch %s: %s", p.done, {k: round(v, 4) for k, v in row.items()})
        if self.bad < self.patience:
            return False
        if tr.report.steps != p.state.steps:
            # Whatever was trained since that round is discarded: its CPU time too.
            spent = time.thread_time() - p.state.cpu
            tr.report.cpu["discarded"] = tr.report.cpu.get("discarded", 0.0) + spent
            tr.report.cpu["train"] = tr.report.cpu.get("train", 0.0) - spent
        # Always: even a step without targets, or the next epoch's layout, drew random
        # numbers since.
        tr.restore(p.state)
        return True

    # -- the blend

    def start_blend(self, net: Net) -> None:
        """Fit the blend on ``net`` (the best round so far) beside the training; a blend
        started for an earlier round is stopped."""
        if self.blend is None:
            return
        self.blend_stop.set()
        stop = self.blend_stop = threading.Event()
        view = copy.copy(self.tr)
        view.net = net
        blend, lo, hi = self.blend, self.val_from, self.n

        def fit() -> tuple[dict[str, Any] | None, float]:
            c0 = time.thread_time()
            if stop.is_set():
                return None, 0.0
            try:
                report = blend(view, lo, hi, stop)
            except Cancelled:
                report = None
            return report, time.thread_time() - c0

        if self.blend_job is not None:
            self.superseded.append(self.blend_job)
        self.blend_job, self.blend_net = self.blender.submit(fit), net

    def finish_blend(self) -> None:
        """Wait for the best round's blend and copy its buffers into the trained net."""
        if self.blend_job is None or self.blend_net is None:
            return
        tr = self.tr
        w0 = time.perf_counter()
        report, cpu = self.blend_job.result()
        tr.report.waited += time.perf_counter() - w0
        tr.report.cpu["blend"] = tr.report.cpu.get("blend", 0.0) + cpu
        # Blends of rounds a later one beat (each stopped at once, so done by now).
        wasted = sum(job.result()[1] for job in self.superseded)
        if wasted:
            tr.report.cpu["blend_discarded"] = \
                tr.report.cpu.get("blend_discarded", 0.0) + wasted
        if report is None:  # only a stop makes a blend give up, and none was asked for
            raise RuntimeError("the blend of the best round was stopped")
        with torch.no_grad():
            for name in BLEND_BUFFERS:
                getattr(tr.net, name).copy_(getattr(self.blend_net, name))
        tr.report.blend = report

    def close(self) -> None:
        """Stop what still runs beside (a cancelled or failed training) and wait for it."""
        if self.blend_job is None or not self.blend_job.done():
            self.blend_stop.set()
        self.validator.shutdown(wait=True, cancel_futures=True)
        self.blender.shutdown(wait=True, cancel_futures=True)


#: Scores held at once when positions are scored against the whole vocabulary: a chunk of
#: positions is sized so that each [positions, tracks] tensor stays about this big (64 MB
#: of float32), whatever the catalogue - a fixed row count would cost gigabytes at 200,000
#: tracks. It depends on the data only, so the same data still gives the same model.
CHUNK_CELLS = 1 << 24


def chunk_rows(n_cols: int, most: int) -> int:
    """Positions per chunk when each is scored against ``n_cols`` tracks (at most
    ``most``, at least 8)."""
    return max(8, min(most, CHUNK_CELLS // max(n_cols, 1)))


def first_positions(items: np.ndarray, heard: np.ndarray) -> np.ndarray:
    """[len(heard)]: the first stream position of each track (-1 when the network had
    learned it before this stream, ``NEVER`` when it has no kept play)."""
    out = np.full(len(heard), NEVER, dtype=np.int64)
    out[heard] = -1
    tracks, first = np.unique(items, return_index=True)
    keep = tracks != PAD
    out[tracks[keep]] = np.minimum(out[tracks[keep]], first[keep])
    return out


# --------------------------------------------------------------------------- orchestration


@dataclass
class Trained:
    """A finished training run: everything a ``Recommender`` swaps in at once."""

    net: Net
    vocab: Vocab
    history: list[tuple[TrackId, int]]
    metrics: dict[str, Any]


def select_vocab(sessions: Sequence[Sequence[Event]], max_tracks: int,
                 known: Vocab | None = None) -> Vocab:
    """The tracks that get a learned vector: ``known`` ones first, then new tracks with a
    kept play in order of first play - at most ``max_tracks`` in all, the most played
    when there are more (ties: the earlier first play)."""
    vocab = copy.deepcopy(known) if known is not None else Vocab()
    counts: dict[TrackId, int] = {}
    for s in sessions:
        for e in s:
            if not e.skipped and e.track not in vocab:
                counts[e.track] = counts.get(e.track, 0) + 1
    room = max(max_tracks - (len(vocab) - 1), 0)
    new = list(counts)  # first-play order
    if len(new) > room:
        rank = sorted(range(len(new)), key=lambda i: (-counts[new[i]], i))[:room]
        new = [new[i] for i in sorted(rank)]
        log.info("catalogue cap: %d of %d new tracks get a learned vector; the others are "
                 "scored from their fields", room, len(counts))
    for t in new:
        vocab.add(t)
    return vocab


def item_fields(net_cfg: Config, vocab: Vocab, fields: TrackFields) -> torch.Tensor:
    """[len(vocab), F] field values of the vocabulary (only the fields the config uses)."""
    cols = torch.from_numpy(fields.of(vocab.ids).astype(np.int64))
    cols[PAD] = 0
    used = net_cfg.used_fields()
    for f, name in enumerate(FIELDS):
        if name not in used:
            cols[:, f] = 0
    return cols


def value_counts(cols: torch.Tensor) -> list[int]:
    """Embedding rows each field needs for the values ``cols`` [tracks, F] use: only the
    values of learned tracks get an embedding (others' are unknown to the network, so the
    network - and its random start - does not depend on metadata of tracks it never
    learns, such as an evaluation's candidates)."""
    return [int(cols[:, f].max()) + 1 if len(cols) else 1 for f in range(len(FIELDS))]


def split_point(stream: Stream, cfg: Config) -> int | None:
    """First position of the time-ordered validation tail (None: too few sessions)."""
    n_sess = int(stream.session[-1]) + 1 if len(stream) else 0
    n_val = math.floor(cfg.val_share * n_sess) if n_sess >= 10 else 0
    return int(np.searchsorted(stream.session, n_sess - n_val)) if n_val else None


def train_new(cfg: Config, sessions: list[list[Event]], fields: TrackFields, *,
              progress: Callable[[int, int, float], None] | None = None,
              cancel: threading.Event | None = None) -> Trained:
    """A model from scratch: early stopping on the tail, the blend fitted there, then the
    tail learned too."""
    torch.manual_seed(cfg.seed)
    vocab = select_vocab(sessions, cfg.max_tracks)
    stream = build_stream(sessions, vocab, cfg.max_skips)
    cols = item_fields(cfg, vocab, fields)
    net = Net(cfg, len(vocab), value_counts(cols))
    net.item_fields.copy_(cols)
    val_from = split_point(stream, cfg)
    trainer = Trainer(net, stream, cfg, lr=cfg.lr, seed=cfg.seed, progress=progress,
                      cancel=cancel)
    from .blend import fit_blend

    report = trainer.fit(cfg.epochs, val_from, cfg.patience, cfg.tail_epochs,
                         blend=fit_blend if cfg.blend else None)
    log.info("trained %d epochs (best %d) in %.1f s on %d plays, %d tracks: val %s",
             report.epochs, report.best_epoch, report.seconds, len(stream),
             len(vocab) - 1, report.val)
    metrics = report.as_dict()
    if report.blend:
        metrics["blend"] = report.blend
    return Trained(net, vocab, stream_history(stream, vocab, cfg), metrics)


def finetune(cfg: Config, old: Trained, sessions: list[list[Event]], fields: TrackFields,
             *, progress: Callable[[int, int, float], None] | None = None,
             cancel: threading.Event | None = None) -> Trained:
    """``old`` continued on new sessions: new tracks join (their vectors start as cold
    tracks' - their fields - and learn from there), a few epochs at a low rate."""
    done = int(old.metrics.get("finetunes", 0))
    torch.manual_seed(cfg.seed + 1 + done)
    vocab = select_vocab(sessions, cfg.max_tracks, known=old.vocab)
    net = grown(cfg, old.net, vocab, fields)
    context = [(vocab.get(t), s) for t, s in old.history]
    stream = build_stream(sessions, vocab, cfg.max_skips, context=context)
    trainer = Trainer(net, stream, cfg, lr=cfg.finetune_lr, seed=cfg.seed + 1 + done,
                      progress=progress, cancel=cancel)
    report = trainer.fit(cfg.finetune_epochs)
    metrics = dict(old.metrics)
    metrics["finetunes"] = done + 1
    metrics["last_finetune"] = report.as_dict()
    log.info("fine-tuned on %d new plays (%d new tracks) in %.2f s",
             len(stream) - len(context), len(vocab) - len(old.vocab), report.seconds)
    return Trained(net, vocab, stream_history(stream, vocab, cfg), metrics)


def grown(cfg: Config, old: Net, vocab: Vocab, fields: TrackFields) -> Net:
    """A copy of ``old`` with rows for every track of ``vocab`` and every field value of
    ``fields``. A new track's own vector starts at the cold offset and its bias at the cold
    bias, so that it starts exactly where the cold scorer puts it; a new field value
    starts at zero (it adds nothing until learned)."""
    cols = item_fields(cfg, vocab, fields)
    cols[: old.n_items] = old.item_fields  # a learned track keeps the fields it learned with
    sizes = [max(n, old.field[name].num_embeddings if name in old.field else 0)
             for name, n in zip(FIELDS, value_counts(cols))]
    new = Net(cfg, len(vocab), sizes)
    state = new.state_dict()
    n_old = old.n_items
    for name, t in old.state_dict().items():
        dst = state[name]
        if t.shape == dst.shape:
            state[name] = t.clone()
        elif t.dim() >= 1 and t.shape[1:] == dst.shape[1:]:
            grown_t = torch.zeros_like(dst)
            rows = min(t.shape[0], dst.shape[0])
            grown_t[:rows] = t[:rows]
            state[name] = grown_t
        else:  # pragma: no cover - a config change between runs
            raise ValueError(f"cannot grow parameter {name}: {tuple(t.shape)} -> "
                             f"{tuple(dst.shape)}")
    with torch.no_grad():
        state["item.weight"][n_old:] = old.cold.detach()
        if "out.weight" in state:
            state["out.weight"][n_old:] = old.cold.detach()
        state["bias"][n_old:] = old.cold_bias.detach()
        state["item_fields"] = cols
    new.load_state_dict(state)
    return new


def stream_history(stream: Stream, vocab: Vocab, cfg: Config) -> list[tuple[TrackId, int]]:
    """The latest plays as (track id, session from 0): the context of the next fine-tune."""
    keep = max(cfg.repeat_window, cfg.context_window)
    items = stream.items[-keep:].tolist()
    sess = stream.session[-keep:].tolist()
    first = sess[0] if sess else 0
    return [(vocab.ids[i], s - first) for i, s in zip(items, sess) if i != PAD]


def plan(cfg: Config, n_plays: int, epochs: int) -> tuple[int, int]:
    """(steps per epoch, epochs) a training of ``n_plays`` plays is planned to take."""
    lanes = max(1, min(cfg.batch_size, n_plays))
    return max(1, math.ceil(n_plays / lanes / cfg.bptt)), max(1, epochs)
