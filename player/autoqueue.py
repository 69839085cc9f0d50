"""The auto-queue: which track plays next when the user's own queue is empty.

A chain of pickers, best first, each proposing ranked candidates with an honest one-line reason:

1. the user's trained model, when one is loaded (see :mod:`player.bridge`);
2. **transitions** counted in the listening log: what the user played after this track;
3. **similar**: same album (another artist), then same genre;
4. **random** from the library.

On top of every picker, the listening rules: no track repeated within a window (default the
last 50 plays or 3 hours), no artist twice in a row, never a missing file, a track that failed
to play, or one the user excluded. When the rules leave nothing (a tiny library), they relax in
that order — artist spacing first, then repeats, least recently played first — so the music
never stops because the library is small.

Pure Python over :class:`~player.library.db.Library`: no Qt, safe to run on a worker thread.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from player.library.db import Library

log = logging.getLogger(__name__)

#: Listens after which a track's transitions are computed afresh (cheap; the log only grows).
TRANSITION_WINDOW = 20_000


@dataclass(frozen=True)
class Pick:
    """The auto-queue's choice, with why."""

    track_id: int
    reason: str
    strategy: str  # "model", "transitions", "similar" or "random"
    score: float | None = None


@dataclass
class Rules:
    """The listening rules the auto-queue always applies."""

    repeat_window_plays: int = 50
    repeat_window_hours: float = 3.0
    exploration: float = 0.2  # 0 = always the best candidate, 1 = sample widely


@dataclass
class Context:
    """What the pickers see: the recent listening history and the tracks to avoid."""

    current: int | None  # the track playing now (the one the pick follows)
    history: list[dict[str, Any]]  # recent listens, oldest first (track_id, skipped, ...)
    tracks: dict[int, dict[str, Any]]  # every queueable track by id
    exclude: set[int] = field(default_factory=set)  # e.g. tracks already in the user queue


class Picker(Protocol):
    """One source of candidates: ``(track_id, score, reason)``, best first.

    A picker whose reasons are costly (the model's) may return empty reasons and have a
    ``reason_for(ctx, track_id) -> str`` method, called for the chosen track only.
    """

    name: str

    def candidates(self, ctx: Context) -> Iterable[tuple[int, float, str]]: ...


class TransitionPicker:
    """What the user played right after the current track (and, less, after the ones before)."""

    name = "transitions"

    def __init__(self, library: Library) -> None:
        self.library = library

    def candidates(self, ctx: Context) -> Iterable[tuple[int, float, str]]:
        if ctx.current is None:
            return []
        played = [h for h in ctx.history if not h.get("skipped") and h.get("track_id")]
        # Transitions a -> b between consecutive completed plays of one session.
        follows: dict[int, Counter[int]] = defaultdict(Counter)
        for a, b in zip(played, played[1:]):
            if a["session_id"] == b["session_id"] and a["track_id"] != b["track_id"]:
                follows[a["track_id"]][b["track_id"]] += 1
        scores: Counter[int] = Counter()
        reasons: dict[int, str] = {}
        # The current track counts most; the ones played before it in the session help too.
        recent = [ctx.current] + [h["track_id"] for h in reversed(played[-4:])
                                  if h["track_id"] != ctx.current]
        for depth, source in enumerate(recent[:4]):
            weight = 1.0 / (1 + depth)
            for nxt, n in follows.get(source, {}).items():
                scores[nxt] += weight * n
                if nxt not in reasons:
                    title = ctx.tracks.get(source, {}).get("title") or "this track"
                    reasons[nxt] = f"often follows {title}"
        return [(t, s, reasons[t]) for t, s in scores.most_common()]


class SimilarPicker:
    """Tracks that share the current one's album or genre."""

    name = "similar"

    def candidates(self, ctx: Context) -> Iterable[tuple[int, float, str]]:
        cur = ctx.tracks.get(ctx.current or -1)
        if cur is None:
            return []
        out = []
        album, genres = cur.get("album"), _genres(cur.get("genre"))
        for tid, t in ctx.tracks.items():
            if tid == ctx.current:
                continue
            if album and t.get("album") == album:
                out.append((tid, 2.0, f"from the same album, {album}"))
            elif genres:
                shared = genres.keys() & _genres(t.get("genre")).keys()
                if shared:
                    title = cur.get("title") or "this track"
                    out.append((tid, 1.0, f"{genres[min(shared)]}, like “{title}”"))
        return out


class RandomPicker:
    name = "random"

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def candidates(self, ctx: Context) -> Iterable[tuple[int, float, str]]:
        ids = list(ctx.tracks)
        self.rng.shuffle(ids)
        return [(tid, 0.0, "a random pick from your library") for tid in ids]


def _genres(genre: str | None) -> dict[str, str]:
    """The genres of a tag value, casefolded -> as written."""
    return {g.strip().casefold(): g.strip() for g in (genre or "").split(";") if g.strip()}


