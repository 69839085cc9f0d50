"""Albums: which tracks belong together, and in what order.

One definition for the whole player: the engine asks whether the next track continues an album
played in order (then it joins gaplessly with album gain, never crossfaded), and browsing
sorts an album's tracks the same way.
"""

from __future__ import annotations

from player.library.db import Track, fold

Row = Track


def album_key(track: Row) -> tuple[str, str] | None:
    """``(album artist, album)`` folded, or None for a track without an album.

    The album artist comes first (a compilation's tracks have different artists but one
    album artist); without one, a track flagged as part of a compilation is "Various
    Artists"'s (as the browser files it), else the track artist stands in.
    """
    album = track.album
    if not album:
        return None
    artist = track.albumartist or ("Various Artists" if track.compilation else track.artist) or ""
    return fold(str(artist)), fold(str(album))


def album_position(track: Row) -> tuple[int, int]:
    """``(disc, track number)``; a missing disc is disc 1, a missing number sorts last."""
    disc = track.disc_number or 1
    number = track.track_number
    return int(disc), int(number) if number else 1 << 30


def follows_in_album(previous: Row | None, track: Row | None) -> bool:
    """True when ``track`` is the next track of ``previous``'s album: the same album, and the
    next number on the same disc, or the first track of the next disc."""
    if previous is None or track is None:
        return False
    key = album_key(previous)
    if key is None or key != album_key(track):
        return False
    if not previous.track_number or not track.track_number:
        return False
    (disc_a, num_a), (disc_b, num_b) = album_position(previous), album_position(track)
    return (disc_b == disc_a and num_b == num_a + 1) or (disc_b == disc_a + 1 and num_b == 1)
