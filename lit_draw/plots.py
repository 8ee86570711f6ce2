"""Small PNG charts drawn with Pillow (a lit_draw dependency), so the figure script needs no matplotlib.

:func:`line_chart` draws lines with optional ``± sd`` bands and a legend, :func:`heatmap` a signed
matrix with its values, :func:`side_by_side` joins panels into one figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

#: Line colours, in order (the first series is blue, the second red, ...).
PALETTE = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189), (140, 86, 75))
WHITE, BLACK, GREY = (255, 255, 255), (0, 0, 0), (200, 200, 200)
#: Plot area margins in pixels: left, top, right, bottom.
MARGINS = (72, 64, 20, 48)


@dataclass
class Series:
    """One line: ``ys[i]`` at ``xs[i]``, with an optional band ``ys[i] ± sd[i]``."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    sd: Sequence[float] | None = None


def _font(size: int = 13) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 times a power of ten) covering ``[low, high]``."""
    if high <= low:
        low, high = low - 0.5, high + 0.5
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    last = math.ceil(high / step) * step
    return [round(first + i * step, 10) for i in range(round((last - first) / step) + 1)]


def _label(value: float, log: bool) -> str:
    return f"1e{value:g}" if log else f"{value:g}"


def _lighter(colour: tuple[int, int, int], amount: float = 0.75) -> tuple[int, int, int]:
    return tuple(round(c + (255 - c) * amount) for c in colour)  # type: ignore[return-value]


def line_chart(
    series: Sequence[Series],
    title: str,
    xlabel: str,
    ylabel: str,
    log_y: bool = False,
    size: tuple[int, int] = (640, 420),
) -> Image.Image:
    """Lines (and ``± sd`` bands) of ``series`` on shared axes; ``log_y`` plots ``log10`` of positive values."""

    def transform(y: float) -> float:
        return math.log10(y) if log_y else y

    points = [
        (x, transform(y))
        for s in series
        for x, y in zip(s.xs, s.ys)
        if not (log_y and y <= 0)
    ]
    bands = [
        transform(y + sign * d)
        for s in series
        if s.sd is not None
        for y, d in zip(s.ys, s.sd)
        for sign in (-1, 1)
        if d is not None and not (log_y and y + sign * d <= 0)
    ]
    image = Image.new("RGB", size, WHITE)
    draw = ImageDraw.Draw(image)
    draw.text((size[0] / 2, 6), title, fill=BLACK, font=_font(15), anchor="ma")
    left, top, right, bottom = MARGINS[0], MARGINS[1], size[0] - MARGINS[2], size[1] - MARGINS[3]
    if not points:
        draw.text(((left + right) / 2, (top + bottom) / 2), "no data", fill=BLACK, font=_font(), anchor="mm")
        return image
    xticks = nice_ticks(min(p[0] for p in points), max(p[0] for p in points))
    if all(float(p[0]).is_integer() for p in points):  # glimpses, steps: no fractional ticks
        xticks = [t for t in xticks if float(t).is_integer()]
        if len(xticks) < 2:  # one point
            xticks = [xticks[0] - 1, xticks[0] + 1]
    yvalues = [p[1] for p in points] + bands
    yticks = nice_ticks(min(yvalues), max(yvalues))
    if log_y:
        yticks = list(range(math.floor(min(yvalues)), math.ceil(max(yvalues)) + 1)) or [0, 1]
        yticks = yticks if len(yticks) > 1 else [yticks[0], yticks[0] + 1]

    def pixel(x: float, y: float) -> tuple[float, float]:
        px = left + (x - xticks[0]) / (xticks[-1] - xticks[0]) * (right - left)
        py = bottom - (y - yticks[0]) / (yticks[-1] - yticks[0]) * (bottom - top)
        return px, py

    for tick in yticks:
        _, py = pixel(xticks[0], tick)
        draw.line([(left, py), (right, py)], fill=GREY)
        draw.text((left - 6, py), _label(tick, log_y), fill=BLACK, font=_font(), anchor="rm")
    for tick in xticks:
        px, _ = pixel(tick, yticks[0])
        draw.line([(px, bottom), (px, bottom + 4)], fill=BLACK)
        draw.text((px, bottom + 6), _label(tick, False), fill=BLACK, font=_font(), anchor="ma")
    draw.rectangle([left, top, right, bottom], outline=BLACK)
    draw.text(((left + right) / 2, size[1] - 4), xlabel, fill=BLACK, font=_font(), anchor="md")
    draw.text((4, top - 16), ylabel, fill=BLACK, font=_font(), anchor="ls")
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        if s.sd is not None and len(s.xs) > 1:
            upper = [pixel(x, transform(y + d)) for x, y, d in zip(s.xs, s.ys, s.sd) if not (log_y and y - d <= 0)]
            lower = [pixel(x, transform(y - d)) for x, y, d in zip(s.xs, s.ys, s.sd) if not (log_y and y - d <= 0)]
            if len(upper) > 1:
                draw.polygon(upper + lower[::-1], fill=_lighter(colour))
    for index, s in enumerate(series):
        colour = PALETTE[index % len(PALETTE)]
        line = [pixel(x, transform(y)) for x, y in zip(s.xs, s.ys) if not (log_y and y <= 0)]
        if len(line) > 1:
            draw.line(line, fill=colour, width=2)
        for px, py in line if len(line) < 30 else []:
            draw.ellipse([px - 3, py - 3, px + 3, py + 3], fill=colour)
    x = left
    for index, s in enumerate(series):  # legend: one row under the title
        colour = PALETTE[index % len(PALETTE)]
        draw.rectangle([x, 24, x + 14, 34], fill=colour)
        draw.text((x + 18, 29), s.label, fill=BLACK, font=_font(), anchor="lm")
        x += 30 + draw.textlength(s.label, font=_font())
    return image


def heatmap(matrix: Sequence[Sequence[float]], title: str, xlabel: str, ylabel: str, cell: int = 40) -> Image.Image:
    """A signed matrix, red above zero and blue below (white at zero), each cell with its value."""
    rows, columns = len(matrix), len(matrix[0])
    scale = max((abs(v) for row in matrix for v in row), default=0) or 1
    left, top = 56, 52
    image = Image.new("RGB", (left + columns * cell + 16, top + rows * cell + 40), WHITE)
    draw = ImageDraw.Draw(image)
    draw.text((image.width / 2, 6), title, fill=BLACK, font=_font(15), anchor="ma")
    for i, row in enumerate(matrix):
        draw.text((left - 6, top + (i + 0.5) * cell), str(i), fill=BLACK, font=_font(), anchor="rm")
        for j, value in enumerate(row):
            strength = abs(value) / scale
            colour = _lighter((214, 39, 40) if value > 0 else (31, 119, 180), 1 - strength)
            box = [left + j * cell, top + i * cell, left + (j + 1) * cell, top + (i + 1) * cell]
            draw.rectangle(box, fill=colour, outline=GREY)
            draw.text((box[0] + cell / 2, box[1] + cell / 2), f"{value:g}", fill=BLACK, font=_font(11), anchor="mm")
    for j in range(columns):
        draw.text((left + (j + 0.5) * cell, top + rows * cell + 4), str(j), fill=BLACK, font=_font(), anchor="ma")
    draw.text((left + columns * cell / 2, image.height - 4), xlabel, fill=BLACK, font=_font(), anchor="md")
    draw.text((4, top - 4), ylabel, fill=BLACK, font=_font(), anchor="ls")
    return image


def side_by_side(panels: Sequence[Image.Image]) -> Image.Image:
    """Panels left to right on one white image, top-aligned."""
    image = Image.new("RGB", (sum(p.width for p in panels), max(p.height for p in panels)), WHITE)
    x = 0
    for panel in panels:
        image.paste(panel, (x, 0))
        x += panel.width
    return image
