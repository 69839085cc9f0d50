"""``Recommender``: the player-facing next-track model (the GRU of model.py).

Input types (see also ``logs.Event``):

* a *session* is a sequence of plays, oldest first; a play is a bare track id (played
  through, time unknown) or an ``Event(track, time=None, skipped=False)``;
* ``fit(sessions)`` takes one listener's sessions in time order (their whole history, or -
  on a fitted model - only the new ones: that is a fine-tune);
* a *context* for ``recommend``/``explain`` is the listener's latest plays, oldest first,
  as one flat sequence; with ``Event.time`` set, gaps over 30 minutes cut sessions;
* track ids are any ints or strings (or tuples of them) chosen by the caller;
* metadata is optional: ``{track_id: {"artist": str, "album": str, "genre": str}}``.

Skipped plays are a training signal only (see ``Config.skip_weight``); in a context they
are ignored, and they are never targets.
"""

from __future__ import annotations

import copy
import logging
import math
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from .base import Metadata, ProgressFn, Scorer, SequenceModel, Sessions
from .checkpoint import CheckpointError, FORMAT, FORMAT_VERSION, load_checkpoint, \
    save_checkpoint
from .config import Config
from .data import PAD, PlayLog, Vocab, build_stream, track_ids
from .logs import Event, EventLike, TrackId, as_event, normalise
from .model import Feats, Net
from .train import Cancelled, Trainer, TrainingError

log = logging.getLogger(__name__)

__all__ = ["Recommender", "Config", "Event", "CheckpointError", "Cancelled", "TrainingError"]

_META_FIELDS = ("artist", "album", "genre")


def warm_up() -> None:
    """Import now what training would import lazily: torch's optimizers pull in
    ``torch._dynamo`` on first use (about 2 s, holding the interpreter lock). An application
    calls this on a background thread at start-up, so that a later training (and its Cancel)
    starts at once instead of spending its first seconds in imports."""
    torch.optim.Adam([torch.nn.Parameter(torch.zeros(1))])


