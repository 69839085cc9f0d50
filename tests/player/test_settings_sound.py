"""The sound settings: defaults, and bad values in settings.json fall back with a warning."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from player.playback.gain import ReplayGainMode
from player.settings import Settings


def test_defaults(data_dir: Path) -> None:
    s = Settings.load(data_dir)
    assert (s.replaygain_mode, s.replaygain_preamp_db, s.crossfade_s) == ("auto", 0.0, 0)
    assert s.replaygain is ReplayGainMode.AUTO


def test_good_values_round_trip(data_dir: Path) -> None:
    s = Settings(replaygain_mode="album", replaygain_preamp_db=-3.5, crossfade_s=12)
    s.save(data_dir)
    back = Settings.load(data_dir)
    assert (back.replaygain, back.replaygain_preamp_db, back.crossfade_s) == (
        ReplayGainMode.ALBUM, -3.5, 12)


@pytest.mark.parametrize(("key", "value"), [
    ("replaygain_mode", "loud"), ("replaygain_mode", 3), ("replaygain_mode", None),
    ("replaygain_preamp_db", 40), ("replaygain_preamp_db", "6"), ("replaygain_preamp_db", True),
    ("crossfade_s", 13), ("crossfade_s", -1), ("crossfade_s", 2.5), ("crossfade_s", "5"),
])
def test_a_bad_value_takes_the_default_with_a_warning(data_dir: Path, caplog, key: str,
                                                      value: object) -> None:
    (data_dir / "settings.json").write_text(json.dumps({key: value, "volume": 33}))
    with caplog.at_level(logging.WARNING, logger="player.settings"):
        s = Settings.load(data_dir)
    assert getattr(s, key) == getattr(Settings(), key)
    assert s.volume == 33  # the rest of the file is kept
    assert key in caplog.text
