"""What a wheel of Segue holds is declared in pyproject.toml: every package, nothing else."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_package_folder_is_listed_in_pyproject() -> None:
    """pyproject lists its packages (resources/ is installed as player.resources), so a new
    package folder that is not listed would silently be missing from the wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("player", "recommender")
        for init in (ROOT / top).rglob("__init__.py")
    }
    on_disk |= {name for name, folder in config["package-dir"].items()
                if (ROOT / folder / "__init__.py").exists()}
    assert set(config["packages"]) == on_disk
    assert not {"bench", "tests"} & {p.split(".")[0] for p in config["packages"]}


def test_every_shipped_file_is_package_data() -> None:
    """Each file in resources/ matches a package-data pattern, so the wheel carries it."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folder = ROOT / config["package-dir"]["player.resources"]
    patterns = config["package-data"]["player.resources"]
    shipped = {p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts
               and p.suffix not in (".py", ".pyc")}
    covered = {p for pattern in patterns for p in folder.glob(pattern)}  # as setuptools globs
    assert len(shipped) >= 11  # the icons, the entry template, the 8 demo tracks
    assert shipped <= covered, sorted(str(p) for p in shipped - covered)
