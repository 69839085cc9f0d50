"""Evaluation protocol v1 and its library variant (docs/evaluation.md): run models over
users, report metrics.

Steps 1-4 live in ``logs`` and steps 7-8 in ``metrics``; this module wires them together:
candidates (step 5: the train sessions' tracks, or in the library variant every track of
the user's log), targets with their context (step 6), timing, per-user rows and the macro.
It imports torch only when the ``gru`` model is asked for.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .base import Cancelled, Metadata, SequenceModel
from .baselines import SKNN, ArtistRecency, Markov, Pop, Recent
from .logs import (Event, Play, TrackId, TrackKey, kept_tracks, load_log, load_playlists,
                   log_files, sessions_by_user, split_playlists, split_sessions)
from .metrics import Metrics, conservative_rank, macro

log = logging.getLogger(__name__)

PROTOCOL = "v1"
MODEL_NAMES = ("gru", "pop", "recent", "markov", "sknn", "artist")
#: Step 5's candidate sets: ``train`` (v1: tracks of the train sessions) or ``log`` (the
#: library variant: every track of the user's whole log), and the variant each names.
CANDIDATES = {"train": "v1", "log": "library"}

#: progress(user, model, fraction done 0..1, message) for the CLI's bar.
EvalProgress = Callable[[str, str, float, str], None]


def make_model(name: str, **gru_overrides: Any) -> SequenceModel:
    """A fresh, unfitted model by report name. ``gru`` imports torch (lazily)."""
    if name == "pop":
        return Pop()
    if name == "recent":
        return Recent()
    if name == "markov":
        return Markov()
    if name == "sknn":
        return SKNN()
    if name == "artist":
        return ArtistRecency()
    if name == "gru":
        from .api import Recommender
        from .config import Config
        return Recommender(Config(**gru_overrides))
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")


@dataclass
class UserData:
    """One user's sessions, split. ``train`` keeps skips (as a signal), ``test`` does not.

    ``candidates`` (step 5), when not given, follow ``candidate_set``: ``"train"`` (v1) the
    train sessions' kept tracks, ``"log"`` (the library variant) every kept track of train
    and test; both in order of first play.
    """

    user: str
    train: list[list[Event]]
    test: list[list[TrackId]]
    candidates: list[TrackId] = field(default_factory=list)
    candidate_set: str = "train"

    def __post_init__(self) -> None:
        if self.candidate_set not in CANDIDATES:
            raise ValueError(f"candidates must be one of {', '.join(CANDIDATES)}, "
                             f"not {self.candidate_set!r}")
        if not self.candidates:
            seen: dict[TrackId, None] = {}
            for s in self.train:
                for t in kept_tracks(s):
                    seen.setdefault(t, None)
            if self.candidate_set == "log":
                for s in self.test:
                    for t in s:
                        seen.setdefault(t, None)
            self.candidates = list(seen)

    @property
    def targets(self) -> int:
        """Number of prediction targets (positions >= 1 of the test sessions)."""
        return sum(max(0, len(s) - 1) for s in self.test)


def users_from_plays(plays: Iterable[Play], candidates: str = "train") -> list[UserData]:
    """Steps 2-4 for every user of a log: sessions, then the time-ordered 80/20 split."""
    out = []
    for user, sessions in sessions_by_user(plays).items():
        train, test = split_sessions(sessions)
        out.append(UserData(user, train, [kept_tracks(s) for s in test],
                            candidate_set=candidates))
    return out


def users_from_playlists(playlists: Sequence[Sequence[TrackKey]], seed: int = 0,
                         candidates: str = "train") -> list[UserData]:
    """The playlist variant: 90/10 split by playlist, all train playlists as one user."""
    train, test = split_playlists([list(p) for p in playlists if p], seed=seed)
    return [UserData("playlists", [[Event(t) for t in p] for p in train], test,
                     candidate_set=candidates)]


def metadata_for(tracks: Iterable[TrackId]) -> Metadata:
    """Metadata a model may use under the protocol: the artist half of each track key.

    In the order of ``tracks`` (deduplicated): models may index tracks in this order, and
    a set's order would change from one process to the next.
    """
    out: dict[TrackId, dict[str, str]] = {}
    for t in tracks:
        if isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str) and t not in out:
            out[t] = {"artist": t[0]}
    return out


def evaluate_model(model: SequenceModel, data: UserData, *,
                   progress: Callable[[float, str], None] | None = None,
                   cancel: threading.Event | None = None,
                   metadata: Metadata | None = None,
                   max_targets: int | None = None) -> tuple[Metrics, dict[str, float]]:
    """Fit ``model`` on the user's train sessions and rank every test target (steps 5-8).

    Returns the metrics and ``{"train_s": .., "ms_per_pred": ..}`` (plus, for a model that
    trains in epochs, ``epochs``, ``best_epoch`` and ``time_limited``). The context before a
    target is the train sessions, the earlier test sessions and the current prefix.
    ``metadata`` (default: the artist half of track keys) is what the model may use.

    ``max_targets`` (not part of the protocol; the player's own held-out card on a huge
    history) ranks only the targets of the latest test sessions holding about that many:
    the earlier test sessions are context only, read in bulk like the train sessions.
    Ranking costs targets x candidates, which on a history of a million plays and as many
    tracks is hours, while a few thousand targets measure the model as well.
    """
    fit_progress = None
    if progress is not None:
        def fit_progress(epoch: int, step: int, loss: float) -> None:
            frac = getattr(model, "progress_fraction", lambda e, s: 0.0)(epoch, step)
            progress(frac, f"epoch {epoch} step {step} loss {loss:.3f}")
    if metadata is None:
        metadata = metadata_for([*data.candidates, *(e.track for s in data.train for e in s)])
    t0 = time.perf_counter()
    model.fit(data.train, metadata=metadata, progress=fit_progress, cancel=cancel)
    train_s = time.perf_counter() - t0

    index = {c: i for i, c in enumerate(data.candidates)}
    scorer = model.scorer(data.candidates)
    test = data.test
    context = [kept_tracks(s) for s in data.train]
    if max_targets is not None:
        first, count = len(test), 0
        while first > 0 and count < max_targets:
            first -= 1
            count += max(0, len(test[first]) - 1)
        context += [list(s) for s in test[:first]]
        test = test[first:]
    # Skips are never context (v1, step 2): the history is the kept plays only.
    scorer.observe_sessions(context)
    metrics = Metrics()
    pred_s = 0.0
    for session in test:
        if cancel is not None and cancel.is_set():  # ranking thousands of targets takes seconds
            raise Cancelled("cancelled while ranking the test targets")
        scorer.start_session()
        for t, track in enumerate(session):
            t1 = time.perf_counter()
            if t >= 1:
                scores, tiebreak = scorer.scores()
                metrics.add(conservative_rank(scores, index.get(track), tiebreak))
            scorer.observe(track)
            pred_s += time.perf_counter() - t1
    ms = 1000.0 * pred_s / max(1, metrics.targets)
    timing: dict[str, Any] = {"train_s": round(train_s, 3), "ms_per_pred": round(ms, 4)}
    report = getattr(model, "metrics", None)
    if isinstance(report, dict) and "epochs" in report:
        # Work done, not time spent, decides when training stops: say how much was done.
        timing.update(epochs=report["epochs"], best_epoch=report.get("best_epoch"),
                      time_limited=bool(report.get("time_limited", False)))
    return metrics, timing


def evaluate_users(users: Sequence[UserData], models: Sequence[str] = MODEL_NAMES, *,
                   progress: EvalProgress | None = None,
                   cancel: threading.Event | None = None,
                   gru_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Evaluate each model on each user; the report dict of the CLI's ``--json``.

    Users without any test target are left out (with a log line): their HR is undefined.
    """
    rows = []
    for data in users:
        if data.targets == 0:
            log.warning("user %r has no test targets (%d sessions); left out",
                        data.user, len(data.train) + len(data.test))
            continue
        cand = set(data.candidates)
        unseen = sum(1 for s in data.test for t in s[1:] if t not in cand)
        row: dict[str, Any] = {"user": data.user, "targets": data.targets,
                               "candidates": len(data.candidates), "unseen_targets": unseen,
                               "models": {}}
        for name in models:
            model = make_model(name, **(gru_overrides or {}) if name == "gru" else {})
            cb = None
            if progress is not None:
                def cb(frac: float, msg: str, _u: str = data.user, _m: str = name) -> None:
                    progress(_u, _m, frac, msg)
                cb(0.0, "training")
            metrics, timing = evaluate_model(model, data, progress=cb, cancel=cancel)
            row["models"][name] = {**{k: round(v, 6) for k, v in metrics.as_dict().items()},
                                   **timing}
            if cb is not None:
                cb(1.0, "done")
            log.info("%s %s %s", data.user, name, row["models"][name])
        rows.append(row)
    sets = sorted({u.candidate_set for u in users}) or ["train"]
    report = {"protocol": PROTOCOL, "candidates": ",".join(sets),
              "variant": ",".join(CANDIDATES[c] for c in sets), "users": rows,
              "macro": {name: {k: round(v, 6) for k, v in
                               macro(r["models"][name] for r in rows).items()}
                        for name in models if rows}}
    return report


