"""Background jobs fail with the exception itself, and a cancelled job is not an error."""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest

from player.workers import Job, describe
from recommender.base import Cancelled


def _run(qtbot, fn: Any) -> tuple[Job, list[object]]:
    job = Job(fn, "probe")
    failures: list[object] = []
    job.failed.connect(failures.append)
    with qtbot.waitSignal(job.ended, timeout=10_000):
        job.start()
    return job, failures


def test_a_failure_arrives_as_the_exception_and_is_logged_as_an_error(
        qtbot, caplog: pytest.LogCaptureFixture) -> None:
    def work(_report: Any, _cancel: threading.Event) -> None:
        raise KeyError("no such track")

    with caplog.at_level(logging.INFO, logger="player.workers"):
        job, failures = _run(qtbot, work)
    assert len(failures) == 1 and isinstance(failures[0], KeyError)
    assert job.error is failures[0]
    assert describe(failures[0]) == "'no such track'"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and errors[0].exc_info is not None  # the traceback, for a bug


def test_a_cancelled_job_is_not_logged_as_an_error(qtbot,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    started = threading.Event()

    def work(_report: Any, cancel: threading.Event) -> None:
        started.set()
        cancel.wait(10)
        raise Cancelled("cancelled")

    job = Job(work, "retrain")
    failures: list[object] = []
    job.failed.connect(failures.append)
    with caplog.at_level(logging.INFO, logger="player.workers"):
        with qtbot.waitSignal(job.ended, timeout=10_000):
            job.start()
            assert started.wait(10)
            job.cancel()
    assert len(failures) == 1 and isinstance(failures[0], Cancelled)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not any(r.exc_info for r in caplog.records)  # no traceback
    assert any("cancelled" in r.getMessage() for r in caplog.records)


def test_describe_names_an_exception_without_a_message() -> None:
    assert describe(TimeoutError()) == "TimeoutError"
    assert describe(OSError("disk full")) == "disk full"
