"""The next tracks announced to a playback backend, remembered by cue tag.

A backend commits to the next track before it is heard (the audio process decodes seconds
ahead), so the track that starts may be an announcement since superseded — a repick when a
retrain ends, "Play next" in a song's last seconds. Both the engine (which knows the track and
its source) and the stream backend (which knows the cue and its duration) therefore remember
every announcement since the current track began, and forget them by one rule: when the
track announced as ``tag`` starts, every announcement up to ``tag`` can never play again.
"""

from __future__ import annotations

from typing import Generic, TypeVar

T = TypeVar("T")

#: Announcements remembered at most (repicks during one track); the oldest go first.
LIMIT = 16


class Announcements(Generic[T]):
    """Items (whatever the owner keeps of an announcement) by cue tag, oldest first."""

    def __init__(self, limit: int = LIMIT) -> None:
        self._items: dict[int, T] = {}
        self._limit = limit

    def add(self, tag: int, item: T) -> None:
        """Remember an announcement (tags grow: a later announcement has a larger tag)."""
        self._items[tag] = item
        for old in sorted(self._items)[:-self._limit]:
            del self._items[old]

    def get(self, tag: int) -> T | None:
        return self._items.get(tag)

    def __contains__(self, tag: object) -> bool:
        return tag in self._items

    def started(self, tag: int) -> T | None:
        """The track announced as ``tag`` started: its item, and every announcement up to it
        forgotten. Later ones stay: sent after the backend had committed to this track, they
        are what follows it. None (and nothing forgotten) for a tag not remembered."""
        item = self._items.get(tag)
        if item is not None:
            self._items = {t: i for t, i in self._items.items() if t > tag}
        return item

    def latest(self) -> T | None:
        """The most recent announcement still remembered, if any."""
        return self._items[max(self._items)] if self._items else None

    def clear(self) -> None:
        """A new track was loaded: nothing announced before can play."""
        self._items.clear()
