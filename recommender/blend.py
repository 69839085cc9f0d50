"""How much to trust each signal, learned from the listener's own held-out tail.

The network's score is a sum of parts (``model.PARTS``: the recurrent state's preference,
the repeat scorer, the artist repeat scorer, the successor memory); next to them stand the
explicit signals of the context (``signals.SIGNALS``: recency, artist recency, transitions,
popularity - what the simple methods rank by). Which of them deserves trust differs from
one listener to the next: a repeat-heavy listener is served best by recency, an album
listener by transitions, an explorer by artists and the recurrent state. Training fits the
network to the training sessions; it cannot tell how far each part generalises.

So after early stopping, before the network sees the tail, one weight per part and signal
(and a change of each for cold tracks, plus a shift of cold tracks' scores) is fitted on
the held-out tail by maximum likelihood: softmax over each target's candidates, L2-pulled
towards the plain sum. The candidates of a target are the tracks that matter for its rank:
the best ones by the network and by each signal, a random sample of the rest, and the
target. Seventeen numbers, fitted in a second; deterministic (L-BFGS from a fixed start).
With a short tail (fewer than ``MIN_TARGETS`` targets) the plain sum stays.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .base import Cancelled
from .data import NEVER
from .model import BLEND_DEFAULT, PARTS, Net
from .signals import SIGNALS, ContextSignals
from .vocab import FIELDS, PAD

from .train import chunk_rows

if TYPE_CHECKING:
    from .train import Trainer

log = logging.getLogger(__name__)

#: Below this many held-out targets the blend is not fitted (too little to learn from);
#: above ``MAX_TARGETS`` only the latest are used (the fit costs the same on any history).
MIN_TARGETS, MAX_TARGETS = 100, 1500
#: Candidates kept per target for the likelihood fit: the best by the network, by each
#: signal, and at random.
TOP_NET, TOP_SIGNAL, RANDOM = 64, 32, 64
#: Held-out positions the network scores at once.
CHUNK = 64
#: Pull of the weights towards the plain sum (per weight, against the mean NLL).
L2 = 1e-3
#: Extra weight given to one signal in the alternatives the tail chooses among.
LEADS = (2.0, 8.0, 100.0)
#: Shifts of the cold tracks' fitted placement the tail chooses among (-30: last).
COLD_SHIFTS = (0.0, -30.0, -3.0, -2.0, -1.0, -0.5, 0.5, 1.0)

_ARTIST = FIELDS.index("artist")


def cold_shift(bias: torch.Tensor, n_cold: int | torch.Tensor) -> torch.Tensor:
    """The shift of every cold track's score: the fitted ``bias`` less log(how many cold
    tracks there are). The chance that the next track is a new one is a habit of the
    listener; spread over ten or ten thousand unplayed tracks it is a different chance per
    track - so the shift is fitted per track *and* count, and transfers between a short
    held-out tail, a long test period and a large library."""
    n = torch.as_tensor(n_cold, dtype=bias.dtype).clamp(min=1)
    return bias - torch.log(n)


def combine(net: Net, parts: dict[str, torch.Tensor], signals: torch.Tensor,
            cold: torch.Tensor) -> torch.Tensor:
    """Blended scores [M, S] from the network's ``parts`` (each [M, S]), the context's
    ``signals`` ([len(SIGNALS), S] or [M, len(SIGNALS), S]) and the cold mask [S] (every
    cold column counts: the padding column must not be marked cold)."""
    w = net.blend_weights(cold)  # [K, S]
    out = cold_shift(net.blend_cold_bias, int(cold.sum())) * cold.to(w.dtype)
    for k, name in enumerate(PARTS):
        if name in parts:
            out = out + w[k] * parts[name]
    sig = signals if signals.dim() == 3 else signals.unsqueeze(0)
    out = out + (w[len(PARTS):].unsqueeze(0) * sig.to(w.dtype)).sum(1)
    return out


@dataclass
class _Position:
    """One held-out target: where, which track, and every candidate's inputs to the blend."""

    pos: int
    target: int
    parts: torch.Tensor  # [len(PARTS), N] the network's parts for every track
    signals: torch.Tensor  # [len(SIGNALS), N] the context's signals
    seen: torch.Tensor  # [N] heard by then (else a cold track)


