"""``Recommender``: the player-facing next-track model - one object over the jobs of
``train`` (fitting, fine-tuning), ``infer`` (recommend, explain, the evaluator's scorer),
``vocab`` (tracks and what is known of them) and ``checkpoint`` (save, load).

Input types (see also ``logs.Event``):

* a *session* is a sequence of plays, oldest first; a play is a bare track id (played
  through, time unknown) or an ``Event(track, time=None, skipped=False)``;
* ``fit(sessions)`` takes one listener's sessions in time order (their whole history, or -
  on a fitted model - only the new ones: that is a fine-tune);
* a *context* for ``recommend``/``explain`` is the listener's latest plays, oldest first,
  as one flat sequence; with ``Event.time`` set, gaps over 30 minutes cut sessions;
* track ids are any ints or strings (or tuples of them) chosen by the caller;
* metadata is optional: ``{track_id: {"artist", "album", "genre", "year", "loudness"}}``.

Skipped plays are a training signal only (see ``Config.skip_weight``); in a context they
are ignored, and they are never targets.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import torch

from .base import Metadata, ProgressFn, Scorer, SequenceModel, Sessions
from .checkpoint import FORMAT, FORMAT_VERSION, CheckpointError, fields_payload, \
    load_checkpoint, save_checkpoint
from .config import Config
from .infer import GRUScorer, Scoring
from .logs import Event, EventLike, TrackId, as_event
from .model import Net
from .train import Cancelled, Trained, TrainingError, finetune, plan, train_new
from .vocab import FIELDS, TrackFields, Vocab, track_ids

log = logging.getLogger(__name__)

__all__ = ["Recommender", "Config", "Event", "CheckpointError", "Cancelled", "TrainingError"]


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
        #: What is known of tracks (the library's metadata), learned or not.
        self.fields = TrackFields()
        self.net: Net | None = None
        #: The latest training plays as (track id, session number): context for fine-tunes.
        self.history: list[tuple[TrackId, int]] = []
        self.metrics: dict[str, Any] = {}
        self._steps_per_epoch = 1
        self._epochs_planned = 1
        self._scoring: Scoring | None = None  # the catalogue's scoring, cached
        # Guards the swap of a finished training run against concurrent readers
        # (recommend on the GUI's picker thread while fit runs on a worker).
        self._lock = threading.RLock()

    def __getstate__(self) -> dict[str, Any]:
        """Copyable and picklable: the lock and caches are not part of the state."""
        state = dict(self.__dict__)
        state.pop("_lock", None)
        state["_scoring"] = None
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
        """Every track id the model can score: the ones it learned, in vocabulary order,
        then the others it knows metadata of (scored from it)."""
        learned = self.vocab.keys()
        return learned + [t for t in self.fields.rows.keys() if t not in self.vocab]

    def learned_tracks(self) -> list[TrackId]:
        """The tracks with a learned vector, in vocabulary order."""
        return self.vocab.keys()

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
        *new* listens, new tracks join the vocabulary (starting where the cold scorer puts
        them) and a few epochs at a low learning rate follow; ``resume=False`` retrains
        from scratch. ``progress(epoch, step, loss)`` is called after each step; setting
        ``cancel`` raises ``Cancelled`` within one step and leaves the model as it was. A
        diverging run raises ``TrainingError``.
        """
        cfg = self.config
        torch.set_num_threads(cfg.threads)
        events = [[as_event(e) for e in s] for s in sessions]
        track_ids(e.track for s in events for e in s)
        resume = self.fitted if resume is None else resume
        if resume and not self.fitted:
            raise ValueError("resume=True needs a fitted or loaded model")
        if not any(not e.skipped for s in events for e in s):
            raise ValueError("no plays to learn from (every session is empty or skips only)")
        fields = self._fields_with(metadata)
        n_plays = sum(len(s) for s in events)
        if resume:
            assert self.net is not None
            self._steps_per_epoch, self._epochs_planned = plan(cfg, n_plays,
                                                               cfg.finetune_epochs)
            old = Trained(self.net, self.vocab, self.history, self.metrics)
            done = finetune(cfg, old, events, fields, progress=progress, cancel=cancel)
        else:
            self._steps_per_epoch, self._epochs_planned = plan(
                cfg, n_plays, cfg.epochs + cfg.tail_epochs)
            done = train_new(cfg, events, fields, progress=progress, cancel=cancel)
        self._swap_in(done, fields)
        return self

    def _fields_with(self, metadata: Metadata | None) -> TrackFields:
        """The model's track fields merged with ``metadata`` (a copy: nothing changes until
        a swap)."""
        fields = self.fields.copy()
        if metadata:
            track_ids(metadata.keys())
            fields.update(metadata)
        return fields

    def _swap_in(self, done: Trained, fields: TrackFields) -> None:
        """Publish a finished training run (never a half-trained one)."""
        done.net.eval()
        with self._lock:
            self.net, self.vocab, self.fields = done.net, done.vocab, fields
            self.history, self.metrics = done.history, done.metrics
            self._scoring = None

    def add_tracks(self, metadata: Metadata) -> list[TrackId]:
        """Make tracks nobody played yet (or added since the last training) scorable.

        They are scored from their fields (artist, album, genre, year, loudness) and the
        context, without training - the same path as every track the network never
        learned. Returns the ids that were not scorable before, in ``metadata``'s order;
        the swap is atomic.
        """
        self._require()
        before = set(self.fields.rows.keys())
        fields = self._fields_with(metadata)
        added = [t for t in metadata if t not in self.vocab and t not in before
                 and t in fields.rows]
        with self._lock:
            self.fields = fields
            self._scoring = None
        if added:
            log.info("%d tracks the model never learned are now scored from their metadata",
                     len(added))
        return added

    # ------------------------------------------------------------------ inference

    def _require(self) -> Net:
        if self.net is None:
            raise RuntimeError("the recommender is not fitted: call fit() or load() first")
        return self.net

    def _catalogue(self) -> Scoring:
        """Scoring over every known track (cached until the model or the metadata change)."""
        net = self._require()
        if self._scoring is None:
            extras = [t for t in self.fields.rows.keys() if t not in self.vocab]
            self._scoring = Scoring(net, self.config, self.vocab, self.fields, extras)
        return self._scoring

    def recommend(self, context: Sequence[EventLike], k: int = 10,
                  exclude: Iterable[TrackId] = ()) -> list[tuple[TrackId, float]]:
        """The ``k`` likeliest next tracks after ``context``, as (track id, probability).

        ``context``: the latest plays, oldest first (ids or ``Event``s; skips ignored; with
        times, 30-minute gaps cut sessions). Pass a long one: recency, repeats and
        transitions read all of it, the recurrent net its latest ``context_window`` plays.
        ``exclude``: ids never returned (e.g. the queue, the track now playing). Tracks in
        the context may be recommended again: repeats are part of listening; filter them in
        ``exclude`` if the player does not want them. Tracks the model knows only by their
        metadata (``add_tracks``) are candidates too.
        """
        with self._lock:
            return self._catalogue().recommend(context, k, exclude)

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
            return self._catalogue().explain(context, track_id, top, window)

    def scorer(self, candidates: Sequence[TrackId]) -> Scorer:
        """An incremental scorer over ``candidates`` (used by the evaluator); candidates
        the network never learned are scored from their metadata."""
        with self._lock:
            return GRUScorer(self._require(), self.config, self.vocab, self.fields,
                             candidates)

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
            "fields": fields_payload(self.fields),
            "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
            "metrics": _plain_metrics(self.metrics),
            "history": [[t, s] for t, s in self.history],
        }

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Recommender:
        """Read a checkpoint written by ``save`` (or by a Segue of checkpoint format 1);
        a bad file raises ``CheckpointError``."""
        payload = load_checkpoint(path)
        try:
            cfg = Config.from_dict(payload["config"])
            vocab = Vocab(track_ids(_tuples(payload["vocab"])))
            if len(vocab) != len(payload["vocab"]) + 1:
                raise ValueError("duplicate track ids in the vocabulary")
            data = dict(payload["fields"])
            data["tracks"] = track_ids(_tuples(data["tracks"]))
            fields = TrackFields.from_payload(data)
            rec = cls(cfg)
            state = payload["state_dict"]
            n_values = [0] * len(fields.values)
            for f, name in enumerate(FIELDS):
                w = state.get(f"field.{name}.weight")
                n_values[f] = int(w.shape[0]) if isinstance(w, torch.Tensor) else 0
            net = Net(cfg, len(vocab), n_values)
            net.load_state_dict(state, strict=True)
            cols = net.item_fields
            for name, emb in net.field.items():
                col = cols[:, FIELDS.index(name)]
                if len(col) and (int(col.min()) < 0 or int(col.max()) >= emb.num_embeddings):
                    raise ValueError(f"item field {name} out of range")
            history = [(_tuples([t])[0], int(s)) for t, s in payload["history"]]
        except CheckpointError:
            raise
        except Exception as exc:  # noqa: BLE001 - any inconsistency is a bad checkpoint
            raise CheckpointError(f"{path}: inconsistent checkpoint ({type(exc).__name__}: "
                                  f"{str(exc)[:200]})") from exc
        net.eval()
        rec.net, rec.vocab, rec.fields, rec.history = net, vocab, fields, history
        rec.metrics = dict(payload["metrics"])
        return rec


def _tuples(items: Iterable[Any]) -> list[Any]:
    """Lists that came back from a checkpoint stand for tuples (track keys)."""
    return [tuple(_tuples(x)) if isinstance(x, list) else x for x in items]


def _plain_metrics(metrics: dict[str, Any]) -> dict[str, Any]:
    """Metrics restricted to what ``weights_only`` loading accepts (numbers, str, lists, dicts)."""
    def plain(v: Any) -> Any:
        if isinstance(v, dict):
            return {str(k): plain(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, (int, float, str, bool)) or v is None:
            return v
        return str(v)
    return plain(metrics)