def is_playlist_input(paths: Sequence[str | os.PathLike[str]]) -> bool:
    """True when the paths hold playlists (M3U/M3U8, or TSV ``playlist position ...``)."""
    files = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            files.extend(f for f in p.iterdir() if f.is_file())
        elif p.is_file():
            files.append(p)
    if not files:
        return False
    for f in files:
        suffix = f.suffix.lower()
        if suffix in (".m3u", ".m3u8"):
            continue
        if suffix == ".tsv":
            with f.open(encoding="utf-8-sig", errors="replace") as fh:
                if fh.readline().strip().lower().split("\t")[:1] == ["playlist"]:
                    continue
        return False
    return True


def load_users(paths: Sequence[str | os.PathLike[str]], default_user: str = "",
               candidates: str = "train") -> list[UserData]:
    """Load a listening log or a playlist collection from files/folders into users, with
    the candidate set ``candidates`` (``train``: v1; ``log``: the library variant)."""
    if candidates not in CANDIDATES:
        raise ValueError(f"candidates must be one of {', '.join(CANDIDATES)}")
    if is_playlist_input(paths):
        return users_from_playlists(load_playlists(paths), candidates=candidates)
    if not log_files(paths):
        raise FileNotFoundError(f"no log files in {', '.join(map(str, paths))}")
    return users_from_plays(load_log(paths, default_user=default_user), candidates)


