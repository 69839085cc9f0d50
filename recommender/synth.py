"""A synthetic multi-user listening log, for checks beyond the one public log. stdlib only.

Each user has a library of artists and albums, a few playlists and a changing set of
favourites, and listens in sessions that mix four habits in user-specific proportions:
albums in order, playlists (in order or shuffled), favourites again (recency-weighted) and
exploration of tracks never heard before. Some plays are skipped (more often for tracks
the user does not care for). The proportions differ per user so that no single rule fits
everyone: a repeat-heavy listener, an album listener, an explorer...
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone

from .logs import Play

#: Habit mixes (album, playlist, favourites, explore) of the profiles users are drawn from.
PROFILES = {
    "albums": (0.55, 0.10, 0.20, 0.15),
    "playlists": (0.10, 0.55, 0.20, 0.15),
    "repeater": (0.15, 0.15, 0.60, 0.10),
    "explorer": (0.20, 0.10, 0.15, 0.55),
}


@dataclass(frozen=True)
class _Track:
    artist: str
    title: str
    album: str
    liked: float  # probability of hearing it through


def _catalogue(rng: random.Random, user: int, n_artists: int) -> list[list[_Track]]:
    """Albums (lists of tracks) of ``n_artists`` artists."""
    albums = []
    for a in range(n_artists):
        artist = f"artist {user}-{a}"
        for b in range(rng.randint(1, 4)):
            album = f"album {a}-{b}"
            albums.append([_Track(artist, f"track {a}-{b}-{t}", album,
                                  0.6 + 0.4 * rng.random())
                           for t in range(rng.randint(6, 14))])
    return albums


def synthetic_log(users: int = 6, plays_per_user: int = 6000, seed: int = 0) -> list[Play]:
    """Plays of ``users`` synthetic listeners (user names say their profile)."""
    rng = random.Random(seed)
    names = list(PROFILES)
    out: list[Play] = []
    for u in range(users):
        profile = names[u % len(names)]
        out.extend(_user_plays(rng, u, profile, plays_per_user))
    return [Play(p.user, p.time, p.artist, p.title, p.ms_played, i)
            for i, p in enumerate(out)]


def _user_plays(rng: random.Random, u: int, profile: str, n: int) -> Iterator[Play]:
    user = f"{profile}-{u}"
    albums = _catalogue(rng, u, 60 + rng.randint(0, 60))
    tracks = [t for al in albums for t in al]
    rng.shuffle(tracks)
    known = tracks[:150]           # what the user knows at the start
    known_set = set(known)
    unknown = tracks[150:]         # discovered by exploring
    playlists = [rng.sample(known, 15) for _ in range(4)]
    weights = PROFILES[profile]
    t = datetime(2021, 1, 1, 8, tzinfo=timezone.utc).timestamp()
    history: list[_Track] = []
    made = 0
    while made < n:
        # Sessions are hours to days apart (always more than 30 minutes).
        t += rng.choice([2, 5, 10, 20, 30]) * 3600 * rng.random() + 2700
        session_len = rng.randint(3, 25)
        habit = rng.choices(range(4), weights)[0]
        seq: list[_Track] = []
        if habit == 0:
            al = rng.choice([a for a in albums if any(x in known_set for x in a)] or albums)
            start = 0 if rng.random() < 0.7 else rng.randrange(len(al))
            seq = al[start:start + session_len]
        elif habit == 1:
            pl = rng.choice(playlists)
            seq = pl[:] if rng.random() < 0.6 else rng.sample(pl, len(pl))
            seq = seq[:session_len]
        elif habit == 2 and history:
            recent = history[-300:]
            for _ in range(session_len):
                # Recency-weighted favourites: the latest plays are likelier again.
                i = int(len(recent) * (1 - rng.random() ** 2.5))
                seq.append(recent[min(i, len(recent) - 1)])
        else:
            for _ in range(session_len):
                if unknown and rng.random() < 0.5:
                    tr = unknown.pop(rng.randrange(len(unknown)))
                    known.append(tr)
                    known_set.add(tr)
                else:
                    tr = rng.choice(known)
                seq.append(tr)
        if rng.random() < 0.02:  # taste drift: a playlist is refreshed
            playlists[rng.randrange(len(playlists))] = rng.sample(known, 15)
        for tr in seq:
            skipped = rng.random() > tr.liked
            ms = rng.randint(2000, 25000) if skipped else rng.randint(60000, 300000)
            t += ms / 1000 + rng.randint(0, 20)
            if not skipped:
                history.append(tr)
            made += 1
            yield Play(user, t, tr.artist, tr.title, ms)
            if made >= n:
                break
