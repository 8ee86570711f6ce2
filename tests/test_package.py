"""Packaging: the ``lit-draw`` command and the version."""

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
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    newest = re.search(r"\*\*Changelog\.\*\* (\S+) \(", readme).group(1)
    assert newest == lit_draw.__version__