class _Walks:
    """The held-out positions, walked once per pass (three passes, each giving the same
    values): what every walk starts from - the hidden states, and the context's signals
    up to the first held-out play (a replay of the whole history, ~1 s on 137k plays) -
    is made once and copied."""

    def __init__(self, trainer: Trainer, pos: torch.Tensor,
                 stop: threading.Event | None) -> None:
        self.trainer, self.pos, self.stop = trainer, pos, stop
        with torch.no_grad():
            self.hs = trainer.hidden_at(pos)
        self.start: tuple[ContextSignals, int] | None = None

    def __iter__(self) -> Iterator[_Position]:
        return _walk(self)


@torch.no_grad()
def _walk(walks: _Walks) -> Iterator[_Position]:
    """Every held-out position with its parts and signals over the whole vocabulary: the
    network runs over chunks of positions while one walk of the stream keeps the signals
    of the context up to date. Raises ``Cancelled`` once ``walks.stop`` is set."""
    trainer, pos, stop, hs = walks.trainer, walks.pos, walks.stop, walks.hs
    net, stream = trainer.net, trainer.stream
    if walks.start is None:
        sig, p_next = ContextSignals(net.item_fields[:, _ARTIST].numpy()), 0
    else:  # a copy: this walk changes it
        sig, p_next = walks.start[0].copy(), walks.start[1]
    targets = trainer.targets
    # Each chunk holds [rows, parts, tracks] scores: fewer rows for a larger vocabulary.
    rows = chunk_rows(net.n_items * len(PARTS), CHUNK)
    for c in range(0, len(pos), rows):
        chunk = pos[c: c + rows]
        parts = net.parts(hs[c: c + rows], trainer.feats(chunk), seen=None, split=True)
        stacked = torch.stack([parts.get(n, torch.zeros_like(parts["net"]))
                               for n in PARTS], dim=1)  # [m, P, N] (learned vectors)
        cold_net = _cold_part(trainer, hs[c: c + rows])  # [m, N]
        for j, p in enumerate(chunk.tolist()):
            _check(stop)
            while p_next <= p:
                if stream.starts[p_next]:
                    sig.start_session()
                sig.observe(int(stream.items[p_next]))
                p_next += 1
            if walks.start is None:
                walks.start = (sig.copy(), p_next)
            seen = trainer.first_pos <= p
            row = stacked[j].clone()
            row[0] = torch.where(seen, row[0], cold_net[j])
            yield _Position(p, int(targets[p]), row, torch.from_numpy(sig.features()), seen)


def _check(stop: threading.Event | None) -> None:
    """Raise ``Cancelled`` when ``stop`` is set (a fit nobody waits for any more)."""
    if stop is not None and stop.is_set():
        raise Cancelled("blend stopped")


def _cold_part(trainer: Trainer, h: torch.Tensor) -> torch.Tensor:
    """The network's part of every track scored as a cold one ([M, N])."""
    net = trainer.net
    q = net.proj(h)
    return q @ net.output_vectors()[1].t() + net.cold_bias


