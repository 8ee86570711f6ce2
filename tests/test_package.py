"""Packaging: the ``lit-draw`` command, the version and the license."""

from __future__ import annotations

import re
from importlib.metadata import entry_points, version
from pathlib import Path

import lit_draw
import lit_draw.__main__


def test_the_lit_draw_command_runs_what_python_m_lit_draw_runs():
    (entry,) = entry_points(group="console_scripts", name="lit-draw")
    assert entry.load() is lit_draw.__main__.run


def test_the_installed_version_is_the_packages_and_the_changelogs_newest():
    assert version("lit_draw") == lit_draw.__version__
    changelog = (Path(__file__).parents[1] / "CHANGELOG.md").read_text()
    releases = re.findall(r"^## (\d+\.\d+\.\d+) \((\d{4}-\d{2}-\d{2})\)$", changelog, flags=re.M)
    assert releases[0][0] == lit_draw.__version__  # newest first ("Unreleased" above it is not a release)
    assert [date for _, date in releases] == sorted((date for _, date in releases), reverse=True)


def test_the_license_is_the_one_pyproject_names():
    root = Path(__file__).parents[1]
    assert re.search(r'^license = "MIT"$', (root / "pyproject.toml").read_text(), flags=re.M)
    assert (root / "LICENSE").read_text().startswith("MIT License\n")
