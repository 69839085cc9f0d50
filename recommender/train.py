"""Training and fine-tuning loop: session-parallel truncated BPTT with early stopping.

* progress(epoch, step, loss) after every optimiser step;
* a ``threading.Event`` cancel checked before every step (raises ``Cancelled``);
* a NaN guard: a non-finite loss or gradient skips the step, restores the last good
  weights and halves the learning rate; after ``MAX_NAN`` such events training gives up;
* early stopping on a time-ordered validation tail (HR@20 + MRR@20 there, the protocol's
  own measure), then a short pass over that tail so the newest listening is learned too.
"""

from __future__ import annotations

import copy
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .base import Cancelled  # noqa: F401 - defined there (torch-free), raised here
from .config import Config
from .data import (Stream, lane_layout, next_occurrences, previous_occurrences,
                   repeat_features, successor_features, windows)
from .model import Feats, Net

log = logging.getLogger(__name__)

#: How many non-finite losses are survived before training gives up.
MAX_NAN = 3
#: A sampled-softmax step always scores the tracks of the latest this-many plays.
SAMPLE_RECENT = 64


class TrainingError(RuntimeError):
    """Training diverged (non-finite loss) and could not recover."""


@dataclass
class TrainReport:
    """What a training run did: epochs, best epoch, validation figures, time."""

    epochs: int = 0
    best_epoch: int = 0
    steps: int = 0
    seconds: float = 0.0
    val: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, float]] = field(default_factory=list)
    nan_events: int = 0
    time_limited: bool = False

    def as_dict(self) -> dict[str, object]:
        """Plain dict for checkpoints."""
        return {"epochs": self.epochs, "best_epoch": self.best_epoch, "steps": self.steps,
                "seconds": round(self.seconds, 3), "val": dict(self.val),
                "history": list(self.history), "nan_events": self.nan_events,
                "time_limited": self.time_limited}


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
        net, cfg = self.net, self.cfg
        net.train()
        layout = lane_layout(hi - lo, cfg.batch_size, self.rng)
        layout = np.where(layout >= 0, layout + lo, -1)
        h: torch.Tensor | None = None
        total, count = 0.0, 0
        for step, w in enumerate(windows(layout, cfg.bptt), start=1):
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled("training cancelled")
            pos = torch.from_numpy(np.ascontiguousarray(w))
            ok = pos >= 0
            p0 = pos.clamp(min=0)
            x = self.items[p0] * ok
            if cfg.unk_rate > 0:
                # Hide some inputs so that the "unknown track" vector learns its job.
                x = x * (torch.rand(x.shape, generator=self.gen) >= cfg.unk_rate)
            start = self.starts[p0] & ok
            reset = start if not cfg.carry_state else None
            tg = self.targets[p0] * ok * (p0 + 1 < hi)
            out, h = net.run(x, start, h, reset)
            sel = (tg.reshape(-1) != 0).nonzero().squeeze(1)
            if len(sel) == 0:
                h = h.detach()
                continue
            hs = out.reshape(-1, out.shape[-1])[sel]
            ps = p0.reshape(-1)[sel]
            target = tg.reshape(-1)[sel]
            feats = self.feats(ps)
            skips = self.skips[ps] if cfg.skip_weight > 0 else None
            subset = self._subset(target, feats, skips)
            logp = F.log_softmax(net.logits(hs, feats, subset=subset), dim=1)
            loss = F.nll_loss(logp, self._cols(subset, target))
            if skips is not None:
                loss = loss + cfg.skip_weight * self._skip_loss(
                    logp, self._cols(subset, skips), skips, target)
            if not self._finite_step(loss):
                h = None  # the state came from bad weights: start the lanes afresh
                continue
            h = h.detach()
            total += float(loss.detach()) * len(sel)
            count += len(sel)
            self.report.steps += 1
            if self.progress is not None:
                self.progress(epoch, step, float(loss.detach()))
        return total / max(count, 1)

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
            parts.append(items[valid])
        if skips is not None:
            parts.append(skips.reshape(-1))
        return torch.unique(torch.cat(parts))  # sorted: padding (0) comes first

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

    @torch.no_grad()
    def evaluate(self, lo: int, hi: int, candidates: torch.Tensor, warmup: int = 256
                 ) -> dict[str, float]:
        """HR@20, MRR@20 and loss of the targets in ``[lo, hi)`` with conservative ranks.

        Only ``candidates`` (a bool mask over tracks: those heard before ``lo``) may be
        ranked; other targets are misses, as in the protocol.
        """
        net = self.net
        net.eval()
        a = max(lo - warmup, 0)
        pos = torch.arange(a, hi)
        x, start = self.items[pos][None], self.starts[pos][None]
        reset = start.clone() if not self.cfg.carry_state else None
        out, _ = net.run(x, start, None, reset)
        out = out[0]
        tg = self.targets[pos] * (pos + 1 < hi) * (pos >= lo)
        sel = (tg != 0).nonzero().squeeze(1)
        hits = rr = loss = 0.0
        n = len(sel)
        vectors = net.output_vectors()
        for c in range(0, n, 512):
            s = sel[c: c + 512]
            lg = net.logits(out[s], self.feats(pos[s]), vectors=vectors)
            t = tg[s]
            loss += float(F.cross_entropy(lg, t, reduction="sum"))
            lg = lg.masked_fill(~candidates[None, :], float("-inf"))
            tl = lg.gather(1, t[:, None])
            rank = (lg > tl).sum(1) + (lg == tl).sum(1)  # ties against the model
            hit = (rank <= 20) & candidates[t] & torch.isfinite(tl[:, 0])
            hits += float(hit.sum())
            rr += float((hit / rank.clamp(min=1)).sum())
        net.train()
        if n == 0:
            return {"hr@20": 0.0, "mrr@20": 0.0, "loss": math.nan, "score": 0.0}
        hr, mrr = hits / n, rr / n
        return {"hr@20": hr, "mrr@20": mrr, "loss": loss / n, "score": hr + mrr}

    # ------------------------------------------------------------------ the loop

    def fit(self, epochs: int, val_from: int | None = None, patience: int = 3,
            tail_epochs: int = 0, lo: int = 0) -> TrainReport:
        """Train up to ``epochs`` epochs on ``[lo, val_from)``, stopping early on the tail.

        Without ``val_from`` all epochs run on ``[lo, len)``. With it, the best epoch's
        weights are kept and then ``tail_epochs`` passes are made over the tail.
        """
        t0 = time.perf_counter()
        n = len(self.stream)
        hi = val_from if val_from is not None else n
        cand = None
        if val_from is not None:
            cand = torch.zeros(self.net.n_items, dtype=torch.bool)
            cand[self.items[:val_from]] = True
            cand[0] = False
        best, best_state, bad = -math.inf, None, 0
        budget = self.cfg.max_train_s
        for epoch in range(1, epochs + 1):
            e0 = time.perf_counter()
            loss = self.train_epoch(lo, hi, epoch)
            row = {"epoch": epoch, "loss": loss}
            self.report.epochs = epoch
            if cand is not None:
                val = self.evaluate(val_from, n, cand)
                row.update({f"val_{k}": v for k, v in val.items()})
                if val["score"] > best:
                    best, bad = val["score"], 0
                    best_state = copy.deepcopy(self.net.state_dict())
                    self.report.best_epoch, self.report.val = epoch, val
                else:
                    bad += 1
                    # A plateau: smaller steps settle faster than waiting at the same rate.
                    self._set_lr(self.lr * self.cfg.plateau_decay)
            self.good_state = copy.deepcopy(self.net.state_dict())
            self.report.history.append(row)
            log.info("epoch %d: %s", epoch, {k: round(v, 4) for k, v in row.items()})
            if cand is not None and bad >= patience:
                break
            elapsed, last = time.perf_counter() - t0, time.perf_counter() - e0
            if budget > 0 and epoch < epochs and elapsed + last * (1.0 + self.cfg.val_share) \
                    > budget:
                # Another epoch would overrun the time budget: keep the best so far.
                log.info("stopping after %d epochs: time budget of %.0f s", epoch, budget)
                self.report.time_limited = True
                break
        if best_state is not None:
            self.net.load_state_dict(best_state)
            self.good_state = best_state
        elif cand is None:
            self.report.best_epoch = self.report.epochs
        if val_from is not None and tail_epochs > 0:
            for e in range(tail_epochs):
                self.train_epoch(val_from, n, self.report.epochs + 1 + e)
        self.report.seconds = time.perf_counter() - t0
        return self.report
