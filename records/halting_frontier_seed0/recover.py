"""Recover the numbers of the 2026-12-02 halting frontier (commit 5d8e785) from its vector PDF.

Its runs (DRAW 8 glimpses, RAM 6 glimpses, seed 0) were not kept, but matplotlib wrote every plotted
point into ``docs/halting_frontier.pdf`` as page coordinates to 6-10 decimals. Mapping them through the
axis ticks gives each point to about 1e-7, well inside the 1e-4 grid of accuracies and mean glimpses
over 10,000 test canvases, to which they are rounded (the script refuses a point further than 1e-5
from that grid). The settings' titles and the halting runs' names come from the table beside the
figure, whose two-decimal numbers the recovered ones must match::

    git show 5d8e785:docs/halting_frontier.pdf > /tmp/frontier.pdf
    git show 5d8e785:docs/halting_frontier.md > /tmp/frontier.md
    python records/halting_frontier_seed0/recover.py /tmp/frontier.pdf /tmp/frontier.md \
        > records/halting_frontier_seed0/frontier.json
"""

from __future__ import annotations

import json
import re
import sys
import zlib
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

GREY, BLUE = "0.4980392157 G", "0.7058823529 RG"  # matplotlib's tab:grey stroke, tab:blue stroke
GRID = 1e-4  # accuracies and mean glimpses over 10,000 canvases


def panels(pdf: bytes) -> list[dict[str, list[tuple[float, float]] | float]]:
    """Per panel: the threshold curve (the grey line's vertices), the halting points (the blue markers)
    and the fixed-T accuracy (the first solid horizontal line across the axes), in data units."""
    stream = zlib.decompress(re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S)[0]).decode("latin1")
    lines = stream.split("\n")
    starts = [i for i, line in enumerate(lines) if line.startswith("/A1 gs")] + [len(lines)]
    found = []
    for begin, end in pairwise(starts):
        x_ticks, y_ticks = [], []
        for i in range(begin, end - 3):
            first = re.fullmatch(r"([\d.]+) ([\d.]+) m", lines[i])
            second = re.fullmatch(r"([\d.]+) ([\d.]+) l", lines[i + 1])
            if first and second and lines[i + 3] == "B":  # a tick mark, its label's text after it
                x1, y1, x2, y2 = map(float, (*first.groups(), *second.groups()))
                label = next(re.search(r"\[ (.*) \] TJ", t) for t in lines[i : i + 15] if "TJ" in t)
                value = float("".join(re.findall(r"\(\x00(.)\)", label.group(1))))
                (x_ticks if x1 == x2 else y_ticks).append((x1 if x1 == x2 else y1, value))
        to_x, to_y = (_linear(ticks) for ticks in (x_ticks, y_ticks))
        grey = next(i for i in range(begin, end) if lines[i].startswith(GREY) and "1.5 w" in lines[i - 1])
        threshold = []
        for line in lines[grey + 2 :]:
            if not re.fullmatch(r"[\d.]+ [\d.]+ [ml]", line):
                break
            x, y = map(float, line.split()[:2])
            threshold.append((to_x(x), to_y(y)))
        blue = next(i for i in range(begin, end) if lines[i].startswith(BLUE) and lines[i + 1] == "q")
        halting, x, y = [], 0.0, 0.0
        for line in lines[blue + 2 :]:
            if not line.endswith("Do"):
                break
            dx, dy = map(float, line.split()[4:6])  # each marker's cm moves on from the last
            x, y = x + dx, y + dy
            halting.append((to_x(x), to_y(y)))
        solid = next(i for i in range(blue, end) if lines[i] == "/DeviceRGB cs" and "[" not in lines[i - 1])
        fixed = to_y(float(lines[solid + 1].split()[1]))
        found.append({"threshold": threshold, "halting": halting, "fixed_acc": fixed})
    return found


def _linear(ticks: list[tuple[float, float]]) -> Callable[[float], float]:
    """Page coordinate -> data value, through the first and last of an axis's ``(position, label)`` ticks."""
    (p0, v0), (p1, v1) = ticks[0], ticks[-1]
    return lambda p: v0 + (p - p0) * (v1 - v0) / (p1 - p0)


def _on_grid(value: float) -> float:
    """``value`` rounded to :data:`GRID`, refused when it is not within 1e-5 of it."""
    rounded = round(value / GRID) * GRID
    if abs(value - rounded) > 1e-5:
        raise SystemExit(f"{value} is not on the {GRID} grid: the figure does not hold what this script expects")
    return round(rounded, 4)


def main(pdf: Path, table: Path) -> dict:
    """The recorded settings (``python -m lit_draw halting-frontier --recorded``): the numbers from ``pdf``,
    the titles and names from ``table``, checked against the table's two-decimal numbers."""
    rows = [line.split(" | ") for line in table.read_text().splitlines() if line.startswith("| ") and "%" in line]
    titles = list(dict.fromkeys(row[0][2:] for row in rows if len(row) == 4 and row[1].endswith("%")))
    settings = []
    for title, panel in zip(titles, panels(pdf.read_bytes()), strict=True):
        points = sorted((_on_grid(g), _on_grid(a)) for g, a in panel["halting"])
        named = [row for row in rows if row[0][2:] == title and not row[1].endswith("%")]
        for (glimpses, accuracy), row in zip(points, named, strict=True):  # the table lists them by glimpses
            assert (f"{glimpses:.2f}", f"{100 * accuracy:.2f}%") == (row[2], row[3].rstrip(" |")), (row, glimpses)
        settings.append(
            {
                "title": title,
                "fixed_acc": _on_grid(panel["fixed_acc"]),
                "threshold": [[_on_grid(g), _on_grid(a)] for g, a in panel["threshold"]],
                "halting": [list(p) for p in points],
                "names": [row[1] for row in named],
            }
        )
    about = (
        "the seed-0 runs of 2026-12-02 (2-core CPU, one thread, commit 668c080's training code), not kept: "
        "recovered from the vector PDF of the figure they drew (commit 5d8e785) by "
        "records/halting_frontier_seed0/recover.py."
    )
    return {"about": about, "settings": settings}


if __name__ == "__main__":
    print(json.dumps(main(Path(sys.argv[1]), Path(sys.argv[2])), indent=1))
