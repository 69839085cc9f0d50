"""The baselines of the evaluation protocol: pop, recent, markov, sknn and the metadata
baseline ``artist`` (numpy + stdlib only).

Each follows the protocol (docs/evaluation.md) to the letter; they learn from kept plays
only (skips are ignored) and share the ``SequenceModel`` interface with the GRU. A
candidate they never saw played scores 0 with tie-break 0 (the library variant).
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np

from .base import Metadata, ProgressFn, Scorer, SequenceModel, Sessions
from .logs import TrackId, kept_tracks, normalise
from .signals import SessionIndex


class _Counts(SequenceModel):
    """Shared part: the kept sequences and play counts of the training sessions."""

    def __init__(self) -> None:
        self.sequences: list[list[TrackId]] = []
        self.counts: Counter[TrackId] = Counter()

    def fit(self, sessions: Sessions, *, metadata: Metadata | None = None,
            progress: ProgressFn | None = None,
            cancel: threading.Event | None = None) -> _Counts:
        self.sequences = [kept_tracks(s) for s in sessions]
        self.sequences = [s for s in self.sequences if s]
        self.counts = Counter(t for s in self.sequences for t in s)
        self._fit_more()
        return self

    def _fit_more(self) -> None:
        """Hook for model-specific statistics."""

    def known_tracks(self) -> list[TrackId]:
        return list(self.counts)

    def pop_array(self, candidates: Sequence[TrackId]) -> np.ndarray:
        """Training play count per candidate (the ``pop`` score, and everyone's tie-break)."""
        return np.array([self.counts.get(c, 0) for c in candidates], dtype=np.float64)


class _IndexedScorer(Scorer):
    """A scorer that maps tracks to candidate indices (-1 for non-candidates)."""

    def __init__(self, candidates: Sequence[TrackId]) -> None:
        self.index_of = {c: i for i, c in enumerate(candidates)}
        self.n = len(candidates)
        self.session: list[int] = []

    def start_session(self) -> None:
        self.session = []

    def observe(self, track: TrackId, skipped: bool = False) -> None:
        if skipped:  # v1: skips are never context
            return
        idx = self.index_of.get(track, -1)
        self.session.append(idx)
        self._observed(idx)

    def _observed(self, idx: int) -> None:
        """Hook: a kept play of candidate ``idx`` (or -1) was appended to the session."""


# --------------------------------------------------------------------------- pop


class Pop(_Counts):
    """score = the track's play count in the training sessions; no tie-break."""

    name = "pop"

    def scorer(self, candidates: Sequence[TrackId]) -> Scorer:
        return _PopScorer(candidates, self.pop_array(candidates))


class _PopScorer(_IndexedScorer):
    def __init__(self, candidates: Sequence[TrackId], pop: np.ndarray) -> None:
        super().__init__(candidates)
        self.pop = pop

    def scores(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.pop, None


# --------------------------------------------------------------------------- recent


class Recent(_Counts):
    """score = position of the track's latest play on one clock over the whole context."""

    name = "recent"

    def scorer(self, candidates: Sequence[TrackId]) -> Scorer:
        return _RecentScorer(candidates, self.pop_array(candidates))


class _RecentScorer(_IndexedScorer):
    def __init__(self, candidates: Sequence[TrackId], pop: np.ndarray) -> None:
        super().__init__(candidates)
        self.pop = pop
        self.clock = 0
        self.last = np.zeros(self.n, dtype=np.float64)  # never played = 0

    def _observed(self, idx: int) -> None:
        self.clock += 1  # every play advances the clock, candidate or not
        if idx >= 0:
            self.last[idx] = self.clock

    def scores(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.last, self.pop


# --------------------------------------------------------------------------- artist


def artist_of(track: TrackId, metadata: Metadata | None) -> str | None:
    """The artist of a track, normalised: the metadata's ``artist``, else the artist half
    of a protocol track key ``(artist, title)``; ``None`` when nothing says."""
    m = metadata.get(track) if metadata else None
    if m and m.get("artist"):
        return normalise(str(m["artist"]))
    if isinstance(track, tuple) and len(track) == 2 and isinstance(track[0], str) \
            and track[0]:
        return normalise(track[0])
    return None


class ArtistRecency(_Counts):
    """score = position, on the ``recent`` clock, of the latest play of any track by the
    candidate's artist (never = 0); tie-break = the candidate's own ``recent`` score.

    The metadata baseline of the library variant: an unplayed track of the artist just
    heard ranks right after that artist's played tracks.
    """

    name = "artist"

    def __init__(self) -> None:
        super().__init__()
        self.metadata: Metadata = {}

    def fit(self, sessions: Sessions, *, metadata: Metadata | None = None,
            progress: ProgressFn | None = None,
            cancel: threading.Event | None = None) -> ArtistRecency:
        super().fit(sessions)
        self.metadata = metadata or {}
        return self

    def scorer(self, candidates: Sequence[TrackId]) -> Scorer:
        return _ArtistScorer(candidates, [artist_of(c, self.metadata) for c in candidates])


class _ArtistScorer(_RecentScorer):
    def __init__(self, candidates: Sequence[TrackId], artists: Sequence[str | None]) -> None:
        super().__init__(candidates, np.zeros(len(candidates)))
        names: dict[str, int] = {}
        # Slot 0 stands for "no artist known": it is never played, so it scores 0.
        self.cand_artist = np.array([names.setdefault(a, len(names) + 1) if a else 0
                                     for a in artists], dtype=np.int64)
        self.artist_last = np.zeros(len(names) + 1, dtype=np.float64)

    def _observed(self, idx: int) -> None:
        super()._observed(idx)
        if idx >= 0:  # a context track that is not a candidate adds nothing but time
            a = self.cand_artist[idx]
            if a:
                self.artist_last[a] = self.clock

    def scores(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.artist_last[self.cand_artist], self.last


# --------------------------------------------------------------------------- markov


class Markov(_Counts):
    """score = count(last play of the current session -> candidate) in training sessions."""

    name = "markov"

    def _fit_more(self) -> None:
        self.transitions: dict[TrackId, Counter[TrackId]] = defaultdict(Counter)
        for seq in self.sequences:
            for a, b in zip(seq, seq[1:]):
                self.transitions[a][b] += 1

    def scorer(self, candidates: Sequence[TrackId]) -> Scorer:
        return _MarkovScorer(candidates, self.pop_array(candidates), self.transitions)


class _MarkovScorer(_IndexedScorer):
    def __init__(self, candidates: Sequence[TrackId], pop: np.ndarray,
                 transitions: dict[TrackId, Counter[TrackId]]) -> None:
        super().__init__(candidates)
        self.pop = pop
        self.candidates = list(candidates)
        # Rows as index arrays, built once: a prediction is then one scatter.
        self.rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for a, succ in transitions.items():
            ia = self.index_of.get(a)
            if ia is None:
                continue
            pairs = [(self.index_of[b], n) for b, n in succ.items() if b in self.index_of]
            if pairs:
                idx, cnt = zip(*pairs)
                self.rows[ia] = (np.array(idx), np.array(cnt, dtype=np.float64))
        self.buf = np.zeros(self.n, dtype=np.float64)
        self.dirty: np.ndarray | None = None

    def scores(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self.dirty is not None:
            self.buf[self.dirty] = 0.0
            self.dirty = None
        last = self.session[-1] if self.session else -1
        row = self.rows.get(last)
        if row is not None:
            self.buf[row[0]] = row[1]
            self.dirty = row[0]
        return self.buf, self.pop


# --------------------------------------------------------------------------- sknn


class SKNN(_Counts):
    """V-SKNN: cosine between the position-weighted current session and past sessions."""

    name = "sknn"

    def __init__(self, k: int = 100) -> None:
        super().__init__()
        self.k = k

    def scorer(self, candidates: Sequence[TrackId]) -> Scorer:
        return _SKNNScorer(candidates, self.pop_array(candidates), self.sequences, self.k)


class _SKNNScorer(_IndexedScorer):
    def __init__(self, candidates: Sequence[TrackId], pop: np.ndarray,
                 sequences: list[list[TrackId]], k: int) -> None:
        super().__init__(candidates)
        self.pop = pop
        # Training sessions as sets of candidate indices (all their tracks are candidates
        # under the protocol; others are dropped so that the scores stay over candidates).
        self.index = SessionIndex(k)
        for seq in sequences:
            self.index.add(self.index_of.get(t, -1) for t in seq)

    def scores(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.index.scores(self.session, self.n), self.pop