class Recommender(SequenceModel):
    """A GRU next-track model over one listener's history.

    >>> rec = Recommender().fit(sessions, metadata=meta)          # doctest: +SKIP
    >>> rec.recommend(recent_plays, k=5, exclude={now_playing})  # doctest: +SKIP
    [(track_id, probability), ...]
    """

    name = "gru"

    def __init__(self, config: Config | None = None) -> None:
        self.config = config or Config()
        self.config.validate()
        self.vocab = Vocab()
        self.artists = Vocab()
        self.net: Net | None = None
        self.metadata: dict[TrackId, dict[str, str]] = {}
        #: The latest training plays as (track id, session number): context for fine-tunes.
        self.history: list[tuple[TrackId, int]] = []
        self.metrics: dict[str, Any] = {}
        self._steps_per_epoch = 1
        self._epochs_planned = 1
        self._vec: torch.Tensor | None = None  # output vectors, cached for inference
        # Guards the swap of a finished training run against concurrent readers
        # (recommend on the GUI's picker thread while fit runs on a worker).
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        """Copyable and picklable: the lock is not part of the state."""
        state = dict(self.__dict__)
        state.pop("_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.RLock()

    # ------------------------------------------------------------------ properties

    @property
    def fitted(self) -> bool:
        """True once ``fit`` (or ``load``) has produced a model."""
        return self.net is not None

    def known_tracks(self) -> list[TrackId]:
        """Every track id the model can score, in vocabulary order."""
        return list(self.vocab.keys())

    def progress_fraction(self, epoch: int, step: int) -> float:
        """Rough share of the planned training done at (epoch, step), for progress bars
        (early stopping may end it sooner: the bar then jumps to the end)."""
        done = (epoch - 1) + min(step / max(self._steps_per_epoch, 1), 1.0)
        return min(done / max(self._epochs_planned, 1), 0.99)

    # ------------------------------------------------------------------ training

    def fit(self, sessions: Sessions, *, metadata: Metadata | None = None,
            progress: ProgressFn | None = None, cancel: threading.Event | None = None,
            resume: bool | None = None) -> Recommender:
        """Train on one listener's sessions (oldest first); returns ``self``.

        On a fitted model (or with ``resume=True``) this is a fine-tune: ``sessions`` are the
        *new* listens, new tracks join the vocabulary (their vectors start from the mean of
        the same artist's tracks, else album, else genre) and a few epochs at a low learning
        rate follow; ``resume=False`` retrains from scratch. ``progress(epoch, step, loss)``
        is called after each step; setting ``cancel`` raises ``Cancelled`` within one step
        and leaves the model as it was. A diverging run raises ``TrainingError``.
        """
        cfg = self.config
        torch.set_num_threads(cfg.threads)
        sessions = [[as_event(e) for e in s] for s in sessions]
        track_ids(e.track for s in sessions for e in s)
        meta = dict(self.metadata)
        meta.update(_clean_metadata(metadata or {}))
        resume = self.fitted if resume is None else resume
        if resume and not self.fitted:
            raise ValueError("resume=True needs a fitted or loaded model")
        if not any(not e.skipped for s in sessions for e in s):
            raise ValueError("no plays to learn from (every session is empty or skips only)")
        if resume:
            self._finetune(sessions, meta, progress, cancel)
        else:
            self._train_new(sessions, meta, progress, cancel)
        return self

    def _train_new(self, sessions: list[list[Event]], meta: dict[TrackId, dict[str, str]],
                   progress: ProgressFn | None, cancel: threading.Event | None) -> None:
        cfg = self.config
        torch.manual_seed(cfg.seed)
        vocab = Vocab(e.track for s in sessions for e in s)
        artists = Vocab()
        item_artist = _artist_index(vocab, artists, meta, [0] * len(vocab))
        stream = build_stream(sessions, vocab, cfg.max_skips)
        net = Net(cfg, len(vocab), len(artists))
        net.item_artist.copy_(torch.tensor(item_artist, dtype=torch.long))
        n_sess = int(stream.session[-1]) + 1
        n_val = math.floor(cfg.val_share * n_sess) if n_sess >= 10 else 0
        val_from = int(np.searchsorted(stream.session, n_sess - n_val)) if n_val else None
        trainer = Trainer(net, stream, cfg, lr=cfg.lr, seed=cfg.seed, progress=progress,
                          cancel=cancel)
        self._plan(val_from or len(stream), cfg.epochs + (cfg.tail_epochs if n_val else 0))
        report = trainer.fit(cfg.epochs, val_from, cfg.patience, cfg.tail_epochs)
        log.info("trained %d epochs (best %d) in %.1f s on %d plays, %d tracks: val %s",
                 report.epochs, report.best_epoch, report.seconds, len(stream),
                 len(vocab) - 1, report.val)
        self._swap_in(net, vocab, artists, meta, stream, report.as_dict())

    def _finetune(self, sessions: list[list[Event]], meta: dict[TrackId, dict[str, str]],
                  progress: ProgressFn | None, cancel: threading.Event | None) -> None:
        cfg = self.config
        assert self.net is not None
        torch.manual_seed(cfg.seed + 1 + int(self.metrics.get("finetunes", 0)))
        vocab, artists = copy.deepcopy(self.vocab), copy.deepcopy(self.artists)
        start = len(vocab)
        for s in sessions:
            for e in s:
                vocab.add(e.track)
        net = self._grown(copy.deepcopy(self.net), vocab, artists, meta, start=start)
        context = [(vocab.get(t), s) for t, s in self.history]
        stream = build_stream(sessions, vocab, cfg.max_skips, context=context)
        trainer = Trainer(net, stream, cfg, lr=cfg.finetune_lr,
                          seed=cfg.seed + 1 + int(self.metrics.get("finetunes", 0)),
                          progress=progress, cancel=cancel)
        self._plan(len(stream), cfg.finetune_epochs)
        report = trainer.fit(cfg.finetune_epochs)
        metrics = dict(self.metrics)
        metrics["finetunes"] = int(metrics.get("finetunes", 0)) + 1
        metrics["last_finetune"] = report.as_dict()
        log.info("fine-tuned on %d new plays (%d new tracks) in %.2f s",
                 len(stream) - len(context), len(vocab) - start, report.seconds)
        self._swap_in(net, vocab, artists, meta, stream, metrics)

    def add_tracks(self, metadata: Metadata) -> list[TrackId]:
        """Cold start: make tracks nobody played yet scorable, without training.

        Each track of ``metadata`` that the model does not know, but whose artist (else
        album) it knows, joins the vocabulary with the mean vectors of that artist's (album's)
        known tracks: a new track by a known artist starts where its artist is, not as noise,
        and the next fine-tune refines it. Tracks that share neither artist nor album with
        anything played stay out - the model has nothing to say about them. Returns the ids
        added, in ``metadata``'s order; the model is swapped atomically.
        """
        self._require()
        assert self.net is not None
        clean = _clean_metadata(metadata)
        meta = dict(self.metadata)
        meta.update(clean)
        known = _groups(self.vocab, meta, range(1, len(self.vocab)))
        added = [t for t, m in clean.items() if t not in self.vocab and any(
            m.get(f) and (f, normalise(m[f])) in known for f in ("artist", "album"))]
        if not added:
            return []
        vocab, artists = copy.deepcopy(self.vocab), copy.deepcopy(self.artists)
        start = len(vocab)
        for t in added:
            vocab.add(t)
        net = self._grown(copy.deepcopy(self.net), vocab, artists, meta, start=start)
        net.eval()
        with self._lock:
            self.net, self.vocab, self.artists, self.metadata = net, vocab, artists, meta
            self._vec = None
        log.info("added %d unplayed tracks of known artists/albums", len(added))
        return added

    def _plan(self, n_plays: int, epochs: int) -> None:
        lanes = max(1, min(self.config.batch_size, n_plays))
        self._steps_per_epoch = max(1, math.ceil(n_plays / lanes / self.config.bptt))
        self._epochs_planned = max(1, epochs)

    def _swap_in(self, net: Net, vocab: Vocab, artists: Vocab,
                 meta: dict[TrackId, dict[str, str]], stream: Any,
                 metrics: dict[str, Any]) -> None:
        """Publish a finished training run (never a half-trained one)."""
        keep = max(self.config.repeat_window, self.config.context_window)
        tail_items = stream.items[-keep:].tolist()
        tail_sess = stream.session[-keep:].tolist()
        first = tail_sess[0] if tail_sess else 0
        net.eval()
        history = [(vocab.ids[i], s - first) for i, s in zip(tail_items, tail_sess) if i != PAD]
        with self._lock:
            self.net, self.vocab, self.artists, self.metadata = net, vocab, artists, meta
            self._vec = None
            self.history = history
            self.metrics = metrics

    def _grown(self, net: Net, vocab: Vocab, artists: Vocab,
               meta: Mapping[TrackId, Mapping[str, str]], start: int) -> Net:
        """``net`` with tables for every track of ``vocab`` and artist of ``meta``.

        Rows from ``start`` on are new tracks: their vectors (and output bias) start from the
        mean of the known tracks by the same artist, else on the same album, else of the
        same genre, else of all known tracks - never from noise.
        """
        cfg = self.config
        item_artist = _artist_index(vocab, artists, meta, net.item_artist.tolist())
        new = Net(cfg, len(vocab), len(artists))
        old = net.state_dict()
        state = new.state_dict()
        n_old = net.n_items
        for name, t in old.items():
            dst = state[name]
            if t.shape == dst.shape:
                state[name] = t.clone()
            elif t.dim() >= 1 and t.shape[1:] == dst.shape[1:]:
                rows = min(t.shape[0], dst.shape[0])
                grown = dst.clone()
                grown[:rows] = t[:rows]
                if name == "artist.weight":
                    grown[rows:] = 0.0  # a new artist adds nothing until it is learned
                state[name] = grown
            else:  # pragma: no cover - a config change between runs
                raise ValueError(f"cannot grow parameter {name}: {tuple(t.shape)} -> "
                                 f"{tuple(dst.shape)}")
        state["item_artist"] = torch.tensor(item_artist, dtype=torch.long)
        if start < len(vocab) and n_old > 1 and start > 1:
            groups = _groups(vocab, meta, range(1, n_old))
            for name in ("item.weight", "bias", "out.weight"):
                if name in state:
                    _init_rows(state[name], vocab, meta, groups, start, n_old)
        new.load_state_dict(state)
        return new

    # ------------------------------------------------------------------ inference

    def _require(self) -> Net:
        if self.net is None:
            raise RuntimeError("the recommender is not fitted: call fit() or load() first")
        return self.net

    @torch.no_grad()
    def _hidden(self, plays: Sequence[tuple[int, int]]) -> torch.Tensor:
        """Hidden state [1, H] after ``plays`` [(vocab index, session number)].

        Only the latest ``context_window`` plays are run through the network (older ones
        count through the copy inputs): this bounds the cost of a recommendation.
        """
        net, cfg = self._require(), self.config
        tail = list(plays[-cfg.context_window:])
        if not cfg.carry_state and tail:
            tail = [p for p in tail if p[1] == tail[-1][1]]
        if not tail:
            return torch.zeros(1, cfg.hidden_dim)
        x = torch.tensor([[i for i, _ in tail]])
        st = [True] + [tail[j][1] != tail[j - 1][1] for j in range(1, len(tail))]
        return net.run(x, torch.tensor([st]), None, None)[1]

    def _feats(self, log_: PlayLog) -> Feats:
        """Copy inputs for the latest play of ``log_`` as [1, R] tensors."""
        net, cfg = self._require(), self.config
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

    def _plays(self, context: Sequence[EventLike]) -> list[tuple[int, int]]:
        """Kept plays of a context as (vocab index, session number); skips dropped.

        Sessions are cut where two kept plays with times are more than ``session_gap_s``
        apart (as ``base.split_context`` does), in one pass: this runs on every pick.
        """
        gap = self.config.session_gap_s
        index = self.vocab.index
        out: list[tuple[int, int]] = []
        sno, last = 0, None
        for item in context:
            if isinstance(item, Event):
                if item.skipped:
                    continue
                if item.time is not None:
                    if last is not None and item.time - last > gap and out:
                        sno += 1
                    last = item.time
                out.append((index.get(item.track, PAD), sno))
            else:
                out.append((index.get(item, PAD), sno))
        return out

    @torch.no_grad()
    def _log_probs(self, plays: Sequence[tuple[int, int]]) -> torch.Tensor:
        """Log-probability of every track after ``plays`` (empty: the learned prior)."""
        net = self._require()
        arr = np.array(plays, dtype=np.int64).reshape(-1, 2)
        log_ = PlayLog.from_arrays(arr[:, 0], arr[:, 1])
        lg = net.logits(self._hidden(plays), self._feats(log_), vectors=self._vectors())
        return torch.log_softmax(lg[0], dim=0)

    def _vectors(self) -> torch.Tensor:
        net = self._require()
        if self._vec is None or self._vec.shape[0] != net.n_items:
            with torch.no_grad():
                self._vec = net.output_vectors().detach().clone()
        return self._vec

    def recommend(self, context: Sequence[EventLike], k: int = 10,
                  exclude: Iterable[TrackId] = ()) -> list[tuple[TrackId, float]]:
        """The ``k`` likeliest next tracks after ``context``, as (track id, probability).

        ``context``: the latest plays, oldest first (ids or ``Event``s; skips ignored; with
        times, 30-minute gaps cut sessions). ``exclude``: ids never returned (e.g. the
        queue, the track now playing). Tracks in the context may be recommended again:
        repeats are part of listening; filter them in ``exclude`` if the player does not
        want them.
        """
        with self._lock:
            lp = self._log_probs(self._plays(context))
            ex = [self.vocab.get(t) for t in exclude]
            ex = [i for i in ex if i != PAD]
            if ex:
                lp = lp.index_fill(0, torch.tensor(ex), float("-inf"))
            k = max(0, min(k, len(self.vocab) - 1 - len(set(ex))))
            if k == 0:
                return []
            vals, idx = torch.topk(lp, k)
            return [(self.vocab.ids[int(i)], float(math.exp(v)))
                    for v, i in zip(vals.tolist(), idx.tolist()) if v > float("-inf")]

    def explain(self, context: Sequence[EventLike], track_id: TrackId, top: int = 3,
                window: int = 12) -> list[tuple[TrackId, float]]:
        """Which recent context tracks most raised ``track_id``'s score (leave-one-out).

        For each distinct track among the last ``window`` kept plays, the context is scored
        again without that track (all its plays) and the drop in the log-probability of
        ``track_id`` is its contribution. Returns up to ``top`` (context track id, drop in
        nats) with a positive drop, largest first; ``[]`` when nothing in the context helps
        (e.g. the pick is a general favourite). The pick itself may be among the reasons
        when it was heard lately (the repeat scorer): "you have been playing it". Costs
        ``window + 1`` forward passes.
        """
        with self._lock:
            return self._explain(context, track_id, top, window)

    def _explain(self, context: Sequence[EventLike], track_id: TrackId, top: int,
                 window: int) -> list[tuple[TrackId, float]]:
        target = self.vocab.get(track_id)
        plays = self._plays(context)
        if target == PAD or not plays:
            return []
        base = float(self._log_probs(plays)[target])
        recent = []
        for i, _ in reversed(plays[-window:]):
            if i != PAD and i not in recent:
                recent.append(i)
        out = []
        for i in recent:
            without = [p for p in plays if p[0] != i]
            drop = base - float(self._log_probs(without)[target])
            if drop > 0:
                out.append((self.vocab.ids[i], drop))
        out.sort(key=lambda x: -x[1])
        return out[:top]

    def scorer(self, candidates: Sequence[TrackId]) -> Scorer:
        """An incremental scorer over ``candidates`` (used by the evaluator)."""
        with self._lock:
            return _GRUScorer(self, candidates)

    # ------------------------------------------------------------------ persistence

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model to ``path`` atomically (see ``checkpoint``)."""
        with self._lock:
            payload = self._payload()
        save_checkpoint(path, payload)

    def _payload(self) -> dict[str, Any]:
        net = self._require()
        return {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "config": self.config.to_dict(),
            "vocab": list(self.vocab.keys()),
            "artists": list(self.artists.keys()),
            "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
            "metrics": _plain_metrics(self.metrics),
            "metadata": {t: dict(m) for t, m in self.metadata.items()},
            "history": [[t, s] for t, s in self.history],
        }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recommender:
        """Read a checkpoint written by ``save``; a bad file raises ``CheckpointError``."""
        payload = load_checkpoint(path)
        try:
            cfg = Config.from_dict(payload["config"])
            vocab = Vocab(track_ids(_tuples(payload["vocab"])))
            artists = Vocab(payload["artists"])
            if len(vocab) != len(payload["vocab"]) + 1:
                raise ValueError("duplicate track ids in the vocabulary")
            rec = cls(cfg)
            net = Net(cfg, len(vocab), len(artists))
            net.load_state_dict(payload["state_dict"], strict=True)
            ia = net.item_artist
            if len(ia) and (int(ia.min()) < 0 or int(ia.max()) >= net.n_artists):
                raise ValueError("item_artist out of range")
            history = [(_tuples([t])[0], int(s)) for t, s in payload["history"]]
            metadata = {_tuples([t])[0]: dict(m) for t, m in payload["metadata"].items()}
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - any inconsistency is a bad checkpoint
            raise CheckpointError(f"{path}: inconsistent checkpoint ({type(exc).__name__}: "
                                  f"{str(exc)[:200]})") from exc
        net.eval()
        rec.net, rec.vocab, rec.artists = net, vocab, artists
        rec.history, rec.metadata = history, metadata
        rec.metrics = dict(payload["metrics"])
        return rec


class _GRUScorer(Scorer):
    """Feeds plays one at a time; scores the candidates from the live hidden state."""

    def __init__(self, rec: Recommender, candidates: Sequence[TrackId]) -> None:
        self.rec = rec
        self.net = rec._require()
        self.cfg = rec.config
        self.vocab = rec.vocab
        idx = [self.vocab.get(c) for c in candidates]
        self.cand = torch.tensor(idx, dtype=torch.long)
        self.unknown = self.cand == PAD
        self.vectors = rec._vectors()
        self.log = PlayLog()
        self.h = torch.zeros(1, self.cfg.hidden_dim)
        self.session = -1
        self.new_session = True

    def start_session(self) -> None:
        self.session += 1
        self.new_session = True

    def observe(self, track: TrackId, skipped: bool = False) -> None:
        if skipped:
            return
        i = self.vocab.get(track)
        with torch.no_grad():
            if self.new_session and not self.cfg.carry_state:
                self.h = torch.zeros_like(self.h)
            _, self.h = self.net.run(torch.tensor([[i]]), torch.tensor([[self.new_session]]),
                                     self.h, None)
        self.log.append(i, self.session)
        self.new_session = False

    def observe_sessions(self, sessions: Iterable[Sequence[EventLike]]) -> None:
        """Bulk history: only the latest ``context_window`` plays drive the hidden state."""
        for session in sessions:
            self.start_session()
            for item in session:
                ev = as_event(item)
                if not ev.skipped:
                    self.log.append(self.vocab.get(ev.track), self.session)
                    self.new_session = False
        self.h = self.rec._hidden(self.log.pairs(self.cfg.context_window))

    @torch.no_grad()
    def scores(self) -> tuple[np.ndarray, np.ndarray | None]:
        lg = self.net.logits(self.h, self.rec._feats(self.log), vectors=self.vectors)[0]
        s = lg[self.cand].masked_fill(self.unknown, float("-inf"))
        return s.double().numpy(), None


# --------------------------------------------------------------------------- helpers

def _artist_index(vocab: Vocab, artists: Vocab, meta: Mapping[TrackId, Mapping[str, str]],
                  known: list[int]) -> list[int]:
    """Artist index of every track (0 = unknown), adding new artists to ``artists``."""
    out = known + [0] * (len(vocab) - len(known))
    for i in range(1, len(vocab)):
        a = meta.get(vocab.ids[i], {}).get("artist")
        if a and out[i] == 0:
            out[i] = artists.add(normalise(a))
    return out


def _clean_metadata(metadata: Metadata) -> dict[TrackId, dict[str, str]]:
    """Keep the string fields the model uses (artist, album, genre) of each track."""
    out: dict[TrackId, dict[str, str]] = {}
    for t, m in metadata.items():
        if not isinstance(m, Mapping):
            continue
        clean = {f: str(m[f]) for f in _META_FIELDS if m.get(f)}
        if clean:
            out[t] = clean
    return out


def _groups(vocab: Vocab, meta: Mapping[TrackId, Mapping[str, str]], rows: Iterable[int]
            ) -> dict[tuple[str, str], list[int]]:
    """Known rows grouped by (field, normalised value) for artist, album and genre."""
    groups: dict[tuple[str, str], list[int]] = {}
    for i in rows:
        m = meta.get(vocab.ids[i], {})
        for f in _META_FIELDS:
            if m.get(f):
                groups.setdefault((f, normalise(m[f])), []).append(i)
    return groups


def _init_rows(table: torch.Tensor, vocab: Vocab, meta: Mapping[TrackId, Mapping[str, str]],
               groups: dict[tuple[str, str], list[int]], start: int, n_old: int) -> None:
    """Initialise rows ``start..`` of ``table`` from their closest metadata group's mean."""
    overall = table[1:n_old].mean(dim=0)
    for i in range(start, len(vocab)):
        m = meta.get(vocab.ids[i], {})
        value = overall
        for f in _META_FIELDS:
            rows = groups.get((f, normalise(m[f]))) if m.get(f) else None
            if rows:
                value = table[rows].mean(dim=0)
                break
        table[i] = value


def _tuples(items: Iterable[Any]) -> list[Any]:
    """Lists that came back from a checkpoint stand for tuples (track keys)."""
    return [tuple(_tuples(x)) if isinstance(x, list) else x for x in items]


def _plain_metrics(metrics: Mapping[str, Any]) -> dict[str, Any]:
    """Metrics restricted to what ``weights_only`` loading accepts (numbers, str, lists, dicts)."""
    def plain(v: Any) -> Any:
        if isinstance(v, Mapping):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, (int, float, str, bool)) or v is None:
            return v
        return str(v)
    return plain(metrics)
