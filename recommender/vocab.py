"""Vocabularies and what is known of each track: ids, artist, album, genre, year, loudness.

numpy + stdlib only. Two things live here:

* ``Vocab``: caller ids (tracks, field values) to dense indices, 0 = padding / unknown;
* ``TrackFields``: the metadata of a catalogue as columns - for every track id, one index per
  field (``FIELDS``) into that field's own ``Vocab`` of values. A million tracks cost a few
  int32 arrays, not a million dicts. The network gives each field value an embedding; a
  track's vector is its own embedding plus its fields', and a track the network never
  trained on (unplayed, or added since) is scored from its fields alone.

Field values are normalised text (``logs.normalise``); ``year`` becomes a five-year bucket
and ``loudness`` (integrated LUFS) a 2 dB bucket, so that neighbours share an embedding.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from typing import Any

import numpy as np

from .logs import TrackId, normalise

PAD = 0

#: The per-track fields a model may use, in column order. Adding one here (and to
#: ``field_value``) is all a new per-track feature needs: the network, the checkpoint and
#: cold scoring handle the columns generically.
FIELDS = ("artist", "album", "genre", "year", "loudness")
_ARTIST = FIELDS.index("artist")


class Vocab:
    """Maps caller ids (tracks, field values) to dense indices; index 0 is padding / unknown."""

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


def field_value(field: str, raw: Any) -> str | None:
    """The normalised value of one metadata field (``None``: unknown or unusable)."""
    if raw is None or isinstance(raw, bool):
        return None
    if field == "year":
        try:
            year = int(str(raw).strip()[:4])
        except ValueError:
            return None
        return f"{year - year % 5}s" if 1000 <= year <= 2999 else None
    if field == "loudness":
        try:
            lufs = float(raw)
        except (TypeError, ValueError):
            return None
        return f"{2 * math.floor(lufs / 2)} LUFS" if math.isfinite(lufs) and -70 < lufs < 10 \
            else None
    text = normalise(str(raw))
    return text or None


class TrackFields:
    """Metadata as columns: track id -> row, and per row one value index per field.

    ``rows`` maps each track id with metadata to a row of ``columns`` ([at least rows,
    len(FIELDS)], int32, 0 = unknown value; it grows in steps); ``values[f]`` is field
    ``FIELDS[f]``'s vocabulary. Merging newer metadata for a track replaces its known
    fields.
    """

    def __init__(self) -> None:
        self.rows = Vocab()
        self.values = [Vocab() for _ in FIELDS]
        self.columns = np.zeros((1, len(FIELDS)), dtype=np.int32)

    def __len__(self) -> int:
        """Tracks with metadata."""
        return len(self.rows) - 1

    def copy(self) -> TrackFields:
        """An independent copy (cheap: dicts, lists and one array)."""
        out = TrackFields()
        out.rows = _copy_vocab(self.rows)
        out.values = [_copy_vocab(v) for v in self.values]
        out.columns = self.columns.copy()
        return out

    def update(self, metadata: Mapping[TrackId, Mapping[str, Any]]) -> int:
        """Merge ``{track id: {"artist": .., "album": .., ...}}`` (other keys ignored).
        Returns how many track ids were new.

        Streamed: a library of a million tracks passes once, each raw value normalised
        once (a library repeats its artists, albums, genres and years thousands of times),
        and rows are written in blocks - never a million staged tuples.
        """
        start = len(self.rows)
        # raw value -> value index (0: unusable), per field: the same text normalises alike.
        seen: list[dict[Any, int]] = [{} for _ in FIELDS]
        block: list[tuple[int, list[int]]] = []

        def index(f: int, raw: Any) -> int:
            try:
                return seen[f][raw]
            except KeyError:
                value = field_value(FIELDS[f], raw)
                idx = self.values[f].add(value) if value is not None else 0
                seen[f][raw] = idx
                return idx
            except TypeError:  # an unhashable raw value: normalised each time
                value = field_value(FIELDS[f], raw)
                return self.values[f].add(value) if value is not None else 0

        for track, meta in metadata.items():
            if not isinstance(meta, Mapping):
                continue
            cells = [index(f, meta.get(name)) for f, name in enumerate(FIELDS)]
            if not cells[_ARTIST]:
                # What the player calls a track's artist: the album artist when the
                # track's own is missing.
                cells[_ARTIST] = index(_ARTIST, meta.get("albumartist"))
            if not any(cells):
                continue
            block.append((self.rows.add(track), cells))
            if len(block) >= 65_536:
                self._write(block)
                block = []
        self._write(block)
        return len(self.rows) - start

    def _write(self, block: list[tuple[int, list[int]]]) -> None:
        """Write rows' known values (a value of 0 keeps what the row had)."""
        if len(self.rows) > len(self.columns):
            grown = np.zeros((max(len(self.rows), 2 * len(self.columns)), len(FIELDS)),
                             dtype=np.int32)
            grown[: len(self.columns)] = self.columns
            self.columns = grown
        if not block:
            return
        rows = np.fromiter((r for r, _ in block), dtype=np.int64, count=len(block))
        cells = np.array([c for _, c in block], dtype=np.int32)
        self.columns[rows] = np.where(cells != 0, cells, self.columns[rows])

    def of(self, tracks: Iterable[TrackId]) -> np.ndarray:
        """[len(tracks), len(FIELDS)] value indices of ``tracks`` (zeros: nothing known)."""
        rows = np.fromiter((self.rows.get(t) for t in tracks), dtype=np.int64)
        return self.columns[rows]

    def column(self, name: str) -> int:
        """Column of field ``name``."""
        return FIELDS.index(name)

    def value_of(self, track: TrackId, name: str) -> str | None:
        """The normalised value of field ``name`` for ``track`` (``None`` when unknown)."""
        v = int(self.columns[self.rows.get(track), self.column(name)])
        return self.values[self.column(name)].ids[v] if v else None  # type: ignore[return-value]

    def to_payload(self) -> dict[str, Any]:
        """For a checkpoint: ids, each field's values (lists) and the columns (an int32
        array: the checkpoint stores it as a tensor)."""
        return {"fields": list(FIELDS), "tracks": self.rows.keys(),
                "values": [v.keys() for v in self.values],
                "columns": self.columns[1:len(self.rows)].copy()}

    @classmethod
    def from_payload(cls, data: Mapping[str, Any]) -> TrackFields:
        """Inverse of ``to_payload`` (fields matched by name; unknown ones dropped)."""
        out = cls()
        names = list(data["fields"])
        tracks = list(data["tracks"])
        columns = np.asarray(data["columns"], dtype=np.int64).reshape(len(tracks), len(names))
        values = [list(v) for v in data["values"]]
        if len(values) != len(names):
            raise ValueError("fields and values differ in length")
        for t in tracks:
            out.rows.add(t)
        if len(out.rows) != len(tracks) + 1:
            raise ValueError("duplicate track ids in the metadata")
        out.columns = np.zeros((len(out.rows), len(FIELDS)), dtype=np.int32)
        for src, name in enumerate(names):
            if name not in FIELDS:
                continue
            f = FIELDS.index(name)
            for v in values[src]:
                if not isinstance(v, str):
                    raise ValueError(f"field {name}: value {v!r} is not text")
                out.values[f].add(v)
            col = columns[:, src]
            if len(col) and (col.min() < 0 or col.max() >= len(out.values[f])):
                raise ValueError(f"field {name}: value index out of range")
            out.columns[1:, f] = col
        return out

    @classmethod
    def from_dicts(cls, metadata: Mapping[TrackId, Mapping[str, Any]]) -> TrackFields:
        """Build from ``{track id: {field: value}}``."""
        out = cls()
        out.update(metadata)
        return out


def _copy_vocab(v: Vocab) -> Vocab:
    out = Vocab()
    out.ids = list(v.ids)
    out.index = dict(v.index)
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