def format_table(report: dict[str, Any]) -> str:
    """A readable fixed-width table: per-user rows, then the macro average."""
    cols = ["hr@10", "hr@20", "mrr@10", "mrr@20", "train_s", "ms_per_pred", "epochs"]
    lines = []
    header = f"{'user':<16} {'model':<8} {'targets':>7} " + " ".join(f"{c:>11}" for c in cols)
    lines.append(header)
    lines.append("-" * len(header))

    def fmt(v: float | None, c: str) -> str:
        if v is None:
            return f"{'':>11}"
        if c == "epochs":  # a time budget that cut training short is flagged
            return f"{v:>11.0f}"
        if c in ("train_s", "ms_per_pred"):
            return f"{v:>11.3f}"
        return f"{v:>11.4f}"

    for row in report["users"]:
        for name, m in row["models"].items():
            lines.append(f"{row['user'][:16] or '-':<16} {name:<8} {row['targets']:>7} "
                         + " ".join(fmt(m.get(c), c) for c in cols)
                         + (" (time budget hit)" if m.get("time_limited") else ""))
    if len(report["users"]) > 1 or not report["users"]:
        lines.append("-" * len(header))
        for name, m in report["macro"].items():
            lines.append(f"{'macro':<16} {name:<8} {'':>7} "
                         + " ".join(fmt(m.get(c), c) for c in cols))
    return "\n".join(lines)


