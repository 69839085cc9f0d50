"""The bridge between the player and the recommender: history in, a model and picks out.

* :func:`training_data` turns the ``listens`` table (the player's own plays, with skips, and
  imported history) and imported playlists into the recommender's sessions. Unmatched
  imported plays keep a text id (``"~artist|title"``): they teach the model what follows what,
  but are never a library track, so never queued.
* :func:`train` is the "Retrain now" pipeline: protocol v1 on the user's own held-out tail
  (the model next to ``recent`` and ``markov``), then the same model fine-tuned on that tail
  so that it knows the latest listens, then an atomic checkpoint.
* :func:`finetune` continues the saved model on the listens since it was trained, growing its
  vocabulary for new tracks.
* :class:`ModelHolder` keeps the current model for the auto-queue; a new one is swapped in
  atomically, and a missing or corrupt checkpoint simply means "no model".
* :class:`ModelPicker` is the auto-queue's first picker, with honest reasons (the session's
  tracks that most raised the pick's score).

torch is imported only here and only when a model is trained or loaded, never at start-up.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from player.autoqueue import Context
from player.library.db import Library
from recommender.logs import Event, is_new_session, normalise, split_sessions

log = logging.getLogger(__name__)

MODEL_FILE = "model.pt"
#: How much of the recent listening the model reads before a pick.
CONTEXT_PLAYS = 200
#: Below this many kept plays there is nothing to learn yet.
MIN_PLAYS = 10
#: The held-out card ranks the targets of the latest held-out sessions, about this many
#: (the earlier ones are context): ranking costs targets x candidates, hours on a history
#: of a million plays, while a few thousand targets tell the models apart as well.
CARD_TARGETS = 3000
#: A training reads at most the latest this-many listens (15 years of a heavy listener's
#: plays). Time and memory grow with the plays learned, while tastes drift: what comes
#: next is told by the listening of the last years, not by what was played 30 years ago.
#: Tracks heard only before stay scorable from their metadata, as unplayed ones are.
MAX_LISTENS = 250_000



@dataclass(frozen=True)
class TrainingProgress:
    """How far a training run is, as its progress callback receives it.

    ``phase``: ``data`` (reading the history), ``train``, ``learn`` (the held-out tail, after
    the measure), ``save``. ``fraction``: the share of the run done, 0..1, from the work done
    (steps and epochs), never from the clock. ``detail``: what the phase is at ("epoch 2 step
    40 loss 3.1"), or empty. ``loss``: the last training step's, for the plot, else None.
    """

    phase: str
    fraction: float
    detail: str = ""
    loss: float | None = None


TrainProgress = Callable[[TrainingProgress], None]


@dataclass
class TrainingData:
    """Sessions for the recommender, oldest first, and what the library says of each track."""

    sessions: list[list[Event]]
    metadata: Mapping[Any, dict[str, Any]]
    plays: int  # listens used (skips included)
    last_listen_id: int  # the newest listen used: a fine-tune starts after it
    playlists: int = 0

    @property
    def kept_plays(self) -> int:
        return sum(1 for s in self.sessions for e in s if not e.skipped)


class LibraryMetadata(Mapping):
    """What the library knows of its tracks, as the recommender's metadata (artist, album,
    genre, year, loudness), read from the database as it is iterated: a library of a
    million tracks is never held as a million dicts."""

    def __init__(self, library: Library) -> None:
        self.library = library

    def items(self) -> Iterator[tuple[int, dict[str, Any]]]:  # type: ignore[override]
        for tid, artist, albumartist, album, genre, year, lufs in \
                self.library.iter_track_features():
            yield tid, {"artist": artist or albumartist, "album": album, "genre": genre,
                        "year": year, "loudness": lufs}

    def __iter__(self) -> Iterator[int]:
        return (tid for tid, _ in self.items())

    def __len__(self) -> int:
        return sum(1 for _ in self.library.iter_track_features())

    def __getitem__(self, track: Any) -> dict[str, Any]:
        row = self.library.track(track) if isinstance(track, int) else None
        if row is None:
            raise KeyError(track)
        return {"artist": row.artist or row.albumartist, "album": row.album,
                "genre": row.genre, "year": row.year}


def _text_id(artist: str | None, title: str | None) -> str:
    return f"~{normalise(artist or '')}|{normalise(title or '')}"


def training_data(library: Library, after_listen_id: int = 0,
                  include_playlists: bool = True,
                  max_listens: int | None = MAX_LISTENS) -> TrainingData:
    """The closed listens (after ``after_listen_id``; the latest ``max_listens`` of them)
    as sessions at 30-minute gaps; with imported playlists first (as the oldest, timeless
    sessions) for a full training."""
    sessions: list[list[Event]] = []
    playlists = 0
    if include_playlists and after_listen_id == 0:
        for pl in library.playlists():
            items = [Event(t) for t in pl.track_ids if t is not None]
            if len(items) >= 2:
                sessions.append(items)
                playlists += 1
    current: list[Event] = []
    session: Any = None
    last_end: float | None = None
    plays = 0
    last_id = after_listen_id
    if max_listens is None:
        rows = library.listens()
    else:  # the newest first from the index, then in time order
        rows = library.listens(limit=max_listens, newest_first=True)
        rows.reverse()
    for row in rows:
        if row.id <= after_listen_id or row.ended_at is None:
            continue
        track = row.track_id if row.track_id is not None else _text_id(row.artist, row.title)
        # The stored session is the truth (the listening log and the importer cut them by
        # recommender.logs' rule); a row without one falls back to that rule.
        sid = row.session_id
        new = sid != session if sid is not None and session is not None \
            else is_new_session(last_end, row.started_at)
        if new and current:
            sessions.append(current)
            current = []
        current.append(Event(track, time=row.started_at, skipped=bool(row.skipped)))
        session, last_end = sid, row.ended_at
        plays += 1
        last_id = max(last_id, row.id)
    if current:
        sessions.append(current)
    metadata = LibraryMetadata(library)
    return TrainingData(sessions, metadata, plays, last_id, playlists)


@dataclass
class TrainResult:
    """What a training run produced (also what ``segue train --json`` prints)."""

    mode: str  # "full" or "finetune"
    plays: int
    seconds: float
    heldout: dict[str, dict[str, float]] = field(default_factory=dict)  # model -> metrics
    targets: int = 0
    path: str = ""
    #: Passes over the training plays the measured training made (it stops by work done,
    #: validating in rounds: a long history may stop within its first pass, e.g. 0.8).
    epochs: float = 0.0
    time_limited: bool = False  # True when the safety-net time budget cut it short

    def as_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "plays": self.plays, "seconds": round(self.seconds, 2),
                "targets": self.targets, "heldout": self.heldout, "model": self.path,
                "epochs": self.epochs, "time_limited": self.time_limited}


class NotEnoughHistory(ValueError):
    """Too few listens to train on yet."""


def model_path(data_dir: Path) -> Path:
    return data_dir / MODEL_FILE


def train(library: Library, data_dir: Path, progress: TrainProgress | None = None,
          cancel: threading.Event | None = None, config: Any = None) -> tuple[Any, TrainResult]:
    """Retrain from scratch: evaluate on the held-out tail, learn the tail, save. Returns the
    model and the result. Raises ``recommender.base.Cancelled`` when cancelled (nothing is
    saved then) and :class:`NotEnoughHistory` when there is too little to learn from."""
    from recommender.api import Recommender
    from recommender.evaluate import UserData, evaluate_model, make_model

    started = time.monotonic()
    data = training_data(library)
    _stop_if_cancelled(cancel)
    if data.kept_plays < MIN_PLAYS:
        raise NotEnoughHistory(f"only {data.kept_plays} listens so far; Segue needs at least "
                               f"{MIN_PLAYS} to learn from")
    report = progress or (lambda *a: None)
    rec = Recommender(config)
    result = TrainResult("full", data.plays, 0.0)
    listen_sessions = data.sessions[data.playlists:]
    if len(listen_sessions) >= 2:
        train_part, test_part = split_sessions(listen_sessions)
        train_part = data.sessions[: data.playlists] + train_part
        user = UserData("you", train_part, [[e.track for e in s if not e.skipped]
                                            for s in test_part])
        result.targets = user.targets

        def fit_progress(frac: float, message: str) -> None:
            loss = _loss_of(message)  # 0-0.1: reading the data
            report(TrainingProgress("train", 0.1 + 0.75 * frac, message, loss))

        metrics, _ = evaluate_model(rec, user, progress=fit_progress, cancel=cancel,
                                    metadata=data.metadata, max_targets=CARD_TARGETS)
        result.heldout["gru"] = _card(metrics.as_dict())
        result.targets = metrics.targets
        for name in ("recent", "markov"):
            base_metrics, _ = evaluate_model(make_model(name), user, metadata=data.metadata,
                                             cancel=cancel, max_targets=CARD_TARGETS)
            result.heldout[name] = _card(base_metrics.as_dict())
        report(TrainingProgress("learn", 0.87))
        # The card is measured; now the model learns the held-out tail too, so that it knows
        # what you played last. (It knows the library's metadata already: read once.)
        rec.fit(test_part, cancel=cancel,
                progress=lambda e, s, loss: report(TrainingProgress(
                    "learn", 0.87 + 0.1 * rec.progress_fraction(e, s), f"epoch {e} step {s}",
                    loss)))
    else:
        rec.fit(data.sessions, metadata=data.metadata, cancel=cancel,
                progress=lambda e, s, loss: report(TrainingProgress(
                    "train", rec.progress_fraction(e, s), f"epoch {e} step {s}", loss)))
    _stop_if_cancelled(cancel)
    result.epochs = round(float(rec.metrics.get("epochs", 0)), 3)
    result.time_limited = bool(rec.metrics.get("time_limited", False))
    # Every library track, played or not, is scorable already: the first fit read the
    # library's metadata (a second pass over a million tracks would change nothing).
    rec.metrics.update({"segue_last_listen_id": data.last_listen_id,
                        "segue_trained_at": time.time(), "segue_plays": data.plays,
                        "segue_heldout": result.heldout, "segue_targets": result.targets})
    path = model_path(data_dir)
    report(TrainingProgress("save", 0.98))
    rec.save(path)
    result.seconds = time.monotonic() - started
    result.path = str(path)
    return rec, result


def _stop_if_cancelled(cancel: threading.Event | None) -> None:
    """Raise the recommender's ``Cancelled`` (what its own steps raise) if cancel is set."""
    if cancel is not None and cancel.is_set():
        from recommender.base import Cancelled

        raise Cancelled("cancelled")


