"""Where the recommender's benchmarks find the public listening log, said once.

The log is one person's Spotify account-data export (``StreamingHistory0..5.json``: 54,429
plays, 2021-2022) published by Jonas-Mika Senghaas under the MIT licence at
github.com/jonas-mika/spotify-streaming-history-viz (folder ``data/``). It is not part of
this repository: download that folder anywhere and pass it with ``--log PATH``, or set
``SEGUE_PUBLIC_LOG``. Without either, the benchmarks look in the project's read-only
neighbour folder ``../shared/datasets/spotify-streaming-history-jonas-mika`` (where the
development machines keep a copy); when nothing is found there they say so and skip.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

ENV = "SEGUE_PUBLIC_LOG"
SOURCE = ("one person's Spotify export, 54,429 plays, 2021-2022, from "
          "github.com/jonas-mika/spotify-streaming-history-viz (data/, MIT licence)")
_NEIGHBOUR = (Path(__file__).resolve().parents[2] / "shared" / "datasets"
              / "spotify-streaming-history-jonas-mika")


def default_path() -> Path:
    """``$SEGUE_PUBLIC_LOG`` when set, else the copy in ``../shared`` (may not exist)."""
    env = os.environ.get(ENV, "").strip()
    return Path(env) if env else _NEIGHBOUR


def add_option(parser: argparse.ArgumentParser) -> None:
    """``--log PATH``: the public log's folder or files (default: see ``default_path``)."""
    parser.add_argument("--log", type=Path, default=None, metavar="PATH",
                        help=f"the public listening log, a file or folder ({SOURCE}); "
                             f"default: ${ENV}, else {_NEIGHBOUR}")


def resolve(value: Path | None) -> Path:
    """The path given with ``--log``, or the default."""
    return value if value is not None else default_path()