class AutoQueue:
    """Picks the next track: the pickers in order, the rules on top, relaxed only if needed."""

    def __init__(
        self,
        library: Library,
        rules: Rules | None = None,
        model_picker: Picker | None = None,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.library = library
        self.rules = rules or Rules()
        self.model_picker = model_picker
        self.rng = random.Random(seed)
        self.clock = clock
        self.fallbacks: list[Picker] = [
            TransitionPicker(library),
            SimilarPicker(),
            RandomPicker(self.rng),
        ]

    def pickers(self) -> list[Picker]:
        return ([self.model_picker] if self.model_picker else []) + self.fallbacks

    def context(self, current: int | None, exclude: Iterable[int] = ()) -> Context:
        tracks = {t["id"]: t for t in self.library.queueable_tracks()}
        history = self.library.listens(limit=TRANSITION_WINDOW, newest_first=True)
        history.reverse()
        if current is not None and (not history or history[-1]["track_id"] != current):
            # The track the pick follows is not logged yet: its listen opens at its first
            # audible sample, and a queued track's only when it plays. It is the context's
            # last play all the same.
            history.append({"track_id": current, "started_at": self.clock(), "ended_at": None,
                            "skipped": 0, "source": "user", "artist": None, "title": None})
        return Context(current, history, tracks, set(exclude))

    def pick(self, current: int | None, exclude: Iterable[int] = ()) -> Pick | None:
        """The next track after ``current`` (None: start hands-free), or None for an empty
        library. ``exclude``: tracks that must not be picked (the user's queue)."""
        ctx = self.context(current, exclude)
        if not ctx.tracks:
            return None
        for picker, ranked in self._allowed_candidates(ctx):
            tid, score, reason = self._choose(ranked, picker.name)
            return Pick(tid, self._reason(picker, ctx, tid, reason), picker.name, score)
        if current is not None and current in ctx.tracks and current not in ctx.exclude:
            return Pick(current, "the only track in your library", "random", None)
        return None

    def ranked(self, current: int | None, n: int, exclude: Iterable[int] = ()) -> list[Pick]:
        """The ``n`` best next tracks of the first picker that has any under the listening
        rules (loosened as :meth:`pick` does), each with its reason."""
        ctx = self.context(current, exclude)
        for picker, ranked in self._allowed_candidates(ctx):
            return [Pick(t, self._reason(picker, ctx, t, r), picker.name, s)
                    for t, s, r in ranked[:n]]
        return []

    def _allowed_candidates(
        self, ctx: Context
    ) -> Iterable[tuple[Picker, list[tuple[int, float, str]]]]:
        """Each picker's candidates that the rules allow, strictest rules first; only
        non-empty lists. A picker that fails is logged and skipped: the music goes on."""
        current = ctx.current
        current_artist = _artist_key(ctx.tracks.get(current or -1)) if current else None
        for spacing, window in self._relaxations():
            recent = self._recently_played(ctx, window)

            # Used only within this pass of the loop, so its late binding is harmless.
            def allowed(tid: int) -> bool:
                if tid not in ctx.tracks or tid in ctx.exclude or tid == current:
                    return False
                if tid in recent:  # noqa: B023
                    return False
                return not (spacing and current_artist  # noqa: B023
                            and _artist_key(ctx.tracks[tid]) == current_artist)

            for picker in self.pickers():
                try:
                    ranked = [c for c in picker.candidates(ctx) if allowed(c[0])]
                except Exception:  # a broken picker (e.g. a bad model) must not stop the music
                    log.exception("picker %s failed; falling back", picker.name)
                    continue
                if ranked:
                    yield picker, ranked

    @staticmethod
    def _reason(picker: Picker, ctx: Context, track_id: int, default: str) -> str:
        explain = getattr(picker, "reason_for", None)
        if explain is None:  # costly reasons come from reason_for, for chosen tracks only
            return default
        try:
            return explain(ctx, track_id) or default
        except Exception:
            log.exception("reason of %s failed", picker.name)
            return default

    #: How far the repeat window shrinks, step by step, when the library is too small for it.
    WINDOW_STEPS = (1.0, 0.75, 0.5, 0.25, 0.1, 0.0)

    def _relaxations(self) -> Iterable[tuple[bool, float]]:
        """(artist spacing, window fraction) from strictest to loosest: the repeat window
        shrinks before two tracks of one artist may follow each other; a library of one
        artist drops the spacing at once (no window size helps it)."""
        for spacing in (True, False):
            for fraction in self.WINDOW_STEPS:
                yield spacing, fraction

    def _recently_played(self, ctx: Context, fraction: float = 1.0) -> set[int]:
        """Tracks inside the repeat window, scaled by ``fraction`` (1 = the full window)."""
        plays = int(self.rules.repeat_window_plays * fraction)
        hours = self.rules.repeat_window_hours * fraction
        recent = {h["track_id"] for h in (ctx.history[-plays:] if plays > 0 else [])}
        horizon = self.clock() - hours * 3600
        for h in reversed(ctx.history):
            if h["started_at"] < horizon:
                break
            recent.add(h["track_id"])
        recent.discard(None)
        return recent

    def _choose(
        self, ranked: Sequence[tuple[int, float, str]], strategy: str
    ) -> tuple[int, float, str]:
        """The top candidate, or with exploration a draw that favours the top ones.

        Rank-based, not score-based: the pickers' scores are on different scales.
        """
        explore = max(0.0, min(1.0, self.rules.exploration))
        if explore <= 0 or len(ranked) == 1 or strategy == "random":
            return ranked[0]
        top = ranked[:50]
        spread = explore * 10  # 0.2 -> the first ~2 ranks matter; 1.0 -> ~10 ranks
        weights = [math.exp(-i / spread) for i in range(len(top))]
        return self.rng.choices(top, weights=weights, k=1)[0]


def _artist_key(track: dict[str, Any] | None) -> str | None:
    if not track:
        return None
    artist = track.get("artist") or track.get("albumartist")
    return artist.casefold() if artist else None
