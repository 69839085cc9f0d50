"""Streams of plays and session-parallel batching; the copy-mechanism inputs. numpy only.

A listener's sessions become one *stream* of kept plays (their history is one story); the
stream is cut into ``batch_size`` contiguous *lanes* that are read in parallel, window by
window (truncated BPTT), the hidden state carried from one window to the next.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .logs import EventLike, as_event
from .vocab import PAD, Vocab
#: "No next play" in ``next_occurrences``.
NEVER = np.iinfo(np.int64).max


def bucket(d: int) -> int:
    """Distance bucket of the repeat scorer: 0, 1, 2, 3 exact, then one per power of two."""
    return d if d < 4 else 2 + int(math.log2(d))


def n_buckets(window: int) -> int:
    """Number of distance buckets a window of ``window`` plays needs."""
    return bucket(max(window - 1, 0)) + 1


@dataclass
class Stream:
    """One listener's kept plays as parallel arrays.

    ``items``   vocab index of each kept play (0 = a track the model does not know);
    ``session`` session number of each play (non-decreasing);
    ``starts``  True at the first play of a session;
    ``skips``   [L, max_skips] vocab indices of the tracks skipped right after each play;
    ``first_target``  positions before it are context only (e.g. the stored history tail).
    """

    items: np.ndarray
    session: np.ndarray
    starts: np.ndarray
    skips: np.ndarray
    first_target: int = 0

    def __len__(self) -> int:
        return len(self.items)

    def targets(self) -> np.ndarray:
        """Target of each position: the next play of the same session, else 0 (none)."""
        out = np.zeros(len(self.items), dtype=np.int64)
        if len(self.items) > 1:
            nxt = self.items[1:].copy()
            nxt[self.starts[1:]] = PAD
            out[:-1] = nxt
        out[: max(self.first_target - 1, 0)] = PAD
        return out


def build_stream(sessions: Sequence[Sequence[EventLike]], vocab: Vocab, max_skips: int = 4,
                 context: Sequence[tuple[int, int]] = ()) -> Stream:
    """Lay sessions out as a ``Stream``; unknown tracks map to 0.

    ``context`` is an optional prefix of (vocab index, session number) pairs that is only
    context (its positions are never targets); sessions continue its numbering.
    """
    items: list[int] = [i for i, _ in context]
    session: list[int] = [s for _, s in context]
    starts: list[bool] = [False] * len(items)
    if context:
        starts[0] = True
        for p in range(1, len(items)):
            starts[p] = session[p] != session[p - 1]
    skips: list[list[int]] = [[] for _ in items]
    sno = (session[-1] + 1) if session else 0
    for sess in sessions:
        first = True
        for item in sess:
            ev = as_event(item)
            if ev.skipped:
                if skips and len(skips[-1]) < max_skips:
                    idx = vocab.get(ev.track)
                    if idx != PAD:
                        skips[-1].append(idx)
                continue
            items.append(vocab.get(ev.track))
            session.append(sno)
            starts.append(first)
            skips.append([])
            first = False
        if not first:
            sno += 1
    sk = np.zeros((len(items), max(max_skips, 1)), dtype=np.int64)
    for p, row in enumerate(skips):
        sk[p, : len(row)] = row
    return Stream(np.array(items, dtype=np.int64), np.array(session, dtype=np.int64),
                  np.array(starts, dtype=bool), sk, len(context))


def lane_layout(n: int, lanes: int, rng: np.random.Generator | None = None) -> np.ndarray:
    """Cut positions ``0..n-1`` into contiguous runs read in parallel; [runs, longest], -1 pad.

    ``lanes`` runs of equal length; with ``rng`` the cut points shift by a random offset each
    epoch (so that windows, and the cold starts of the lanes, do not fall on the same plays
    every time), which adds one short run at the front.
    """
    lanes = max(1, min(lanes, n))
    length = -(-n // lanes)  # ceil
    offset = int(rng.integers(0, length)) if rng is not None and length > 1 else 0
    cuts = sorted({0, n} | {min(offset + b * length, n) for b in range(lanes)})
    runs = [np.arange(a, b) for a, b in zip(cuts, cuts[1:]) if b > a]
    longest = max(len(r) for r in runs)
    out = np.full((len(runs), longest), -1, dtype=np.int64)
    for i, r in enumerate(runs):
        out[i, : len(r)] = r
    return out


def windows(layout: np.ndarray, bptt: int) -> Iterator[np.ndarray]:
    """Successive [lanes, bptt] column slices of a lane layout."""
    for t in range(0, layout.shape[1], bptt):
        yield layout[:, t: t + bptt]


def previous_occurrences(items: np.ndarray, k: int) -> np.ndarray:
    """[L, k]: positions of the ``k`` latest earlier plays of the same track (-1 = none)."""
    out = np.full((len(items), max(k, 1)), -1, dtype=np.int64)
    if k <= 0:
        return out
    seen: dict[int, list[int]] = {}
    for p, it in enumerate(items.tolist()):
        if it == PAD:
            continue
        lst = seen.setdefault(it, [])
        if lst:
            prev = lst[-1: -k - 1: -1]
            out[p, : len(prev)] = prev
        lst.append(p)
    return out


def next_occurrences(items: np.ndarray) -> np.ndarray:
    """[L]: position of the next play of the same track (``NEVER`` if none; also for 0).

    Vectorised (sort by track, then position): training calls it on the whole stream and
    ``recommend`` on every context.
    """
    n = len(items)
    out = np.full(n, NEVER, dtype=np.int64)
    if n < 2:
        return out
    order = np.lexsort((np.arange(n), items))
    same = (items[order[1:]] == items[order[:-1]]) & (items[order[:-1]] != PAD)
    out[order[:-1][same]] = order[1:][same]
    return out


def repeat_features(items: np.ndarray, session: np.ndarray, next_occ: np.ndarray,
                    pos: np.ndarray, window: int, latest: bool = True
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The repeat scorer's inputs for positions ``pos`` [M]: the latest ``window`` plays.

    Returns (track [M, W], slot [M, W], valid [M, W]), distance 0 (the play at ``pos``)
    first. ``slot`` = distance bucket + nb * (from an earlier session) + 2 nb * (not the
    latest play of that track, when ``latest``), nb = ``n_buckets(window)``; so the model
    can weigh "last heard d plays ago" (what the ``recent`` rule uses) apart from "also
    heard d plays ago" (frequency).
    """
    nb = n_buckets(window)
    idx = pos[:, None] - np.arange(window)[None, :]
    valid = idx >= 0
    idx = np.where(valid, idx, 0)
    hist = np.where(valid, items[idx], PAD)
    slot = bucket_table(window)[None, :] + nb * (session[idx] != session[pos][:, None])
    if latest:
        slot = slot + 2 * nb * (next_occ[idx] <= pos[:, None])
    return hist, slot, valid & (hist != PAD)