def fit_blend(trainer: Trainer, lo: int, hi: int, stop: threading.Event | None = None
              ) -> dict[str, Any]:
    """Fit ``trainer.net``'s blend on the targets in ``[lo, hi)`` (see the module doc).

    Writes only the net's blend buffers (``model.BLEND_BUFFERS``). Returns a small report
    (targets, what was chosen, the tail's figures, the weights). Setting ``stop`` raises
    ``Cancelled`` within a held-out position or so (training runs the fit beside itself
    and stops it when a better round supersedes the network it was fitted for)."""
    net, cfg = trainer.net, trainer.cfg
    net.eval()
    pos = trainer.val_positions(lo, hi)[-MAX_TARGETS:]
    report: dict[str, Any] = {"targets": len(pos)}
    if len(pos) < MIN_TARGETS:
        report["fitted"] = 0.0
        net.train()
        return report
    k = len(PARTS) + len(SIGNALS)
    candidates = (trainer.first_pos < NEVER).clone()
    candidates[PAD] = False
    cand_idx = candidates.nonzero()[:, 0].numpy()
    rng = np.random.default_rng(cfg.seed)
    w0 = torch.tensor(BLEND_DEFAULT, dtype=torch.float64)
    noncand = (~candidates).nonzero()[:, 0]
    # Pass 1: each target's candidates that matter for its rank (the best by the plain
    # sum and by each signal, the target), plus a uniform sample of the rest standing for
    # all of it (weighted by how many each stands for, so that the likelihood is not
    # biased towards a small candidate set), with their blend inputs.
    rows_x, rows_cold, rows_w, rows_t = [], [], [], []
    walks = _Walks(trainer, pos, stop)
    for item in walks:
        x_all = torch.cat([item.parts, item.signals.to(item.parts.dtype)])  # [K, N]
        ranked = torch.cat([(w0.to(x_all.dtype) @ x_all)[None], x_all[len(PARTS):]])
        ranked.index_fill_(1, noncand, float("-inf"))
        top = torch.topk(ranked, min(TOP_NET, len(cand_idx)), dim=1).indices
        exact = torch.unique(torch.cat([torch.tensor([item.target]), top[0],
                                        top[1:, :TOP_SIGNAL].reshape(-1)]))
        drawn = torch.from_numpy(np.unique(rng.choice(cand_idx, RANDOM)))
        drawn = drawn[~torch.isin(drawn, exact)]
        sub, order = torch.sort(torch.cat([exact, drawn]))
        weight = torch.zeros(len(sub), dtype=torch.float64)
        if len(drawn):
            rest = max(len(cand_idx) - len(exact), len(drawn))
            weight[order >= len(exact)] = math.log(rest / len(drawn))
        rows_x.append(x_all[:, sub].t().double())
        rows_cold.append((~item.seen[sub]).double())
        rows_w.append(weight)
        rows_t.append(int(torch.searchsorted(sub, item.target)))
    width = max(len(r) for r in rows_x)
    x = torch.zeros(len(pos), width, k, dtype=torch.float64)
    cold = torch.zeros(len(pos), width, dtype=torch.float64)
    logw = torch.zeros(len(pos), width, dtype=torch.float64)
    mask = torch.zeros(len(pos), width, dtype=torch.bool)
    for j, (rx, rc, rw) in enumerate(zip(rows_x, rows_cold, rows_w)):
        x[j, : len(rx)] = rx
        cold[j, : len(rx)] = rc
        logw[j, : len(rx)] = rw
        mask[j, : len(rx)] = True
    tgt = torch.tensor(rows_t)
    heard_rows = cold.gather(1, tgt[:, None])[:, 0] == 0

    def scores_of(w: torch.Tensor, dw: torch.Tensor, b: torch.Tensor, rows: torch.Tensor,
                  heard_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Blended scores [R, S] of targets ``rows`` (cold candidates left out with
        ``heard_only``) and the column of each target."""
        c = cold[rows]
        sc = (x[rows] * (w + c.unsqueeze(2) * dw)).sum(2) + b * c + logw[rows]
        m = mask[rows] & (c == 0) if heard_only else mask[rows]
        return sc.masked_fill(~m, float("-inf")), tgt[rows]

    def nll(sc: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return -(torch.log_softmax(sc, dim=1).gather(1, t[:, None])).mean()

    def fit(loss_of: Any, prior: torch.Tensor) -> torch.Tensor:
        """L-BFGS from ``prior`` on ``loss_of(params)`` + the L2 pull towards ``prior``."""
        params = prior.clone().requires_grad_(True)
        opt = torch.optim.LBFGS([params], lr=1.0, max_iter=200,
                                line_search_fn="strong_wolfe")

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = loss_of(params) + L2 * ((params - prior) ** 2).sum()
            loss.backward()
            return loss

        opt.step(closure)
        out = params.detach()
        with torch.no_grad():
            if not math.isfinite(float(loss_of(out))) or float(loss_of(out)) > \
                    float(loss_of(prior)):
                return prior
        return out

    _check(stop)
    zero_k = torch.zeros(k, dtype=torch.float64)
    zero = torch.zeros((), dtype=torch.float64)
    # Stage 1, the tracks the listener has heard: their order is all protocol v1 (and the
    # player's familiar picks) depends on, so it is fitted and chosen on targets and
    # candidates that were heard before, as v1 would see them.
    heard = heard_rows.nonzero()[:, 0]
    before = float(nll(*scores_of(w0, zero_k, zero, heard, True)))
    w = fit(lambda p: nll(*scores_of(p, zero_k, zero, heard, True)), w0)
    after = float(nll(*scores_of(w, zero_k, zero, heard, True)))
    # Likelihood spreads the weights over the whole ranking; HR and MRR look at its top.
    # For a listener whom one simple rule serves well (a repeater and recency), that rule
    # led by the blend (the blend only breaking its ties) can rank the top better: choose
    # among these on the tail by the protocol's own measure, with exact ranks among every
    # heard candidate (pass 2).
    family = {"likelihood": w, "plain": w0}
    for j, name in enumerate(SIGNALS):
        for lead in LEADS:
            alt = w.clone()
            alt[len(PARTS) + j] += lead
            family[f"{name}+{lead:g}"] = alt
    names = list(family)
    weights = torch.stack([family[n] for n in names])  # [F, K]
    # Cold tracks with the same fields score the same (their inputs come from the fields
    # and the artist alone): stage 2 keeps one row per group of them, with its size.
    fields = trainer.net.item_fields[candidates]
    _, group_of = torch.unique(fields, dim=0, return_inverse=True)
    group = torch.full((len(candidates),), -1, dtype=torch.long)
    group[candidates] = group_of
    n_groups = int(group_of.max()) + 1 if len(group_of) else 0
    hits = torch.zeros(len(names), dtype=torch.float64)
    rr = torch.zeros(len(names), dtype=torch.float64)
    n_heard = 0
    heard_score, cold_x, cold_n, cold_target = [], [], [], []
    heard_rank = []  # per target: the target's rank under each alternative
    weights32 = weights.float()
    for item in walks:
        x_all = torch.cat([item.parts, item.signals.float()])
        heard_c = candidates & item.seen
        sc = (weights32 @ x_all).masked_fill_(~heard_c[None, :], float("-inf"))  # [F, N]
        target_heard = bool(item.seen[item.target])
        if target_heard:
            # Pass 2: exact ranks among every heard candidate, for each alternative.
            n_heard += 1
            ts = sc[:, item.target: item.target + 1]
            rank = (sc >= ts).sum(1).double()  # ties against the model
            hit = rank <= 20
            hits += hit.double()
            rr += hit.double() / rank
        # Stage 2's inputs: the target's score, and the cold candidates by group.
        heard_score.append(sc[:, item.target].double() if target_heard
                           else torch.full((len(names),), float("nan"), dtype=torch.float64))
        heard_rank.append(rank if target_heard
                          else torch.full((len(names),), float("nan"), dtype=torch.float64))
        cold_c = candidates & ~item.seen
        g = group[cold_c]
        counts = torch.bincount(g, minlength=n_groups)
        present = counts.nonzero()[:, 0]
        reps = torch.zeros(n_groups, dtype=torch.long)
        reps[g] = cold_c.nonzero()[:, 0]
        cold_x.append(x_all[:, reps[present]].t().double())
        cold_n.append(counts[present].double())
        cold_target.append(int(torch.searchsorted(present, group[item.target]))
                           if not target_heard else -1)
    _check(stop)
    scores = {n: float((hits[i] + rr[i]) / max(n_heard, 1)) for i, n in enumerate(names)}
    choice = max(scores, key=lambda n: (scores[n], n == "likelihood"))
    f = names.index(choice)
    w = family[choice]
    # Pass 3, the chosen alternative only: its heard candidates' log-sum-exp and best 20
    # scores per target (on the same scores as pass 2: the whole product, then its row -
    # a row's reductions give the bits they give inside the whole). Another walk costs
    # less than these for every alternative (~5 of 17 s on the heavy listener).
    heard_lse, heard_top = [], []
    for item in walks:
        x_all = torch.cat([item.parts, item.signals.float()])
        heard_c = candidates & item.seen
        sc = (weights32 @ x_all).masked_fill_(~heard_c[None, :], float("-inf"))[f: f + 1]
        heard_lse.append(torch.logsumexp(sc, dim=1).double())
        heard_top.append(torch.topk(sc, min(20, sc.shape[1]), dim=1).values.double())
    _check(stop)
    # Stage 2, tracks never heard (cold): with the order of heard ones fixed, where they
    # fall among them - a change of each weight and a shift, by likelihood over every
    # target and every candidate (the library's view, and the player's). Exact, not over
    # a sample: how many cold tracks compete is what the shift must learn.
    seg = torch.cat([torch.full((len(cx),), j, dtype=torch.long)
                     for j, cx in enumerate(cold_x)])
    cx_all = torch.cat(cold_x)
    mult = torch.log(torch.cat(cold_n))  # log of each group's size
    n_cold = torch.tensor([float(c.sum()) for c in cold_n], dtype=torch.float64)
    offsets = torch.cumsum(torch.tensor([0] + [len(cx) for cx in cold_x]), 0)[:-1]
    lse_h = torch.cat(heard_lse)
    ht = torch.stack(heard_score)[:, f]
    ct = torch.tensor(cold_target)
    is_cold_target = ct >= 0
    pick = (offsets + ct.clamp(min=0)).clamp(max=max(len(cx_all) - 1, 0))

    def cold_nll(p: torch.Tensor) -> torch.Tensor:
        cs = cx_all @ (w + p[:k]) + cold_shift(p[k], n_cold)[seg]
        top = lse_h.scatter_reduce(0, seg, (cs + mult).detach(), "amax")
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        sums = torch.exp(lse_h - top).index_add(0, seg, torch.exp(cs + mult - top[seg]))
        norm = top + torch.log(sums)
        target = torch.where(is_cold_target, cs[pick], ht) if len(cs) else ht
        return (norm - target).mean()

    fitted_cold = fit(cold_nll, torch.zeros(k + 1, dtype=torch.float64))
    # As in stage 1, likelihood and the top of the ranking can disagree on where new tracks
    # belong (a listener who rarely plays one is better served with them lower): choose
    # among shifts of the fitted placement by HR@20 + MRR@20 over every target, ranked
    # exactly among every candidate (the heard ones' best 20 scores were kept).
    tops = torch.cat(heard_top)  # [T, 20]
    h_rank = torch.stack(heard_rank)[:, f]

    def library_metric(p: torch.Tensor) -> float:
        cs = cx_all @ (w + p[:k]) + cold_shift(p[k], n_cold)[seg]
        cn = torch.exp(mult)  # group sizes
        total = 0.0
        for j in range(len(tops)):
            a, b = int(offsets[j]), int(offsets[j] + len(cold_x[j]))
            c, n = cs[a:b], cn[a:b]
            if is_cold_target[j]:
                t = c[int(ct[j])]
                rank = float((tops[j] >= t).sum()) + float((n * (c >= t)).sum())
            else:
                t = ht[j]
                rank = float(h_rank[j]) + float((n * (c >= t)).sum())
            if rank <= 20:
                total += 1.0 + 1.0 / rank
        return total / len(tops)

    _check(stop)
    shifts = {f"cold{d:+g}": d for d in COLD_SHIFTS}
    cold_family = {}
    for name, d in shifts.items():
        alt = fitted_cold.clone()
        alt[k] += d
        cold_family[name] = alt
    cold_scores = {n: library_metric(v) for n, v in cold_family.items()}
    cold_choice = max(cold_scores, key=lambda n: (cold_scores[n], n == "cold+0"))
    cold_params = cold_family[cold_choice]
    report.update(cold_choice=cold_choice, val_library=round(cold_scores[cold_choice], 4),
                  val_library_likelihood=round(cold_scores["cold+0"], 4))
    t = torch.cat([w, cold_params])
    report.update(choice=choice, val_choice=round(scores[choice], 4),
                  val_likelihood=round(scores["likelihood"], 4),
                  val_plain=round(scores["plain"], 4), heard_targets=n_heard)
    report["val_family"] = {n: round(v, 4) for n, v in scores.items()}
    net.blend.copy_(t[:k].float())
    net.blend_cold.copy_(t[k: 2 * k].float())
    net.blend_cold_bias.copy_(t[2 * k:].float())
    part_names = list(PARTS) + list(SIGNALS)
    report.update(fitted=1.0, nll_before=round(before, 4), nll_after=round(after, 4))
    report.update({f"w_{n}": round(float(v), 4) for n, v in zip(part_names, t[:k])})
    report.update({f"cold_{n}": round(float(v), 4)
                   for n, v in zip(part_names, t[k: 2 * k])})
    report["cold_bias"] = round(float(t[2 * k]), 4)
    log.info("blend fitted on %d held-out targets (%d heard): NLL %.4f -> %.4f; chose %s "
             "(%.4f; likelihood %.4f, plain %.4f): %s", len(pos), n_heard, before, after,
             choice, scores[choice], scores["likelihood"], scores["plain"],
             {n: round(float(v), 3) for n, v in zip(part_names, t[:k])})
    net.train()
    return report
