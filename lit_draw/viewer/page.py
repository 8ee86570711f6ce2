"""The viewer's page: one self-contained HTML file (inline CSS, JS and data; no network).

The template (``page.html``), its style (``viewer.css``) and its script (``viewer.js``) ship as
package data; the data is the dict of :func:`lit_draw.viewer.build.page_data`, embedded as JSON.
"""

from __future__ import annotations

import html
import json
from importlib.resources import files
from typing import Any


def _asset(name: str) -> str:
    return files("lit_draw.viewer").joinpath(name).read_text(encoding="utf-8")


def render_page(data: dict[str, Any]) -> str:
    """The HTML page showing ``data`` (from :func:`~lit_draw.viewer.build.page_data`)."""
    # "<" only occurs inside JSON strings, where \u003c reads back the same: no "</script>" ends the block.
    payload = json.dumps(data, separators=(",", ":")).replace("<", "\\u003c")
    page = _asset("page.html")
    for key, value in (
        ("TITLE", html.escape(data["title"])),
        ("CSS", _asset("viewer.css")),
        ("JS", _asset("viewer.js")),
    ):
        page = page.replace("{{" + key + "}}", value)
    return page.replace("{{DATA}}", payload)  # last: the data may contain any text
