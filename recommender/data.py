"""Vocabulary (0 = padding / unknown) and session-parallel batching. numpy + stdlib only.

A listener's sessions become one *stream* of kept plays (their history is one story); the
stream is cut into ``batch_size`` contiguous *lanes* that are read in parallel, window by
window (truncated BPTT), the hidden state carried from one window to the next.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from .logs import EventLike, TrackId, as_event

PAD = 0


class Vocab:
    """Maps caller ids (tracks, artists) to dense indices; index 0 is padding / unknown."""

    def __init__(self, ids: Iterable[Hashable] = ()) -> None:
        self.ids: list[Hashable | None] = [None]
        self.index: dict[Hashable, int] = {}
        for i in ids:
            self.add(i)

    def add(self, key: Hashable) -> int:
        """The index of ``key``, adding it at the end if new."""
        idx = self.index.get(key)
        if idx is None:
            idx = len(self.ids)
            self.ids.append(key)
            self.index[key] = idx
        return idx

    def get(self, key: Hashable) -> int:
        """The index of ``key``, or ``PAD`` (0) when unknown."""
        return self.index.get(key, PAD)

    def __len__(self) -> int:
        return len(self.ids)

    def __contains__(self, key: object) -> bool:
        return key in self.index

    def keys(self) -> list[Hashable]:
        """Every id in index order, without the padding slot."""
        return self.ids[1:]


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
    """Cut positions ``0..n-1`` into ``lanes`` contiguous runs; [lanes, longest], -1 padded.

    With ``rng`` the cut points move by up to half a lane each epoch, so that the windows
    (and the cold starts of the lanes) do not fall on the same plays every time.
    """
    lanes = max(1, min(lanes, n))
    length = n / lanes
    cuts = [0]
    for b in range(1, lanes):
        c = b * length
        if rng is not None:
            c += (rng.random() - 0.5) * length
        cuts.append(int(round(c)))
    cuts.append(n)
    cuts = sorted(set(min(max(c, 0), n) for c in cuts))
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


class PlayLog:
    """A growing list of kept plays with an index of where each track was played.

    The inference-time twin of ``Stream``: it yields the same repeat and successor inputs
    for its latest play as the training code computes for a stream position.
    """

    def __init__(self) -> None:
        self.items: list[int] = []
        self.session: list[int] = []
        self.where: dict[int, list[int]] = {}

    def append(self, item: int, session: int) -> None:
        """Add one kept play (``item`` 0 = unknown track)."""
        if item != PAD:
            self.where.setdefault(item, []).append(len(self.items))
        self.items.append(item)
        self.session.append(session)

    def __len__(self) -> int:
        return len(self.items)

    def repeat_inputs(self, window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(items, slot, valid) of the latest ``window`` plays, latest first.

        ``slot`` = distance bucket + ``n_buckets(window)`` if the play is from an earlier
        session than the latest one - as ``repeat_slots`` computes for training.
        """
        items = np.zeros(window, dtype=np.int64)
        same = np.zeros(window, dtype=bool)
        recent = self.items[-window:][::-1]
        sess = self.session[-window:][::-1]
        if recent:
            items[: len(recent)] = recent
            same[: len(recent)] = np.asarray(sess) == sess[0]
        slot = bucket_table(window) + n_buckets(window) * (~same)
        return items, slot, items != PAD

    def successor_inputs(self, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``successors`` for the latest play (a scalar loop: k is small, the log is not)."""
        succ = np.zeros(k, dtype=np.int64)
        slot = bucket_table(k).copy()
        valid = np.zeros(k, dtype=bool)
        p = len(self.items) - 1
        if p < 0 or self.items[p] == PAD:
            return succ, slot, valid
        items, sess = self.items, self.session
        where = self.where[items[p]]
        prev = where[-2: -k - 2: -1]  # where[-1] is p itself
        nb = n_buckets(k)
        for r, j in enumerate(prev):
            nxt = j + 1
            if sess[nxt] != sess[j] or items[nxt] == PAD:
                continue
            succ[r], valid[r] = items[nxt], True
            if j >= 1 and items[j - 1] != PAD and items[j - 1] == items[p - 1] and \
                    sess[j - 1] == sess[j] and sess[p - 1] == sess[p]:
                slot[r] += nb
        return succ, slot, valid


def successors(items: np.ndarray, session: np.ndarray, pos: np.ndarray, occ: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """What followed earlier plays of the current track: the successor memory's inputs.

    ``occ`` [M, K] are earlier positions of the track played at ``pos`` [M] (-1 = none).
    Returns (the track played right after each occurrence, in the same session [M, K];
    its slot = occurrence-rank bucket + n * (the play before also matched, i.e. the same
    two-track run was heard before); validity mask).
    """
    m, k = occ.shape
    valid = occ >= 0
    j = np.where(valid, occ, 0)
    nxt = np.minimum(j + 1, len(items) - 1)
    succ = np.where(valid, items[nxt], PAD)
    valid &= (session[nxt] == session[j]) & (nxt > j) & (succ != PAD)
    prev_ok = (j >= 1) & (pos[:, None] >= 1)
    jp = np.maximum(j - 1, 0)
    pp = np.maximum(pos - 1, 0)[:, None]
    bigram = prev_ok & (items[jp] == items[pp]) & (session[jp] == session[j]) & \
        (session[pp] == session[pos][:, None]) & (items[jp] != PAD)
    ranks = bucket_table(k)
    slot = ranks[None, :] + n_buckets(k) * bigram
    return np.where(valid, succ, PAD), slot, valid


@functools.lru_cache(maxsize=16)
def bucket_table(window: int) -> np.ndarray:
    """``bucket(d)`` for every distance ``0..window-1`` (shared, read-only)."""
    out = np.array([bucket(x) for x in range(window)], dtype=np.int64)
    out.flags.writeable = False
    return out


def track_ids(ids: Iterable[TrackId]) -> list[TrackId]:
    """Validate caller ids: hashable ints/strings (or tuples of them) - what a checkpoint holds."""
    out = []
    for t in ids:
        if not _plain(t):
            raise TypeError(f"track ids must be int, str or tuples of them, not {t!r}")
        out.append(t)
    return out


def _plain(x: object) -> bool:
    if isinstance(x, bool):
        return False
    if isinstance(x, (int, str)):
        return True
    return isinstance(x, tuple) and all(_plain(y) for y in x)
