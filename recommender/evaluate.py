"""Evaluation protocol v1 (../shared/EVALUATION.md): run models over users, report metrics.

Steps 1-4 live in ``logs`` and steps 7-8 in ``metrics``; this module wires them together:
candidates (step 5), targets with their context (step 6), timing, per-user rows and the
macro. It imports torch only when the ``gru`` model is asked for.
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
from .baselines import SKNN, Markov, Pop, Recent
from .logs import (Event, Play, TrackId, TrackKey, kept_tracks, load_log, load_playlists,
                   log_files, sessions_by_user, split_playlists, split_sessions)
from .metrics import Metrics, conservative_rank, macro

log = logging.getLogger(__name__)

PROTOCOL = "v1"
MODEL_NAMES = ("gru", "pop", "recent", "markov", "sknn")

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
    if name == "gru":
        from .api import Recommender
        from .config import Config
        return Recommender(Config(**gru_overrides))
    raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")


@dataclass
class UserData:
    """One user's sessions, split. ``train`` keeps skips (as a signal), ``test`` does not."""

    user: str
    train: list[list[Event]]
    test: list[list[TrackId]]
    candidates: list[TrackId] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.candidates:
            seen: dict[TrackId, None] = {}
            for s in self.train:
                for t in kept_tracks(s):
                    seen.setdefault(t, None)
            self.candidates = list(seen)

    @property
    def targets(self) -> int:
        """Number of prediction targets (positions >= 1 of the test sessions)."""
        return sum(max(0, len(s) - 1) for s in self.test)


def users_from_plays(plays: Iterable[Play]) -> list[UserData]:
    """Steps 2-4 for every user of a log: sessions, then the time-ordered 80/20 split."""
    out = []
    for user, sessions in sessions_by_user(plays).items():
        train, test = split_sessions(sessions)
        out.append(UserData(user, train, [kept_tracks(s) for s in test]))
    return out


def users_from_playlists(playlists: Sequence[Sequence[TrackKey]], seed: int = 0
                         ) -> list[UserData]:
    """The playlist variant: 90/10 split by playlist, all train playlists as one user."""
    train, test = split_playlists([list(p) for p in playlists if p], seed=seed)
    return [UserData("playlists", [[Event(t) for t in p] for p in train], test)]


def metadata_for(tracks: Iterable[TrackId]) -> Metadata:
    """Metadata a model may use under the protocol: the artist half of each track key."""
    return {t: {"artist": t[0]} for t in tracks
            if isinstance(t, tuple) and len(t) == 2 and isinstance(t[0], str)}


def evaluate_model(model: SequenceModel, data: UserData, *,
                   progress: Callable[[float, str], None] | None = None,
                   cancel: threading.Event | None = None,
                   metadata: Metadata | None = None) -> tuple[Metrics, dict[str, float]]:
    """Fit ``model`` on the user's train sessions and rank every test target (steps 5-8).

    Returns the metrics and ``{"train_s": .., "ms_per_pred": ..}``. The context before a
    target is the train sessions, the earlier test sessions and the current prefix.
    ``metadata`` (default: the artist half of track keys) is what the model may use.
    """
    fit_progress = None
    if progress is not None:
        def fit_progress(epoch: int, step: int, loss: float) -> None:
            frac = getattr(model, "progress_fraction", lambda e, s: 0.0)(epoch, step)
            progress(frac, f"epoch {epoch} step {step} loss {loss:.3f}")
    if metadata is None:
        metadata = metadata_for(set(data.candidates) | {e.track for s in data.train for e in s})
    t0 = time.perf_counter()
    model.fit(data.train, metadata=metadata, progress=fit_progress, cancel=cancel)
    train_s = time.perf_counter() - t0

    index = {c: i for i, c in enumerate(data.candidates)}
    scorer = model.scorer(data.candidates)
    # Skips are never context (v1, step 2): the history is the kept plays only.
    scorer.observe_sessions([kept_tracks(s) for s in data.train])
    metrics = Metrics()
    pred_s = 0.0
    for session in data.test:
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
    return metrics, {"train_s": round(train_s, 3), "ms_per_pred": round(ms, 4)}


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
    report = {"protocol": PROTOCOL, "users": rows,
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


def load_users(paths: Sequence[str | os.PathLike[str]], default_user: str = "") -> list[UserData]:
    """Load a listening log or a playlist collection from files/folders into users."""
    if is_playlist_input(paths):
        return users_from_playlists(load_playlists(paths))
    if not log_files(paths):
        raise FileNotFoundError(f"no log files in {', '.join(map(str, paths))}")
    return users_from_plays(load_log(paths, default_user=default_user))


def format_table(report: dict[str, Any]) -> str:
    """A readable fixed-width table: per-user rows, then the macro average."""
    cols = ["hr@10", "hr@20", "mrr@10", "mrr@20", "train_s", "ms_per_pred"]
    lines = []
    header = f"{'user':<16} {'model':<8} {'targets':>7} " + " ".join(f"{c:>11}" for c in cols)
    lines.append(header)
    lines.append("-" * len(header))

    def fmt(v: float, c: str) -> str:
        if c in ("train_s", "ms_per_pred"):
            return f"{v:>11.3f}"
        return f"{v:>11.4f}"

    for row in report["users"]:
        for name, m in row["models"].items():
            lines.append(f"{row['user'][:16] or '-':<16} {name:<8} {row['targets']:>7} "
                         + " ".join(fmt(m[c], c) for c in cols))
    if len(report["users"]) > 1 or not report["users"]:
        lines.append("-" * len(header))
        for name, m in report["macro"].items():
            lines.append(f"{'macro':<16} {name:<8} {'':>7} "
                         + " ".join(fmt(m[c], c) for c in cols))
    return "\n".join(lines)


