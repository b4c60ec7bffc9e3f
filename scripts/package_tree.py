"""Lay out the `attnkit` package as it installs (pyproject's package-dir) in build/package-tree, as symlinks.

The repository keeps the levels side by side (params/, models/, sim/, ...), while they import as
attnkit.params, attnkit.models, ...; the import contract (import-linter) and mypy read a package from
a folder, so `make lint` points them at this tree. Prints the tree's path.
"""

import shutil
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TREE = ROOT / "build" / "package-tree"


def main() -> None:
    dirs = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-dir"]
    shutil.rmtree(TREE, ignore_errors=True)
    top = TREE / "attnkit"
    top.mkdir(parents=True)
    for f in (ROOT / dirs["attnkit"]).iterdir():
        if f.suffix == ".py" or (f.is_dir() and f.name != "__pycache__" and f"attnkit.{f.name}" not in dirs):
            (top / f.name).symlink_to(f)
    for name, folder in dirs.items():
        if name.count(".") == 1 and name != "attnkit" and not (top / name.split(".")[1]).exists():
            (top / name.split(".")[1]).symlink_to(ROOT / folder)
    print(TREE)


if __name__ == "__main__":
    main()
    sys.exit(0)
