"""Publication figures with matplotlib: lines with the seeds' spread as bands, every seed as a point,
a signed heatmap, and one call that writes a figure as PNG and as vector PDF.

Figures are built on ``matplotlib.figure.Figure`` directly (no ``pyplot``, so no window, no global
figure state and no backend to choose). Sizes are in inches at print scale, fonts 9-10 pt.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from matplotlib import rc_context
from matplotlib.axes import Axes
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

#: Okabe-Ito colours (distinguishable with colour-blindness and in greyscale print), in order.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#000000")
#: Markers and dash patterns of the few-point lines, in the palette's order: two series with the same
#: values (All-Step and exponential 0.9 per glimpse) still show as two.
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
DASHES = ("-", "--", "-.", ":", (0, (5, 1)), (0, (3, 1, 1, 1, 1, 1)), (0, (1, 2)))
#: One panel's size in inches.
PANEL = (4.2, 3.0)
STYLE = {
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.labelsize": 9,
    "legend.fontsize": 8,
    "xtick.labelsize": 8,
    "ytick.labelsize": 8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "pdf.fonttype": 42,  # TrueType in the PDF: text stays text, editable
    "savefig.bbox": "tight",
}


@dataclass
class Series:
    """One line: ``ys[i]`` at ``xs[i]``, with an optional band ``ys[i] ± sd[i]`` (the seeds' spread)."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    sd: Sequence[float] | None = None


def panels(count: int, title: str | None = None, columns: int | None = None) -> tuple[Figure, list[Axes]]:
    """A figure of ``count`` panels side by side (``columns`` to a row, the rest below), with an
    optional overall title."""
    columns = min(columns or count, count)
    rows = -(-count // columns)
    with _style():
        figure = Figure(figsize=(PANEL[0] * columns, PANEL[1] * rows), layout="constrained")
        axes = list(np.atleast_1d(figure.subplots(rows, columns)).flat)
        for spare in axes[count:]:  # a last row not filled
            figure.delaxes(spare)
        if title:
            figure.suptitle(title)
    return figure, axes[:count]


def line_chart(
    ax: Axes,
    series: Sequence[Series],
    title: str,
    xlabel: str,
    ylabel: str,
    log_y: bool = False,
    nonnegative: bool = False,
    legend: bool = True,
) -> None:
    """Draw ``series`` on ``ax``: a line each (with markers when there are few points) and, where
    given, a band of ``± sd``.

    Args:
        log_y: a logarithmic y axis (values and band edges that are not positive are left out).
        nonnegative: the quantity cannot be negative: the band is clipped at 0.
        legend: a legend in the panel (off where the figure has one for all its panels).
    """
    with _style():
        for index, s in enumerate(series):
            if not len(s.xs):
                continue
            colour = PALETTE[index % len(PALETTE)]
            xs, ys = np.asarray(s.xs, dtype=float), np.asarray(s.ys, dtype=float)
            few = len(xs) <= 20  # a marker and a dash pattern each, so that lines lying on each other stay apart
            marker = MARKERS[index % len(MARKERS)] if few else None
            dashes = DASHES[index % len(DASHES)] if few else "-"
            ax.plot(xs, ys, color=colour, label=s.label, marker=marker, linestyle=dashes, markersize=3.5, linewidth=1.5)
            if s.sd is not None and len(xs) > 1:
                sd = np.asarray(s.sd, dtype=float)
                low = np.maximum(ys - sd, 0.0) if nonnegative else ys - sd
                ax.fill_between(xs, low, ys + sd, color=colour, alpha=0.2, linewidth=0)
        if log_y:
            ax.set_yscale("log", nonpositive="mask")
        if series and all(float(x).is_integer() for s in series for x in s.xs):
            ax.xaxis.get_major_locator().set_params(integer=True)  # glimpses, steps: no fractional ticks
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(True, color="0.9", linewidth=0.6)
        if legend and any(len(s.xs) for s in series):
            ax.legend(frameon=False)
        elif not any(len(s.xs) for s in series):
            ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center")


def strip_chart(ax: Axes, groups: dict[str, Sequence[float]], title: str, ylabel: str) -> None:
    """Every value of each group as a point (one seed each, say), the group's mean as a short dark bar,
    the groups' names as the x ticks; the i-th group in the colour of :func:`line_chart`'s i-th series."""
    with _style():
        for index, values in enumerate(groups.values()):
            colour = PALETTE[index % len(PALETTE)]
            ax.scatter([index] * len(values), values, s=18, alpha=0.8, color=colour)
            ax.plot([index - 0.25, index + 0.25], [float(np.mean(values))] * 2, color="0.2")
        ax.set_xticks(range(len(groups)), list(groups), rotation=30, ha="right")
        ax.set_title(title)
        ax.set_ylabel(ylabel)
        ax.grid(True, axis="y", color="0.9", linewidth=0.6)


def twin_line(ax: Axes, series: Series, ylabel: str) -> None:
    """``series`` as a dashed grey line on a second y axis of ``ax`` (its legend entry joins ``ax``'s)."""
    with _style():
        twin = ax.twinx()
        twin.plot(
            np.asarray(series.xs, dtype=float),
            np.asarray(series.ys, dtype=float),
            color="0.45",
            linestyle="--",
            linewidth=1.2,
            label=series.label,
        )
        twin.set_ylabel(ylabel)
        lines, labels = ax.get_legend_handles_labels()
        more, more_labels = twin.get_legend_handles_labels()
        ax.legend(lines + more, labels + more_labels, frameon=False)


def heatmap(ax: Axes, matrix: Sequence[Sequence[float]], title: str, xlabel: str, ylabel: str) -> None:
    """A signed matrix on ``ax``: red above zero, blue below, white at zero, each cell with its value.

    Args:
        matrix: ``[rows, columns]`` values; row ``i`` is drawn at height ``i`` from the top.
    """
    values = np.asarray(matrix, dtype=float)
    scale = float(np.abs(values).max()) or 1.0
    with _style():
        image = ax.imshow(values, cmap="RdBu_r", norm=TwoSlopeNorm(0.0, -scale, scale))
        for (i, j), value in np.ndenumerate(values):
            ax.text(
                j,
                i,
                f"{value:g}",
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if abs(value) > 0.6 * scale else "black",
            )
        ax.set_xticks(range(values.shape[1]))
        ax.set_yticks(range(values.shape[0]))
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.spines[:].set_visible(False)
        ax.figure.colorbar(image, ax=ax, shrink=0.8)


def save(figure: Figure, png: Path, dpi: int = 200) -> list[Path]:
    """Write ``figure`` as ``png`` and as a vector PDF beside it (same name, ``.pdf``); returns both paths."""
    pdf = png.with_suffix(".pdf")
    with _style():
        figure.savefig(png, dpi=dpi)
        figure.savefig(pdf)
    return [png, pdf]


def _style() -> AbstractContextManager[None]:
    """:data:`STYLE` for what is built inside the block (matplotlib reads it when an artist is made)."""
    return rc_context(STYLE)