def finetune(library: Library, data_dir: Path, rec: Any,
             cancel: threading.Event | None = None) -> tuple[Any, TrainResult] | None:
    """Continue ``rec`` (a loaded model, not modified: a copy learns) on the listens since it
    was trained, and add the library's new tracks of known artists; save and return the new
    one, or None when there is nothing new."""
    import copy

    started = time.monotonic()
    after = int(rec.metrics.get("segue_last_listen_id", 0))
    data = training_data(library, after_listen_id=after)
    new = copy.deepcopy(rec)
    if data.kept_plays:
        new.fit(data.sessions, metadata=data.metadata, cancel=cancel)
    # New library tracks by artists it knows join even before anyone plays them.
    added = new.add_tracks(data.metadata)
    if not data.kept_plays and not added:
        return None
    new.metrics["segue_last_listen_id"] = data.last_listen_id
    new.metrics["segue_plays"] = int(rec.metrics.get("segue_plays", 0)) + data.plays
    new.metrics["segue_finetuned_at"] = time.time()
    path = model_path(data_dir)
    new.save(path)
    result = TrainResult("finetune", data.plays, time.monotonic() - started,
                         dict(rec.metrics.get("segue_heldout", {})),
                         int(rec.metrics.get("segue_targets", 0)), str(path))
    return new, result


