"""The interface every next-track model shares (the GRU and the baselines). No torch.

A model is fitted on one listener's sessions (oldest first) and then asked, for a context
(the listener's recent plays, oldest first, the current session last), to score tracks.

Two ways to ask:

* ``recommend(context, k, exclude)`` -> ``[(track_id, score), ...]``: what the player calls.
* ``scorer(candidates)`` -> a ``Scorer`` that is fed plays one at a time and scores a fixed
  candidate list after each: what the evaluator calls, because it is far cheaper than
  re-reading the whole context before each of thousands of targets. Both give the same
  scores for the same context (a test checks this).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from .logs import SESSION_GAP_S, Event, EventLike, TrackId, as_event, is_new_session

#: progress(epoch, step, loss) - called from the training thread.
ProgressFn = Callable[[int, int, float], None]
#: Optional per-track metadata: {track_id: {"artist": ..., "album": ..., "genre": ...}}.
Metadata = Mapping[Hashable, Mapping[str, Any]]
Sessions = Sequence[Sequence[EventLike]]


class Cancelled(Exception):
    """Work was cancelled through its ``threading.Event``; the model is unchanged."""


class Scorer(ABC):
    """Scores a fixed list of candidates after each observed play."""

    @abstractmethod
    def start_session(self) -> None:
        """The next observed play starts a new session."""

    @abstractmethod
    def observe(self, track: TrackId, skipped: bool = False) -> None:
        """Advance the context by one play (a track outside the candidates still counts)."""

    @abstractmethod
    def scores(self) -> tuple[np.ndarray, np.ndarray | None]:
        """(score per candidate, optional tie-break per candidate); higher is better.

        The arrays may be the scorer's own buffers: read them before the next ``observe``.
        """

    def observe_sessions(self, sessions: Iterable[Sequence[EventLike]]) -> None:
        """Feed whole earlier sessions (e.g. the training history) as context."""
        for session in sessions:
            self.start_session()
            for item in session:
                ev = as_event(item)
                self.observe(ev.track, ev.skipped)


def split_context(context: Sequence[EventLike], gap_s: float = SESSION_GAP_S
                  ) -> list[list[Event]]:
    """Cut a flat context into sessions where two kept plays are more than ``gap_s`` apart.

    Without times the whole context is one session. Skips never cut a session.
    """
    sessions: list[list[Event]] = [[]]
    last: float | None = None
    for item in context:
        ev = as_event(item)
        if not ev.skipped and ev.time is not None:
            if last is not None and is_new_session(last, ev.time, gap_s) and sessions[-1]:
                sessions.append([])
            last = ev.time
        sessions[-1].append(ev)
    return [s for s in sessions if s]


def top_k(ids: Sequence[TrackId], scores: np.ndarray, tiebreak: np.ndarray | None, k: int,
          exclude: Iterable[TrackId] = ()) -> list[tuple[TrackId, float]]:
    """The ``k`` best ids by (score, tie-break), excluding some; ties keep the ids' order."""
    excluded = set(exclude)
    keys = [np.arange(len(ids))[::-1]]  # lexsort: last key is primary; earlier ids first
    if tiebreak is not None:
        keys.append(tiebreak)
    keys.append(scores)
    order = np.lexsort(keys)[::-1]
    out: list[tuple[TrackId, float]] = []
    for i in order:
        if ids[i] in excluded:
            continue
        out.append((ids[i], float(scores[i])))
        if len(out) >= k:
            break
    return out


class SequenceModel(ABC):
    """A next-track model: fit on sessions, then recommend for a context."""

    #: Short name used in reports ("gru", "pop", ...).
    name: str = "model"

    @abstractmethod
    def fit(self, sessions: Sessions, *, metadata: Metadata | None = None,
            progress: ProgressFn | None = None,
            cancel: threading.Event | None = None) -> SequenceModel:
        """Learn from one listener's sessions (oldest first); returns ``self``."""

    @abstractmethod
    def known_tracks(self) -> list[TrackId]:
        """Every track id the model can recommend."""

    @abstractmethod
    def scorer(self, candidates: Sequence[TrackId]) -> Scorer:
        """A fresh scorer over ``candidates`` with an empty context."""

    def recommend(self, context: Sequence[EventLike], k: int = 10,
                  exclude: Iterable[TrackId] = ()) -> list[tuple[TrackId, float]]:
        """The ``k`` best next tracks after ``context`` (oldest first), best first.

        ``context`` holds track ids or ``Event``s; with times, sessions are cut at gaps over
        30 minutes, else it is one session. ``exclude`` ids are never returned.
        """
        ids = self.known_tracks()
        sc = self.scorer(ids)
        sc.observe_sessions(split_context(context))
        scores, tiebreak = sc.scores()
        return top_k(ids, scores, tiebreak, k, exclude)
