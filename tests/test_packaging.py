"""Every data file the code reads ships in the distribution: the package-data patterns of
pyproject.toml cover every file git tracks in the package folders that is not Python."""

from __future__ import annotations

import fnmatch
import subprocess
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent


def test_package_data_covers_every_data_file():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    folders = config["package-dir"]
    patterns = config["package-data"]
    try:
        tracked = subprocess.run(["git", "ls-files", *folders.values()], cwd=ROOT,
                                 capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    missing = []
    for path in tracked:
        if path.endswith((".py", ".pyi")) or "__pycache__" in path:
            continue
        package, folder = max(((p, f) for p, f in folders.items()
                               if path.startswith(f + "/")), key=lambda pf: len(pf[1]))
        inside = path[len(folder) + 1:]
        if not any(fnmatch.fnmatch(inside, pattern) for pattern in patterns.get(package, [])):
            missing.append(path)
    assert not missing, f"not in [tool.setuptools.package-data]: {missing}"
