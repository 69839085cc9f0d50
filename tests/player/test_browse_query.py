"""LatestQuery: only the newest query's answer reaches the GUI thread; a running query that a
newer one overtakes is interrupted (a real SQLite query, interrupted in the middle)."""

from __future__ import annotations

import sqlite3
import threading

from player.library.db import Library
from player.ui.browse_query import LatestQuery, gc_paused

#: A query that runs for minutes unless interrupted (a recursive count to 10^10).
SLOW_SQL = ("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n "
            "WHERE i < 10000000000) SELECT count(*) FROM n")


def test_a_newer_query_interrupts_the_running_one_and_only_its_answer_arrives(
        library: Library, qtbot) -> None:
    query = LatestQuery(library, "test-query")
    started, outcome = threading.Event(), {}

    def slow(lib: Library) -> int:
        started.set()
        try:
            return lib.db.conn.execute(SLOW_SQL).fetchone()[0]
        except sqlite3.OperationalError as exc:
            outcome["slow"] = str(exc)
            raise

    answers: list[tuple[int, object]] = []
    query.done.connect(lambda generation, result: answers.append((generation, result)))
    try:
        first = query.submit(slow)
        assert started.wait(10)
        second = query.submit(lambda lib: lib.db.conn.execute("SELECT 42").fetchone()[0])
        qtbot.waitUntil(lambda: not query.busy(), timeout=10_000)
        assert answers == [(second, 42)] and first < second
        assert "interrupt" in outcome["slow"]
    finally:
        query.close()


def test_a_failed_query_is_reported_as_a_library_error(library: Library, qtbot) -> None:
    query = LatestQuery(library, "test-query")
    failures: list[object] = []
    query.failed.connect(lambda _generation, error: failures.append(error))
    try:
        query.submit(lambda lib: lib.db.conn.execute("SELECT * FROM no_such_table").fetchall())
        qtbot.waitUntil(lambda: bool(failures), timeout=10_000)
        assert "no_such_table" in str(failures[0])
    finally:
        query.close()


def test_collection_pauses_nest_and_resume_once() -> None:
    import gc

    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer query still builds its answer
    assert gc.isenabled()
    gc.disable()  # turned off by someone else: left off
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
