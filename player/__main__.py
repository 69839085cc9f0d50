"""``python -m player`` == ``segue``: no subcommand opens the GUI, else the command line."""

from __future__ import annotations

import sys


def main() -> None:
    from player.cli import main as cli_main

    sys.exit(cli_main())


if __name__ == "__main__":
    main()
