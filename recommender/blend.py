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
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from .data import NEVER
from .model import BLEND_DEFAULT, PARTS, Net
from .signals import SIGNALS, ContextSignals
from .vocab import FIELDS, PAD

if TYPE_CHECKING:
    from .train import Trainer

log = logging.getLogger(__name__)

#: Below this many held-out targets the blend is not fitted (too little to learn from).
MIN_TARGETS = 100
#: Candidates kept per target for the likelihood fit: the best by the network, by each
#: signal, and at random.
TOP_NET, TOP_SIGNAL, RANDOM = 64, 32, 64
#: Held-out positions the network scores at once.
CHUNK = 64
#: Pull of the weights towards the plain sum (per weight, against the mean NLL).
L2 = 1e-3
#: Extra weight given to one signal in the alternatives the tail chooses among.
LEADS = (2.0, 8.0, 100.0)

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


@torch.no_grad()
def _walk(trainer: Trainer, pos: torch.Tensor) -> Iterator[_Position]:
    """Every held-out position with its parts and signals over the whole vocabulary: the
    network runs over chunks of positions while one walk of the stream keeps the signals
    of the context up to date."""
    net, stream = trainer.net, trainer.stream
    hs = trainer.hidden_at(pos)
    sig = ContextSignals(net.item_fields[:, _ARTIST].numpy())
    targets = trainer.targets
    p_next = 0
    for c in range(0, len(pos), CHUNK):
        chunk = pos[c: c + CHUNK]
        parts = net.parts(hs[c: c + CHUNK], trainer.feats(chunk), seen=None, split=True)
        stacked = torch.stack([parts.get(n, torch.zeros_like(parts["net"]))
                               for n in PARTS], dim=1)  # [m, P, N] (learned vectors)
        cold_net = _cold_part(trainer, hs[c: c + CHUNK])  # [m, N]
        for j, p in enumerate(chunk.tolist()):
            while p_next <= p:
                if stream.starts[p_next]:
                    sig.start_session()
                sig.observe(int(stream.items[p_next]))
                p_next += 1
            seen = trainer.first_pos <= p
            row = stacked[j].clone()
            row[0] = torch.where(seen, row[0], cold_net[j])
            yield _Position(p, int(targets[p]), row, torch.from_numpy(sig.features()), seen)


def _cold_part(trainer: Trainer, h: torch.Tensor) -> torch.Tensor:
    """The network's part of every track scored as a cold one ([M, N])."""
    net = trainer.net
    q = net.proj(h)
    return q @ net.output_vectors()[1].t() + net.cold_bias


