"""Explicit signals of a listening context: what the simple methods know. numpy only.

The blend (``blend.py``) weighs these next to the network's own scores, with weights fitted
on the listener's held-out tail, so that the model is never far behind the simple method
that suits this listener best:

* ``recency``: 1 / log2(2 + d), d = plays since the track's latest play (0 = never played):
  a large weight reproduces the ``recent`` baseline's order;
* ``artist_recency``: the same for the track's artist (the ``artist`` baseline);
* ``transitions``: log(1 + how often the track followed the current one, inside a session)
  (``markov``, counted over the whole context);
* ``popularity``: log(1 + plays in the context) (``pop``);
* ``neighbours``: log(1 + the V-SKNN score): the earlier sessions most like the current one
  (cosine, recent plays weighted more) vote for their tracks (``sknn``).

Everything is computed from the context alone (no stored counts), so ``recommend`` and the
evaluator's incremental scorer give the same values for the same context.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

SIGNALS = ("recency", "artist_recency", "transitions", "popularity", "neighbours")


class SessionIndex:
    """Sessions as sets of track indices, searchable by track: the neighbourhood of V-SKNN.

    ``add`` a finished session; ``scores`` a current one: its distinct tracks weighted by
    the position of their last play (the latest = 1), cosine similarity to every indexed
    session sharing a track, the ``k`` most similar (ties: the later sessions) voting
    their similarity for each of their tracks. Scores are rounded to 9 decimals, so that
    sums in different orders stay tied.
    """

    def __init__(self, k: int = 100) -> None:
        self.k = k
        self.items: list[np.ndarray] = []
        self._norms = np.zeros(64, dtype=np.float64)
        self.postings: dict[int, list[int]] = {}
        self._arrays: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.items)

    def add(self, tracks: Iterable[int]) -> None:
        """Index one finished session (negative indices are not tracks: left out)."""
        distinct = sorted({t for t in tracks if t >= 0})
        sid = len(self.items)
        self.items.append(np.array(distinct, dtype=np.int64))
        if sid == len(self._norms):  # amortised growth
            self._norms = np.concatenate([self._norms, np.zeros(sid)])
        self._norms[sid] = math.sqrt(max(len(distinct), 1))
        for t in distinct:
            self.postings.setdefault(t, []).append(sid)
            self._arrays.pop(t, None)

    def copy(self) -> SessionIndex:
        """An independent copy: what ``add`` changes is copied (the norms, the posting
        lists), the rest shared (a session's array and a cached posting array never
        change once made)."""
        out = SessionIndex(self.k)
        out.items = list(self.items)
        out._norms = self._norms.copy()
        out.postings = {t: list(v) for t, v in self.postings.items()}
        out._arrays = dict(self._arrays)
        return out

    def _posting(self, t: int) -> np.ndarray | None:
        arr = self._arrays.get(t)
        if arr is None:
            lst = self.postings.get(t)
            if lst is None:
                return None
            arr = self._arrays[t] = np.array(lst, dtype=np.int64)
        return arr

    def scores(self, session: Sequence[int], n: int) -> np.ndarray:
        """[n] neighbourhood scores for the current ``session`` (negative entries are
        plays of no indexed track: they count for positions only)."""
        out = np.zeros(n, dtype=np.float64)
        length = len(session)
        last_pos: dict[int, int] = {}
        for pos, idx in enumerate(session, start=1):
            if idx >= 0:
                last_pos[idx] = pos
        if not last_pos or not self.items:
            return out
        dot = np.zeros(len(self.items), dtype=np.float64)
        touched = np.zeros(len(self.items), dtype=bool)
        norm_sq = 0.0
        for idx, pos in last_pos.items():
            w = pos / length
            norm_sq += w * w
            sids = self._posting(idx)
            if sids is not None:
                dot[sids] += w
                touched[sids] = True
        sids = np.nonzero(touched)[0]
        if len(sids) == 0:
            return out
        norms = self._norms[sids]
        sims = dot[sids] / (math.sqrt(norm_sq) * norms)
        order = np.lexsort((-sids, -sims))[: self.k]
        for j in order:
            out[self.items[sids[j]]] += sims[j]
        return np.round(out, 9)


class ContextSignals:
    """The signals over a fixed table of tracks (index 0 = none / unknown), kept up to date
    play by play. ``artist[i]`` is track i's artist index (0 = unknown)."""

    def __init__(self, artist: np.ndarray) -> None:
        n = len(artist)
        self.artist = np.asarray(artist, dtype=np.int64)
        self.clock = 0
        self.last = np.zeros(n, dtype=np.float64)  # clock of the latest play, 0 = never
        self.artist_last = np.zeros(int(self.artist.max(initial=0)) + 1, dtype=np.float64)
        self.counts = np.zeros(n, dtype=np.float64)
        self.follows: dict[int, dict[int, int]] = {}
        self.current = 0  # latest play of the current session (0: none yet, or unknown)
        self.sessions = SessionIndex()
        self.session: list[int] = []  # the current session's plays (-1: unknown track)

    def copy(self) -> ContextSignals:
        """An independent copy of the signals so far (``copy.deepcopy`` costs ~2 s on a
        137k-play history; this copies what later plays change and shares the rest)."""
        out = ContextSignals.__new__(ContextSignals)
        out.artist, out.clock, out.current = self.artist, self.clock, self.current
        out.last, out.counts = self.last.copy(), self.counts.copy()
        out.artist_last = self.artist_last.copy()
        out.follows = {t: dict(row) for t, row in self.follows.items()}
        out.sessions = self.sessions.copy()
        out.session = list(self.session)
        return out

    def start_session(self) -> None:
        """The next play starts a new session (no transition into it)."""
        self.current = 0
        if self.session:
            self.sessions.add(self.session)
            self.session = []

    def observe(self, idx: int) -> None:
        """A kept play of track ``idx`` (0: a track outside the table - time passes)."""
        self.clock += 1
        if idx > 0:
            self.last[idx] = self.clock
            a = self.artist[idx]
            if a:
                self.artist_last[a] = self.clock
            self.counts[idx] += 1
            if self.current:
                row = self.follows.setdefault(self.current, {})
                row[idx] = row.get(idx, 0) + 1
        self.current = idx
        self.session.append(idx if idx > 0 else -1)

    def features(self, subset: np.ndarray | None = None) -> np.ndarray:
        """[len(SIGNALS), n] (or [.., len(subset)]) signal values after the plays so far."""
        last = self.last if subset is None else self.last[subset]
        art = self.artist if subset is None else self.artist[subset]
        n = len(last)
        out = np.zeros((len(SIGNALS), n), dtype=np.float64)
        out[0] = _recency(self.clock, last)
        out[1] = _recency(self.clock, self.artist_last[art])
        out[1][art == 0] = 0.0
        row = self.follows.get(self.current)
        if row:
            tracks = np.fromiter(row.keys(), dtype=np.int64, count=len(row))
            counts = np.fromiter(row.values(), dtype=np.float64, count=len(row))
            if subset is None:
                out[2][tracks] = np.log1p(counts)
            else:
                dense = np.zeros(len(self.last), dtype=np.float64)
                dense[tracks] = np.log1p(counts)
                out[2] = dense[subset]
        counts = self.counts if subset is None else self.counts[subset]
        out[3] = np.log1p(counts)
        neighbours = self.sessions.scores(self.session, len(self.last))
        out[4] = np.log1p(neighbours if subset is None else neighbours[subset])
        return out


def _recency(clock: int, last: np.ndarray) -> np.ndarray:
    """1 / log2(2 + plays since ``last``) where played, else 0."""
    return np.where(last > 0, 1.0 / np.log2(2.0 + clock - last), 0.0)
