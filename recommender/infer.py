"""Inference: scoring a listening context over the model's tracks and any others.

A ``Scoring`` is a fitted network's view of a catalogue: the tracks it learned (its
vocabulary) and *extra* tracks it never learned - unplayed library tracks, tracks added
since the last training, a protocol's candidates first heard in the test period - scored
from what is known of them (their fields: artist, album, genre, year, loudness) and from
the context, without retraining. A context track that is one of the extras counts like
any other for recency, repeats and transitions.

The same code serves ``Recommender.recommend``/``explain`` (a context given at once) and
the evaluator's incremental ``Scorer`` (plays fed one at a time); a test checks that both
give the same scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from .base import Scorer
from .blend import combine
from .config import Config
from .data import PlayLog
from .logs import EventLike, TrackId, as_event, is_new_session
from .model import Feats, Net
from .signals import ContextSignals
from .vocab import FIELDS, PAD, TrackFields, Vocab


class Scoring:
    """Scores over the vocabulary (columns ``1..n-1``) and ``extras`` (columns ``n..``)."""

    def __init__(self, net: Net, cfg: Config, vocab: Vocab, fields: TrackFields,
                 extras: Sequence[TrackId] = ()) -> None:
        self.net, self.cfg = net, cfg
        self.n = net.n_items
        extras = [t for t in dict.fromkeys(extras) if t not in vocab]
        extra_fields = torch.from_numpy(fields.of(extras).astype(np.int64))
        self.table = net.table(extra_fields)
        self.ids: list[TrackId | None] = list(vocab.ids) + list(extras)
        self.index: dict[TrackId, int] = dict(vocab.index)
        self.index.update({t: self.n + j for j, t in enumerate(extras)})
        self.fields = torch.cat([net.item_fields, self.table.extra_fields])
        # Every column's artist by the whole metadata (not only the artists the network has
        # an embedding for): recency of an artist first heard lately counts too.
        artist_col = FIELDS.index("artist")
        raw = fields.of(list(vocab.ids[1:]) + extras)[:, artist_col].astype(np.int64)
        self.artist = np.concatenate([[0], raw])

    @property
    def size(self) -> int:
        """Columns, padding included."""
        return len(self.ids)

    def column(self, track: TrackId) -> int:
        """The column of ``track`` (``PAD``: unknown to the model and not an extra)."""
        return self.index.get(track, PAD)

    @torch.no_grad()
    def run(self, cols: Sequence[int], starts: Sequence[bool],
            h0: torch.Tensor | None = None) -> torch.Tensor:
        """Hidden state [1, H] after plays of columns ``cols`` from state ``h0``."""
        if not cols:
            return h0 if h0 is not None else torch.zeros(1, self.cfg.hidden_dim)
        c = torch.tensor([list(cols)])
        learned = c < self.n
        x = torch.where(learned, c, torch.zeros_like(c))
        _, h = self.net(x, torch.tensor([list(starts)]), h0, None,
                        x_fields=self.fields[c], cold=~learned)
        return h

    def hidden(self, plays: Sequence[tuple[int, int]]) -> torch.Tensor:
        """Hidden state after ``plays`` [(column, session number)]: only the latest
        ``context_window`` plays run through the network (older ones count through the
        copy inputs and the signals), which bounds the cost of a recommendation."""
        tail = list(plays[-self.cfg.context_window:])
        if not self.cfg.carry_state and tail:
            tail = [p for p in tail if p[1] == tail[-1][1]]
        starts = [True] + [tail[j][1] != tail[j - 1][1] for j in range(1, len(tail))]
        return self.run([c for c, _ in tail], starts)

    def feats(self, log_: PlayLog) -> Feats:
        """Copy inputs for the latest play of ``log_`` as [1, R] tensors."""
        net, cfg = self.net, self.cfg
        out: Feats = {}
        if net.has_repeat:
            out["repeat"] = tuple(  # type: ignore[assignment]
                torch.from_numpy(a)[None]
                for a in log_.repeat_inputs(cfg.repeat_window, cfg.repeat_latest))
        if net.has_succ:
            out["succ"] = tuple(  # type: ignore[assignment]
                torch.from_numpy(a)[None] for a in log_.successor_inputs(
                    cfg.successor_memory, cfg.successor_offsets))
        return out

    @torch.no_grad()
    def scores(self, h: torch.Tensor, log_: PlayLog, signals: ContextSignals) -> torch.Tensor:
        """Blended scores [columns] after the context (padding: -inf)."""
        parts = self.net.parts(h, self.feats(log_), table=self.table, split=True)
        sig = torch.from_numpy(signals.features())
        # A track is cold for the blend while it was never heard: one first heard in this
        # context (a new track played lately) is weighed like the tracks it has learned,
        # as in training, where a track stops being cold at its first play.
        cold = self.table.cold & torch.from_numpy(signals.last == 0)
        out = combine(self.net, parts, sig, cold)[0]
        return out.index_fill(0, torch.zeros(1, dtype=torch.long), float("-inf"))

    def context(self, context: Sequence[EventLike], gap_s: float
                ) -> tuple[list[tuple[int, int]], PlayLog, ContextSignals]:
        """A flat context as (column, session) plays, its play log and its signals. Skips
        are dropped; sessions are cut where two kept plays with times are more than
        ``gap_s`` apart (as ``base.split_context`` does), in one pass."""
        plays: list[tuple[int, int]] = []
        signals = ContextSignals(self.artist)
        sno, last = 0, None
        for item in context:
            ev = as_event(item)
            if ev.skipped:
                continue
            if ev.time is not None:
                if last is not None and is_new_session(last, ev.time, gap_s) and plays:
                    sno += 1
                last = ev.time
            if not plays or plays[-1][1] != sno:
                signals.start_session()
            col = self.column(ev.track)
            plays.append((col, sno))
            signals.observe(col)
        arr = np.array(plays, dtype=np.int64).reshape(-1, 2)
        return plays, PlayLog.from_arrays(arr[:, 0], arr[:, 1]), signals

    def log_probs(self, context: Sequence[EventLike]) -> torch.Tensor:
        """Log-probability of every column after ``context`` (empty: the learned prior)."""
        plays, log_, signals = self.context(context, self.cfg.session_gap_s)
        return torch.log_softmax(self.scores(self.hidden(plays), log_, signals), dim=0)

    def recommend(self, context: Sequence[EventLike], k: int, exclude: Iterable[TrackId]
                  ) -> list[tuple[TrackId, float]]:
        """The ``k`` likeliest tracks after ``context`` as (id, probability)."""
        lp = self.log_probs(context)
        ex = [c for c in (self.column(t) for t in exclude) if c != PAD]
        if ex:
            lp = lp.index_fill(0, torch.tensor(ex), float("-inf"))
        k = max(0, min(k, self.size - 1 - len(set(ex))))
        if k == 0:
            return []
        vals, idx = torch.topk(lp, k)
        return [(self.ids[int(i)], float(np.exp(v)))
                for v, i in zip(vals.tolist(), idx.tolist()) if v > float("-inf")]

    def explain(self, context: Sequence[EventLike], track: TrackId, top: int, window: int
                ) -> list[tuple[TrackId, float]]:
        """Leave-one-out over the distinct tracks of the last ``window`` kept plays: how
        much ``track``'s log-probability drops without each (see ``Recommender.explain``)."""
        target = self.column(track)
        events = [as_event(e) for e in context]
        kept = [e for e in events if not e.skipped]
        if target == PAD or not kept:
            return []
        base = float(self.log_probs(events)[target])
        recent: list[TrackId] = []
        for e in reversed(kept[-window:]):
            if self.column(e.track) != PAD and e.track not in recent:
                recent.append(e.track)
        out = []
        for t in recent:
            without = [e for e in events if e.track != t]
            drop = base - float(self.log_probs(without)[target])
            if drop > 0:
                out.append((t, drop))
        out.sort(key=lambda x: -x[1])
        return out[:top]