def fit_blend(trainer: Trainer, lo: int, hi: int) -> dict[str, Any]:
    """Fit ``trainer.net``'s blend on the targets in ``[lo, hi)`` (see the module doc).

    Returns a small report (targets, what was chosen, the tail's figures, the weights)."""
    net, cfg = trainer.net, trainer.cfg
    net.eval()
    pos = trainer.val_positions(lo, hi)
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
    # Pass 1: each target's candidates that matter for its rank (the best by the plain
    # sum and by each signal, some at random, the target), with their blend inputs.
    rows_x, rows_cold, rows_t = [], [], []
    for item in _walk(trainer, pos):
        x_all = torch.cat([item.parts, item.signals.to(item.parts.dtype)])  # [K, N]
        total = (w0.to(x_all.dtype)[:, None] * x_all).sum(0)
        picks = [torch.tensor([item.target]), torch.from_numpy(rng.choice(cand_idx, RANDOM))]
        for row, top in ((total, TOP_NET), *((r, TOP_SIGNAL) for r in item.signals)):
            masked = row.masked_fill(~candidates, float("-inf"))
            picks.append(torch.topk(masked, min(top, len(cand_idx))).indices)
        sub = torch.unique(torch.cat(picks))
        sub = sub[candidates[sub]]
        rows_x.append(x_all[:, sub].t().double())
        rows_cold.append((~item.seen[sub]).double())
        rows_t.append(int(torch.searchsorted(sub, item.target)))
    width = max(len(r) for r in rows_x)
    x = torch.zeros(len(pos), width, k, dtype=torch.float64)
    cold = torch.zeros(len(pos), width, dtype=torch.float64)
    mask = torch.zeros(len(pos), width, dtype=torch.bool)
    for j, (rx, rc) in enumerate(zip(rows_x, rows_cold)):
        x[j, : len(rx)] = rx
        cold[j, : len(rx)] = rc
        mask[j, : len(rx)] = True
    tgt = torch.tensor(rows_t)
    heard_rows = cold.gather(1, tgt[:, None])[:, 0] == 0

    def scores_of(w: torch.Tensor, dw: torch.Tensor, b: torch.Tensor, rows: torch.Tensor,
                  heard_only: bool) -> tuple[torch.Tensor, torch.Tensor]:
        """Blended scores [R, S] of targets ``rows`` (cold candidates left out with
        ``heard_only``) and the column of each target."""
        c = cold[rows]
        sc = (x[rows] * (w + c.unsqueeze(2) * dw)).sum(2) + b * c
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
    hits = torch.zeros(len(names), dtype=torch.float64)
    rr = torch.zeros(len(names), dtype=torch.float64)
    n_heard = 0
    for item in _walk(trainer, pos):
        if not bool(item.seen[item.target]):
            continue
        n_heard += 1
        x_all = torch.cat([item.parts, item.signals.to(item.parts.dtype)]).double()
        sc = (weights @ x_all).masked_fill(~(candidates & item.seen)[None, :],
                                           float("-inf"))  # [F, N]
        ts = sc[:, item.target: item.target + 1]
        rank = ((sc > ts) | (sc == ts)).sum(1).double()
        hit = rank <= 20
        hits += hit.double()
        rr += hit.double() / rank
    scores = {n: float((hits[i] + rr[i]) / max(n_heard, 1)) for i, n in enumerate(names)}
    choice = max(scores, key=lambda n: (scores[n], n == "likelihood"))
    w = family[choice]
    # Stage 2, tracks never heard (cold): with the order of heard ones fixed, where they
    # fall among them - a change of each weight and a shift, by likelihood over every
    # target and every candidate (the library's view, and the player's). Exact, not over
    # a sample: how many cold tracks compete is what the shift must learn. Per target
    # only the cold candidates' inputs are kept; the heard ones sum to one number.
    heard_lse, heard_target, cold_x, cold_target = [], [], [], []
    for item in _walk(trainer, pos):
        x_all = torch.cat([item.parts, item.signals.to(item.parts.dtype)]).double()
        sc = w @ x_all
        is_cold = candidates & ~item.seen
        heard_lse.append(torch.logsumexp(sc[candidates & item.seen], 0))
        cols = is_cold.nonzero()[:, 0]
        cold_x.append(x_all[:, cols].t())
        if bool(is_cold[item.target]):
            heard_target.append(float("nan"))
            cold_target.append(int(torch.searchsorted(cols, item.target)))
        else:
            heard_target.append(float(sc[item.target]))
            cold_target.append(-1)

    # One long tensor of every target's cold candidates, with the target each belongs to.
    seg = torch.cat([torch.full((len(cx),), j, dtype=torch.long)
                     for j, cx in enumerate(cold_x)])
    cx_all = torch.cat(cold_x) if cold_x else torch.zeros(0, k, dtype=torch.float64)
    counts = torch.tensor([len(cx) for cx in cold_x], dtype=torch.float64)
    offsets = torch.cumsum(torch.cat([torch.zeros(1), counts]), 0).long()[:-1]
    lse_h = torch.stack(heard_lse)
    ht = torch.tensor(heard_target, dtype=torch.float64)
    ct = torch.tensor(cold_target)
    is_cold_target = ct >= 0

    def cold_nll(p: torch.Tensor) -> torch.Tensor:
        cs = cx_all @ (w + p[:k]) + cold_shift(p[k], counts)[seg]
        # log-sum-exp per target over its cold candidates, next to its heard ones' sum
        top = lse_h.scatter_reduce(0, seg, cs.detach(), "amax")
        sums = torch.exp(lse_h - top).index_add(0, seg, torch.exp(cs - top[seg]))
        norm = top + torch.log(sums)
        target = torch.where(is_cold_target,
                             cs[(offsets + ct.clamp(min=0)).clamp(max=max(len(cs) - 1, 0))]
                             if len(cs) else ht, ht)
        return (norm - target).mean()

    cold_params = fit(cold_nll, torch.zeros(k + 1, dtype=torch.float64))
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