def repeat_slots(window: int) -> int:
    """How many repeat slots ``repeat_features`` can produce."""
    return 4 * n_buckets(window)


def successor_features(items: np.ndarray, session: np.ndarray, pos: np.ndarray,
                       occ: np.ndarray, offsets: int = 1
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What followed earlier plays of the current track: the successor memory's inputs.

    ``occ`` [M, K] are earlier positions of the track played at ``pos`` [M] (-1 = none).
    For each occurrence j and offset o in 1..``offsets``, the track at j + o when it is in
    the same session and already in the context (j + o <= pos). Returns (track [M, K*O],
    slot [M, K*O], valid [M, K*O]) with slot = occurrence-rank bucket + nk * (o - 1) +
    nk * O * (the play before j matched the play before ``pos``: the same two-track run
    was heard before), nk = ``n_buckets(K)``.
    """
    m, k = occ.shape
    nk = n_buckets(k)
    ok = occ >= 0
    j = np.where(ok, occ, 0)
    last = len(items) - 1
    jp = np.maximum(j - 1, 0)
    pp = np.maximum(pos - 1, 0)[:, None]
    bigram = (j >= 1) & (pos[:, None] >= 1) & (items[jp] == items[pp]) & \
        (session[jp] == session[j]) & (session[pp] == session[pos][:, None]) & \
        (items[jp] != PAD)
    ranks = bucket_table(k)[None, :]
    tracks, slots, valids = [], [], []
    for o in range(1, offsets + 1):
        nxt = np.minimum(j + o, last)
        succ = items[nxt]
        valid = ok & (j + o <= pos[:, None]) & (session[nxt] == session[j]) & (succ != PAD)
        tracks.append(np.where(valid, succ, PAD))
        slots.append(ranks + nk * (o - 1) + nk * offsets * bigram)
        valids.append(valid)
    return (np.concatenate(tracks, axis=1), np.concatenate(slots, axis=1),
            np.concatenate(valids, axis=1))


def successor_slots(k: int, offsets: int) -> int:
    """How many successor slots ``successor_features`` can produce."""
    return 2 * n_buckets(k) * offsets


class PlayLog:
    """A growing list of kept plays: the inference-time twin of ``Stream``.

    It keeps the arrays the feature functions need (items, sessions, next occurrence), so
    that inference calls the very functions training uses, for the latest position only.
    """

    def __init__(self, capacity: int = 1024) -> None:
        self.n = 0
        self.items = np.zeros(capacity, dtype=np.int64)
        self.session = np.zeros(capacity, dtype=np.int64)
        self.next_occ = np.full(capacity, NEVER, dtype=np.int64)
        self.last: dict[int, int] = {}  # track -> position of its latest play

    @classmethod
    def from_arrays(cls, items: np.ndarray, session: np.ndarray) -> PlayLog:
        """A log of many plays at once (vectorised: what ``recommend`` builds per call)."""
        log_ = cls(capacity=max(len(items), 16))
        n = len(items)
        log_.n = n
        log_.items[:n] = items
        log_.session[:n] = session
        log_.next_occ[:n] = next_occurrences(items)
        return log_

    def _latest(self, item: int) -> int | None:
        pos = self.last.get(item)
        if pos is None and self.n and item != PAD:
            # Built from arrays: look it up once.
            hits = np.flatnonzero(self.items[: self.n] == item)
            pos = int(hits[-1]) if len(hits) else None
        return pos

    def append(self, item: int, session: int) -> None:
        """Add one kept play (``item`` 0 = unknown track)."""
        if self.n == len(self.items):  # amortised growth
            grow = len(self.items)
            self.items = np.concatenate([self.items, np.zeros(grow, dtype=np.int64)])
            self.session = np.concatenate([self.session, np.zeros(grow, dtype=np.int64)])
            self.next_occ = np.concatenate([self.next_occ,
                                            np.full(grow, NEVER, dtype=np.int64)])
        p = self.n
        if item != PAD:
            j = self._latest(item)
            if j is not None:
                self.next_occ[j] = p
            self.last[item] = p
        self.items[p], self.session[p] = item, session
        self.n += 1

    def __len__(self) -> int:
        return self.n

    def pairs(self, last: int) -> list[tuple[int, int]]:
        """The latest ``last`` plays as (item, session)."""
        a = max(self.n - last, 0)
        return list(zip(self.items[a:self.n].tolist(), self.session[a:self.n].tolist()))

    def repeat_inputs(self, window: int, latest: bool = True
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``repeat_features`` of the latest play, each [W]."""
        if self.n == 0:
            z = np.zeros(window, dtype=np.int64)
            return z, z, z.astype(bool)
        out = repeat_features(self.items[: self.n], self.session[: self.n],
                              self.next_occ[: self.n], np.array([self.n - 1]), window, latest)
        return out[0][0], out[1][0], out[2][0]

    def successor_inputs(self, k: int, offsets: int = 1
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``successor_features`` of the latest play, each [K * offsets]."""
        p = self.n - 1
        occ = np.full((1, k), -1, dtype=np.int64)
        if p >= 0 and self.items[p] != PAD:
            prev = np.flatnonzero(self.items[:p] == self.items[p])[::-1][:k]
            occ[0, : len(prev)] = prev
        out = successor_features(self.items[: max(self.n, 1)], self.session[: max(self.n, 1)],
                                 np.array([max(p, 0)]), occ, offsets)
        return out[0][0], out[1][0], out[2][0]


@functools.lru_cache(maxsize=16)
def bucket_table(window: int) -> np.ndarray:
    """``bucket(d)`` for every distance ``0..window-1`` (shared, read-only)."""
    out = np.array([bucket(x) for x in range(window)], dtype=np.int64)
    out.flags.writeable = False
    return out
