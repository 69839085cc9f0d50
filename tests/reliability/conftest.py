"""Fixtures for the reliability tests."""

from __future__ import annotations

import pytest

from player.library.db import Library


@pytest.fixture
def tracks_for_log(library: Library) -> list[int]:
    library.add_tracks([{"path": f"/m/{i}.mp3", "mtime": 1.0, "size": 1, "title": f"T{i}",
                         "artist": f"A{i % 5}", "duration_ms": 180_000} for i in range(20)])
    return [r["id"] for r in library.db.query("SELECT id FROM tracks ORDER BY id")]