class GRUScorer(Scorer):
    """The evaluator's incremental scorer: plays fed one at a time, candidates scored from
    the live hidden state. Candidates the network never learned are scored as extras."""

    def __init__(self, net: Net, cfg: Config, vocab: Vocab, fields: TrackFields,
                 candidates: Sequence[TrackId]) -> None:
        self.scoring = Scoring(net, cfg, vocab, fields, candidates)
        self.cfg = cfg
        self.cand = torch.tensor([self.scoring.column(c) for c in candidates],
                                 dtype=torch.long)
        self.unknown = self.cand == PAD
        self.log = PlayLog()
        self.signals = ContextSignals(self.scoring.artist)
        self.h = torch.zeros(1, cfg.hidden_dim)
        self.session = -1
        self.new_session = True

    def start_session(self) -> None:
        self.session += 1
        self.new_session = True
        self.signals.start_session()

    def observe(self, track: TrackId, skipped: bool = False) -> None:
        if skipped:
            return
        col = self.scoring.column(track)
        if self.new_session and not self.cfg.carry_state:
            self.h = torch.zeros_like(self.h)
        self.h = self.scoring.run([col], [self.new_session], self.h)
        self.log.append(col, self.session)
        self.signals.observe(col)
        self.new_session = False

    def observe_sessions(self, sessions: Iterable[Sequence[EventLike]]) -> None:
        """Bulk history: only the latest ``context_window`` plays drive the hidden state."""
        for session in sessions:
            self.start_session()
            for item in session:
                ev = as_event(item)
                if not ev.skipped:
                    col = self.scoring.column(ev.track)
                    self.log.append(col, self.session)
                    self.signals.observe(col)
                    self.new_session = False
        self.h = self.scoring.hidden(self.log.pairs(self.cfg.context_window))

    def scores(self) -> tuple[np.ndarray, np.ndarray | None]:
        s = self.scoring.scores(self.h, self.log, self.signals)[self.cand]
        s = s.masked_fill(self.unknown, float("-inf"))
        return s.double().numpy(), None
