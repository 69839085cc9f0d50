"""The bulk reads' typed rows: what the auto-queue and the importer read of every track."""

from __future__ import annotations

import dataclasses
import gc

import pytest

from player.library import db as dbmod
from player.library.db import Library, QueueableTrack, TrackMeta


def _add(library: Library) -> list[int]:
    library.add_tracks([
        {"path": "/m/a.mp3", "mtime": 1.0, "size": 1, "title": "A", "artist": "X",
         "album": "Al", "albumartist": "XX", "genre": "Rock; Pop", "duration_ms": 1000},
        {"path": "/m/b.mp3", "mtime": 1.0, "size": 1, "title": "B"},  # no tags but a title
        {"path": "/m/gone.mp3", "mtime": 1.0, "size": 1, "title": "Gone"},
        {"path": "/m/opted-out.mp3", "mtime": 1.0, "size": 1, "title": "No"},
        {"path": "/m/broken.mp3", "mtime": 1.0, "size": 1, "title": "Broken"},
    ])
    ids = [r[0] for r in library.db.conn.execute("SELECT id FROM tracks ORDER BY id")]
    library.set_missing([ids[2]], True)
    library.set_no_autoqueue(ids[3], True)
    library.set_play_error(ids[4], "cannot decode")
    return ids


def test_queueable_tracks_are_typed_and_only_the_playable_ones(library: Library) -> None:
    ids = _add(library)
    rows = sorted(library.queueable_tracks(), key=lambda t: t.id)
    assert rows == [QueueableTrack(ids[0], "A", "X", "Al", "XX", "Rock; Pop", 1000),
                    QueueableTrack(ids[1], "B", None, None, None, None, None)]
    assert all(type(r) is QueueableTrack for r in rows)
    with pytest.raises(dataclasses.FrozenInstanceError):
        rows[0].title = "changed"  # type: ignore[misc]
    assert gc.isenabled()  # the pause during the read is over


def test_all_track_meta_has_every_track_with_its_missing_flag(library: Library) -> None:
    ids = _add(library)
    rows = {r.id: r for r in library.all_track_meta()}
    assert set(rows) == set(ids)
    assert rows[ids[0]] == TrackMeta(ids[0], "/m/a.mp3", "A", "X", "Al", "XX", "Rock; Pop",
                                     1000, False)
    assert rows[ids[2]].missing is True and rows[ids[0]].missing is False


def test_the_row_maker_equals_the_constructor_and_refuses_unknown_fields() -> None:
    row = (7, "/p", "T", None, "Al", None, "Jazz", 5, 1)
    made = dbmod._row_maker(TrackMeta, missing=bool)(row)
    assert made == TrackMeta(7, "/p", "T", None, "Al", None, "Jazz", 5, True)
    assert made.__slots__ == TrackMeta.__slots__ and not hasattr(made, "__dict__")
    with pytest.raises(ValueError, match="no field"):
        dbmod._row_maker(TrackMeta, misssing=bool)
