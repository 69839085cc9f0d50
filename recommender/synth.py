"""Synthetic listening logs, for checks beyond the one public log. stdlib only.

Each user has a catalogue (artists, their albums with a genre and a year), a few playlists
and a changing set of favourites, and listens in sessions that mix five habits in
user-specific proportions:

* **album**: an album in order (sometimes from the middle);
* **playlist**: one of a few playlists, in order or shuffled (refreshed now and then);
* **favourites**: tracks heard lately again, the latest ones likeliest (recency-weighted);
* **explore**: tracks never heard before, mixed with known ones;
* **artist**: one artist's whole catalogue shuffled, heard or not (an artist "radio").

Some plays are skipped (more often for tracks the user does not care for). The proportions
differ per profile so that no single rule fits everyone: a repeat-heavy listener, an album
listener, a playlist listener, an explorer, an artist-loyal one. ``heavy_log`` makes one
listener with a catalogue of tens of thousands of tracks, for speed and scale checks.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone

from .logs import Play


@dataclass(frozen=True)
class Habits:
    """Share of sessions of each habit (normalised when drawn)."""

    album: float
    playlist: float
    favourites: float
    explore: float
    artist: float = 0.0

    def weights(self) -> tuple[float, ...]:
        return (self.album, self.playlist, self.favourites, self.explore, self.artist)


#: The profiles synthetic users are drawn from, in order (user u gets profile u mod 5).
PROFILES: dict[str, Habits] = {
    "albums": Habits(0.55, 0.10, 0.20, 0.15),
    "playlists": Habits(0.10, 0.55, 0.20, 0.15),
    "repeater": Habits(0.15, 0.15, 0.60, 0.10),
    "explorer": Habits(0.20, 0.10, 0.15, 0.55),
    "artist": Habits(0.10, 0.05, 0.20, 0.10, 0.55),
}

_GENRES = ("rock", "pop", "jazz", "electronic", "folk", "hip hop", "classical", "metal",
           "ambient", "soul")


@dataclass(frozen=True)
class SynthTrack:
    """One track of a synthetic catalogue, with what a library would know of it."""

    artist: str
    title: str
    album: str
    genre: str
    year: int
    liked: float = field(compare=False)  # probability of hearing it through

    def metadata(self) -> dict[str, object]:
        """The library's view: artist, album, genre, year."""
        return {"artist": self.artist, "album": self.album, "genre": self.genre,
                "year": self.year}


def catalogue(rng: random.Random, user: int, n_artists: int,
              meta_rng: random.Random | None = None) -> list[list[SynthTrack]]:
    """Albums (lists of tracks) of ``n_artists`` artists. ``meta_rng`` draws genres and
    years (a separate stream, so the plays do not depend on them)."""
    meta_rng = meta_rng or random.Random(user)
    albums = []
    for a in range(n_artists):
        artist = f"artist {user}-{a}"
        genre = meta_rng.choice(_GENRES)
        first_year = meta_rng.randint(1960, 2020)
        for b in range(rng.randint(1, 4)):
            album = f"album {a}-{b}"
            year = min(first_year + 2 * b + meta_rng.randint(0, 2), 2024)
            albums.append([SynthTrack(artist, f"track {a}-{b}-{t}", album, genre, year,
                                      0.6 + 0.4 * rng.random())
                           for t in range(rng.randint(6, 14))])
    return albums


def synthetic_log(users: int = 5, plays_per_user: int = 6000, seed: int = 0,
                  profiles: list[str] | None = None) -> list[Play]:
    """Plays of ``users`` synthetic listeners (user names say their profile: ``albums-0``).

    ``profiles`` (default: every profile in turn) chooses the habits of user ``u`` as
    ``profiles[u % len(profiles)]``.
    """
    rng = random.Random(seed)
    names = profiles or list(PROFILES)
    out: list[Play] = []
    for u in range(users):
        profile = names[u % len(names)]
        albums = catalogue(rng, u, 60 + rng.randint(0, 60))
        out.extend(listen(rng, f"{profile}-{u}", PROFILES[profile], albums, plays_per_user))
    return [Play(p.user, p.time, p.artist, p.title, p.ms_played, i)
            for i, p in enumerate(out)]


def heavy_log(plays: int = 137_000, artists: int = 1_500, seed: int = 0,
              habits: Habits = Habits(0.25, 0.15, 0.30, 0.25, 0.05)
              ) -> tuple[list[Play], list[list[SynthTrack]]]:
    """One heavy listener: ``plays`` plays over a catalogue of ``artists`` artists (about 10
    tracks per album, 2.5 albums per artist). The defaults give about 137,000 plays over
    20,000 distinct tracks - the size of the largest real log the project was measured on.
    Returns the plays and the catalogue (the listener's library)."""
    rng = random.Random(seed)
    albums = catalogue(rng, 0, artists)
    return list(listen(rng, "heavy-0", habits, albums, plays, known_at_start=400,
                       playlist_size=40)), albums


def listen(rng: random.Random, user: str, habits: Habits, albums: list[list[SynthTrack]],
           n: int, known_at_start: int = 150, playlist_size: int = 15) -> Iterator[Play]:
    """``n`` plays of one listener with ``habits`` over the catalogue ``albums``."""
    tracks = [t for al in albums for t in al]
    rng.shuffle(tracks)
    known = tracks[:known_at_start]  # what the user knows at the start
    known_set = set(known)
    unknown = tracks[known_at_start:]  # discovered by exploring
    by_artist: dict[str, list[SynthTrack]] = {}
    for t in tracks:
        by_artist.setdefault(t.artist, []).append(t)
    album_of = {tr: i for i, al in enumerate(albums) for tr in al}
    known_albums = sorted({album_of[tr] for tr in known})  # albums with a known track
    known_albums_set = set(known_albums)
    playlists = [rng.sample(known, playlist_size) for _ in range(4)]
    weights = habits.weights()
    t = datetime(2021, 1, 1, 8, tzinfo=timezone.utc).timestamp()
    history: list[SynthTrack] = []
    made = 0
    while made < n:
        # Sessions are hours to days apart (always more than 30 minutes).
        t += rng.choice([2, 5, 10, 20, 30]) * 3600 * rng.random() + 2700
        session_len = rng.randint(3, 25)
        habit = rng.choices(range(5), weights)[0]
        seq: list[SynthTrack] = []
        if habit == 0:
            al = albums[rng.choice(known_albums)]
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
        elif habit == 4:
            # An artist the user knows, all of their tracks shuffled (heard or not).
            pool = by_artist[rng.choice(history or known).artist]
            seq = rng.sample(pool, min(session_len, len(pool)))
        else:
            for _ in range(session_len):
                if unknown and rng.random() < 0.5:
                    tr = unknown.pop(rng.randrange(len(unknown)))
                else:
                    tr = rng.choice(known)
                seq.append(tr)
        for tr in seq:
            if tr not in known_set:
                known.append(tr)
                known_set.add(tr)
                i = album_of[tr]
                if i not in known_albums_set:
                    known_albums.append(i)
                    known_albums_set.add(i)
        if rng.random() < 0.02:  # taste drift: a playlist is refreshed
            playlists[rng.randrange(len(playlists))] = rng.sample(known, playlist_size)
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
