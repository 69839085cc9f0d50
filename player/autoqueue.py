"""The auto-queue: which track plays next when the user's own queue is empty.

A chain of pickers, best first, each proposing ranked candidates with an honest one-line reason:

1. the user's trained model, when one is loaded (see :mod:`player.bridge`);
2. **transitions** counted in the listening log: what the user played after this track;
3. **similar**: same album (another artist), then same genre;
4. **random** from the library.

On top of every picker, the listening rules: never a missing file, a track that failed to
play, or one the user excluded; no track repeated within a window (default the last 50 plays
or 3 hours); and variety — no artist twice in a row, and no artist more than twice in any 8
consecutive auto picks. When the rules leave nothing (a small library), they relax in that
order — artist spacing first (the 8-pick cap, then "not twice in a row"), then repeats,
least recently played first: the repeat window shrinks one step (from its oldest plays) and
the artist rules are tried again at that size before they relax again; at the end only the
tracks played longest ago remain — never "anything", so a small library is played round,
not ping-ponged — and the music never stops because the library is small.

Each picker's candidates are computed once per pick; each relaxation step only filters them.

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
from typing import Protocol

from player.library.db import Library, Listen, QueueableTrack
from recommender.logs import is_new_session

log = logging.getLogger(__name__)

#: The id of the history row ``context`` adds for a current track whose listen is not logged
#: yet (SQLite's listen ids start at 1).
UNLOGGED_ID = 0
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
    #: Variety: at most ``artist_max`` picks of one artist in any ``artist_window``
    #: consecutive auto picks (the new pick included).
    artist_window: int = 8
    artist_max: int = 2


@dataclass(frozen=True)
class Step:
    """One level of the rules, strictest first (see ``AutoQueue.steps``)."""

    variety: bool  # the artist cap over the last auto picks
    spacing: bool  # no artist twice in a row
    window: float | None  # share of the repeat window; None: least recently played only


@dataclass
class Context:
    """What the pickers see: the recent listening history and the tracks to avoid."""

    current: int | None  # the track playing now (the one the pick follows)
    history: list[Listen]  # recent listens, oldest first
    tracks: dict[int, QueueableTrack]  # every queueable track by id
    exclude: set[int] = field(default_factory=set)  # e.g. tracks already in the user queue
    now: float | None = None  # the auto-queue's clock when the context was read


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
        played = [h for h in ctx.history if not h.skipped and h.track_id]
        # Transitions a -> b between consecutive completed plays of one session.
        follows: dict[int, Counter[int]] = defaultdict(Counter)
        for a, b in zip(played, played[1:]):
            # (the context's last row, a current track not logged yet, has no session)
            if a.session_id == b.session_id and a.track_id != b.track_id:
                follows[a.track_id][b.track_id] += 1
        scores: Counter[int] = Counter()
        reasons: dict[int, str] = {}
        # The current track counts most; the ones played before it in the session help too.
        recent = [ctx.current] + [h.track_id for h in reversed(played[-4:])
                                  if h.track_id != ctx.current]
        for depth, source in enumerate(recent[:4]):
            weight = 1.0 / (1 + depth)
            for nxt, n in follows.get(source, {}).items():
                scores[nxt] += weight * n
                if nxt not in reasons:
                    known = ctx.tracks.get(source)
                    title = (known.title if known else None) or "this track"
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
        album, genres = cur.album, _genres(cur.genre)
        for tid, t in ctx.tracks.items():
            if tid == ctx.current:
                continue
            if album and t.album == album:
                out.append((tid, 2.0, f"from the same album, {album}"))
            elif genres:
                shared = genres.keys() & _genres(t.genre).keys()
                if shared:
                    title = cur.title or "this track"
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
        tracks = {t.id: t for t in self.library.queueable_tracks()}
        history = self.library.listens(limit=TRANSITION_WINDOW, newest_first=True)
        history.reverse()
        if current is not None and (not history or history[-1].track_id != current):
            # The track the pick follows is not logged yet: its listen opens at its first
            # audible sample, and a queued track's only when it plays. It is the context's
            # last play all the same.
            # It carries on the last play's session unless that ended too long ago.
            now = self.clock()
            last = history[-1] if history else None
            session = (last.session_id if last is not None and not is_new_session(
                last.ended_at or last.started_at, now) else None)
            history.append(Listen(UNLOGGED_ID, current, now, None, None, False, "user",
                                  session))
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
        non-empty lists. Each picker runs once (lazily, when a step reaches it); a picker
        that fails is logged and skipped: the music goes on."""
        current = ctx.current
        current_artist = _artist_key(ctx.tracks.get(current or -1)) if current else None
        last_play = self._last_plays(ctx)
        capped = self._capped_artists(ctx)
        computed: dict[int, list[tuple[int, float, str]]] = {}

        def candidates(i: int, picker: Picker) -> list[tuple[int, float, str]]:
            if i not in computed:
                try:
                    computed[i] = [c for c in picker.candidates(ctx)
                                   if c[0] in ctx.tracks and c[0] not in ctx.exclude
                                   and c[0] != current]
                except Exception:  # a broken picker (e.g. a bad model) must not stop music
                    log.exception("picker %s failed; falling back", picker.name)
                    computed[i] = []
            return computed[i]

        pickers = self.pickers()
        for step in self.steps():
            if step.window is None:
                # The last level: only what was played longest ago (or never).
                pool = {c[0] for i, p in enumerate(pickers) for c in candidates(i, p)}
                if not pool:
                    return
                oldest = min(last_play.get(t, -1) for t in pool)
                recent: set[int] | None = None
            else:
                recent = self._recently_played(ctx, step.window)
            for i, picker in enumerate(pickers):
                ranked = []
                for c in candidates(i, picker):
                    tid = c[0]
                    if recent is None:
                        if last_play.get(tid, -1) > oldest:
                            continue
                    elif tid in recent:
                        continue
                    artist = _artist_key(ctx.tracks[tid])
                    if step.spacing and current_artist and artist == current_artist:
                        continue
                    if step.variety and artist in capped:
                        continue
                    ranked.append(c)
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

    #: How far the repeat window shrinks, step by step, before only the tracks played
    #: longest ago remain.
    WINDOW_STEPS = (1.0, 0.75, 0.5, 0.25, 0.1)

    def steps(self) -> list[Step]:
        """The rules from strictest to loosest, in the order the module doc promises: at
        each size of the repeat window (full, shrinking, then least recently played only)
        the artist cap relaxes first, then artist spacing."""
        windows: list[float | None] = [*self.WINDOW_STEPS, None]
        return [Step(variety, spacing, w) for w in windows
                for variety, spacing in ((True, True), (False, True), (False, False))]

    def _recently_played(self, ctx: Context, fraction: float = 1.0) -> set[int]:
        """Tracks inside the repeat window, scaled by ``fraction`` (1 = the full window)."""
        plays = int(self.rules.repeat_window_plays * fraction)
        hours = self.rules.repeat_window_hours * fraction
        recent = {h.track_id for h in (ctx.history[-plays:] if plays > 0 else [])}
        horizon = self.clock() - hours * 3600
        for h in reversed(ctx.history):
            if h.started_at < horizon:
                break
            recent.add(h.track_id)
        recent.discard(None)
        return recent

    @staticmethod
    def _last_plays(ctx: Context) -> dict[int, int]:
        """Position of each track's latest play in the history (the current one last)."""
        out = {h.track_id: i for i, h in enumerate(ctx.history) if h.track_id}
        if ctx.current is not None:
            out[ctx.current] = len(ctx.history)
        return out

    def _capped_artists(self, ctx: Context) -> set[str]:
        """Artists already picked ``artist_max`` times among the last ``artist_window - 1``
        auto picks: one more would break the variety rule."""
        window = self.rules.artist_window - 1
        if window <= 0 or self.rules.artist_max <= 0:
            return set()
        # The track the pick follows, not logged yet, may well be an auto pick: counted.
        picks = [h.track_id for h in ctx.history
                 if h.source == "auto" or h.id == UNLOGGED_ID]
        counts = Counter(_artist_key(ctx.tracks.get(t)) for t in picks[-window:])
        counts.pop(None, None)
        return {a for a, n in counts.items() if n >= self.rules.artist_max}

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


def _artist_key(track: QueueableTrack | None) -> str | None:
    if track is None:
        return None
    artist = track.artist or track.albumartist
    return artist.casefold() if artist else None