def _card(metrics: dict[str, float]) -> dict[str, float]:
    return {k: round(float(v), 4) for k, v in metrics.items()}


def _loss_of(message: str) -> float | None:
    if "loss " in message:
        try:
            return float(message.rsplit("loss ", 1)[1])
        except ValueError:
            return None
    return None


class ModelHolder:
    """The model the auto-queue uses; swapped atomically, loaded lazily, never fatal."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._model: Any = None
        self._lock = threading.Lock()
        self.load_error: str | None = None

    @property
    def path(self) -> Path:
        return model_path(self.data_dir)

    def get(self) -> Any:
        with self._lock:
            return self._model

    def set(self, model: Any) -> None:
        with self._lock:
            self._model = model

    def load(self) -> Any:
        """Load the checkpoint (imports torch); a missing or bad file gives None."""
        self._remove_stale_temp_files()
        if not self.path.exists():
            self.set(None)
            return None
        from recommender.api import Recommender
        from recommender.checkpoint import CheckpointError

        try:
            model = Recommender.load(self.path)
        except CheckpointError as exc:
            self.load_error = str(exc)
            log.warning("the model checkpoint cannot be used (%s); using the fallbacks", exc)
            self.set(None)
            return None
        self.load_error = None
        self.set(model)
        return model

    def _remove_stale_temp_files(self) -> None:
        """A process killed while saving leaves its temporary file: the checkpoint itself is
        whole (the rename never happened), the litter goes as soon as nobody writes it."""
        if not any(self.data_dir.glob(f".{MODEL_FILE}.*.tmp")):
            return  # the usual case: no need to import torch for nothing
        from recommender.checkpoint import remove_stale_temp_files

        remove_stale_temp_files(self.path)

    def reset(self) -> None:
        """Forget the model: delete the checkpoint (the fallbacks take over)."""
        self.set(None)
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass

    def status(self) -> dict[str, Any]:
        """Age and size of the current model, for the status bar."""
        model = self.get()
        if model is None:
            return {"model": False, "error": self.load_error}
        m = model.metrics
        when = m.get("segue_finetuned_at") or m.get("segue_trained_at")
        return {"model": True, "trained_at": when, "plays": int(m.get("segue_plays", 0)),
                "last_listen_id": int(m.get("segue_last_listen_id", 0)),
                "heldout": m.get("segue_heldout", {})}


class ModelPicker:
    """The auto-queue's first picker: the user's own model."""

    name = "model"

    def __init__(self, holder: ModelHolder, k: int = 300) -> None:
        self.holder = holder
        self.k = k

    @staticmethod
    def _context(ctx: Context) -> list[Event]:
        """The latest listens as the model's context (the auto-queue's context ends with
        the track the pick follows, logged or not)."""
        rows = ctx.history[-CONTEXT_PLAYS:]
        return [Event(r.track_id if r.track_id is not None else _text_id(r.artist, r.title),
                      time=r.started_at, skipped=bool(r.skipped))
                for r in rows if r.ended_at is not None or r is rows[-1]]

    def candidates(self, ctx: Context) -> Iterable[tuple[int, float, str]]:
        model = self.holder.get()
        if model is None:
            return []
        exclude = set(ctx.exclude)
        if ctx.current is not None:
            exclude.add(ctx.current)
        ranked = model.recommend(self._context(ctx), k=self.k, exclude=exclude)
        return [(t, score, "") for t, score in ranked
                if isinstance(t, int) and t in ctx.tracks]

    def reason_for(self, ctx: Context, track_id: int) -> str:
        """Why the model picked it: the recent tracks that most raised its score."""
        model = self.holder.get()
        if model is None:
            return ""
        try:
            drivers = model.explain(self._context(ctx), track_id, top=2)
        except Exception:  # an explanation must never cost the pick
            log.debug("explain failed", exc_info=True)
            drivers = []
        # Only tracks with a title to show (never a bare id: a track left out of the
        # candidates, such as one that failed to play, is not in ctx.tracks).
        names = [name for t, _ in drivers if isinstance(t, int)
                 and (known := ctx.tracks.get(t)) is not None and (name := known.title)]
        if names:
            return "because you played " + " and ".join(f"“{n}”" for n in names)
        return "one of your favourites lately"
