"""Seamless playback, measured from recorded audio (issue 10): the real app plays into a
private PulseAudio null sink (desktop configuration) and ``parec`` records it.

For each format a 441 Hz sine cut across two files of one album must play back as the uncut
sine: no silence over 1 ms, no jump; pause/resume must not click nor skip; a seek must land
within 50 ms of where it was asked. The analysis is tested on its own in test_soundcheck.py.
"""

from __future__ import annotations


import pytest

from bench import soundrig

from .conftest import NON_UTF8, Session, known_to_fail_on_qt

pytestmark = [pytest.mark.audio, pytest.mark.slow]


@pytest.mark.parametrize("fmt", soundrig.GAPLESS_FORMATS)
def test_an_album_plays_without_a_gap_or_a_jump(session: Session, fmt: str,
                                                request: pytest.FixtureRequest) -> None:
    if fmt not in session.albums:
        pytest.skip(f"no encoder for {fmt} on this machine")
    known_to_fail_on_qt(request, session.backend, "a new output stream per track")
    figures = session.album(fmt)
    # the whole album sounded (nothing lost, nothing added beyond a fraction of a ms)
    assert figures.audible_s == pytest.approx(figures.expected_s, abs=0.001), figures
    assert figures.gap_ms < soundrig.MAX_GAP_MS, figures
    assert figures.jump < soundrig.MAX_JUMP, figures


def test_a_file_name_that_is_not_utf8_plays_seamlessly(session: Session,
                                                       request: pytest.FixtureRequest) -> None:
    assert NON_UTF8 not in session.refused, "the scanner refused a name that is not UTF-8"
    known_to_fail_on_qt(request, session.backend, "a new output stream per track")
    figures = session.album(NON_UTF8)
    assert figures.gap_ms < soundrig.MAX_GAP_MS and figures.jump < soundrig.MAX_JUMP, figures


def test_every_press_of_play_is_heard_from_the_start(session: Session) -> None:
    plays = soundrig.measure_plays(session.run)
    assert len(plays) == 4, plays  # three play -> stop, then the one the pauses follow
    assert all(0 <= p.started_ms <= 50 for p in plays), plays


def test_pause_and_resume_neither_click_nor_skip(session: Session,
                                                 request: pytest.FixtureRequest) -> None:
    known_to_fail_on_qt(request, session.backend, "pause stops the sound dead (a click)")
    pauses = soundrig.measure_pauses(session.run)
    assert len(pauses) == 2, pauses
    for pause in pauses:
        assert pause.click < soundrig.MAX_CLICK, pauses
        # a fade may take a few ms of the track; nothing more may go missing or repeat
        assert abs(pause.skipped_ms) <= 20, pauses


def test_a_seek_lands_within_50_ms(session: Session, request: pytest.FixtureRequest) -> None:
    known_to_fail_on_qt(request, session.backend, "QMediaPlayer seeks to a FLAC frame start")
    seeks = soundrig.measure_seeks(session.run)
    assert [s.target_ms for s in seeks] == [5000, 1500, 6500]
    assert all(abs(s.error_ms) <= 50 for s in seeks), seeks
