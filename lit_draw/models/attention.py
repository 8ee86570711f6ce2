"""Attention readers shared by the models: DRAW's Gaussian filterbank and RAM's retina.

Pixel convention (everywhere in lit_draw): 0-based, pixel ``a`` sits at coordinate ``a``, so the
centre of a ``W``-pixel-wide canvas is at ``(W - 1) / 2``.
"""

from __future__ import annotations

from typing import Literal, NamedTuple, get_args

import torch
from torch import Tensor, nn

from lit_draw.models.sequence_grad import SequenceLinear
from lit_draw.validation import one_of

#: DRAW's read filterbanks (see :class:`FilterbankWindow`)
Filter = Literal["paper", "dram"]

_EPS = 1e-8
_LOG_TAIL = -80.0  # filter taps below exp(-80) are exactly zero (see _gaussian)


def _gaussian(exponent: Tensor) -> Tensor:
    """``exp(exponent)`` for ``exponent <= 0``, with ``exp(x) = 0`` below ``x = -80``.

    Far tails are most of a narrow filter's taps, and the CPU's ``exp`` takes a slow path for
    results that underflow (12x slower); ``e^-80 < 2e-35`` and the row sums are clamped to at
    least ``1e-8``, so the cut moves a normalised filter tap by less than ``2e-27``.
    """
    return exponent.clamp_min(_LOG_TAIL).exp().masked_fill(exponent < _LOG_TAIL, 0.0)


def gaussian_filterbank(
    gx: Tensor, gy: Tensor, sigma2: Tensor, delta: Tensor, n: int, height: int, width: int
) -> tuple[Tensor, Tensor]:
    """Gaussian filterbank of Gregor et al. (2015), eqs. 19-20 (the paper's eqs. 25-26 in v2).

    Filter ``i = 1..n`` is centred at ``mu_i = g + (i - n/2 - 0.5) * delta``, so the grid is
    symmetric about ``g`` (``mu_1 = g - (n-1)/2 * delta``, ``mu_n = g + (n-1)/2 * delta``).
    Each row is a Gaussian over pixel coordinates ``a = 0..width-1`` (``b = 0..height-1`` for
    ``Fy``) with variance ``sigma2``, normalised to sum to 1 (``Z`` guarded against 0 when the
    window falls off the canvas).

    Args:
        gx, gy: ``[B]`` grid centre in pixels (0-based, pixel ``a`` at coordinate ``a``).
        sigma2: ``[B]`` isotropic variance in pixels squared.
        delta: ``[B]`` stride between filter centres in pixels.
        n: filters per axis (the glimpse is ``n x n``).
        height, width: canvas size in pixels.

    Returns:
        ``Fx`` of shape ``[B, n, width]`` and ``Fy`` of shape ``[B, n, height]``.
    """
    offsets = torch.arange(1, n + 1, device=gx.device, dtype=gx.dtype) - n / 2 - 0.5  # [n]
    mu_x = gx[:, None] + offsets * delta[:, None]  # [B, n]
    mu_y = gy[:, None] + offsets * delta[:, None]  # [B, n]
    a = torch.arange(width, device=gx.device, dtype=gx.dtype)  # [W]
    b = torch.arange(height, device=gx.device, dtype=gx.dtype)  # [H]
    scale = (-0.5 / sigma2)[:, None, None]  # [B, 1, 1]: one division per sample, not per filter tap
    fx = _gaussian((a - mu_x[:, :, None]) ** 2 * scale)  # [B, n, W]
    fy = _gaussian((b - mu_y[:, :, None]) ** 2 * scale)  # [B, n, H]
    fx = fx / fx.sum(-1, keepdim=True).clamp_min(_EPS)
    fy = fy / fy.sum(-1, keepdim=True).clamp_min(_EPS)
    return fx, fy


def filterbank_read(images: Tensor, fx: Tensor, fy: Tensor, gamma: Tensor) -> Tensor:
    """``read = gamma * Fy x Fx^T`` (Gregor et al. 2015, eq. 27): two batched matmuls.

    Args:
        images: ``[B, H, W]`` canvases.
        fx: ``[B, n, W]``; fy: ``[B, n, H]`` from :func:`gaussian_filterbank`.
        gamma: ``[B]`` intensity.

    Returns:
        ``[B, n, n]`` glimpse (rows follow ``y``, columns follow ``x``).
    """
    return gamma[:, None, None] * (fy @ images @ fx.transpose(1, 2))


class FilterbankWindow(nn.Module):
    """Maps a state ``h`` to the five window parameters of DRAW's read (Gregor et al., eqs. 21-24).

    A linear layer gives ``(g~x, g~y, log sigma2, log delta~, log gamma)``; then
    ``gx = (W + 1)/2 * (g~x + 1)`` and ``gy = (H + 1)/2 * (g~y + 1)`` as in the paper, which counts
    pixels from 1, shifted by one pixel to the 0-based convention (so ``g~ = 0`` is the exact canvas
    centre), and ``delta = (max(H, W) - 1) / (n - 1) * delta~``.

    ``filter="dram"`` reproduces the filter of jlindsey15/DRAM, the code the All-Step / Last-Step
    study ran: ``exp(-((a - mu) / (2 sigma2))^2)``, a Gaussian of variance ``2 sigma2^2`` where the
    paper's (eqs. 25-26) has variance ``sigma2 = exp(log sigma2)``. The returned ``sigma2`` is then
    that variance, ``2 exp(2 log sigma2)``, so the filterbank and every picture stay the paper's
    formula of it.
    """

    FILTERS: tuple[str, ...] = get_args(Filter)

    def __init__(self, in_features: int, n: int, height: int, width: int, filter: Filter = "paper") -> None:
        super().__init__()
        if n < 2:
            raise ValueError(f"read_n must be >= 2 (the stride formula divides by n - 1), got {n}")
        if filter not in self.FILTERS:
            raise ValueError(f"filter must be {one_of(self.FILTERS)}, got {filter!r}")
        self.n, self.height, self.width, self.filter = n, height, width, filter
        self.linear = SequenceLinear(in_features, 5)

    def forward(self, h: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """``h [B, in_features]`` -> ``gx, gy, sigma2, delta, gamma``, each ``[B]`` in pixels, float32.

        Float32 even under bf16 autocast: bf16 would round the window centre to a quarter pixel on
        a 100-pixel canvas and the filter rows would no longer sum to one.
        """
        gx_, gy_, log_sigma2, log_delta_, log_gamma = self.linear(h).float().unbind(-1)
        gx = (self.width + 1) / 2 * (gx_ + 1) - 1
        gy = (self.height + 1) / 2 * (gy_ + 1) - 1
        delta = (max(self.height, self.width) - 1) / (self.n - 1) * torch.exp(log_delta_)
        sigma2 = torch.exp(log_sigma2) if self.filter == "paper" else 2 * torch.exp(2 * log_sigma2)
        return gx, gy, sigma2, delta, torch.exp(log_gamma)


def loc_to_pixels(loc: Tensor, height: int, width: int) -> Tensor:
    """Map retina locations in ``[-1, 1]^2`` (``(-1, -1)`` the top-left canvas corner) to pixels.

    Args:
        loc: ``[..., 2]`` as ``(x, y)``.

    Returns:
        ``[..., 2]`` pixel coordinates (0-based; ``(0, 0)`` maps to ``((W-1)/2, (H-1)/2)``).
    """
    x, y = loc.unbind(-1)
    return torch.stack([(x + 1) * (width / 2) - 0.5, (y + 1) * (height / 2) - 0.5], -1)  # no host-to-device copy


class IntegralImage(NamedTuple):
    """Summed-area table of a batch of canvases (Crow 1984), built once per forward by :func:`integral_image`.

    ``table[b, r, c]`` is the sum of ``images[b, :r, :c]`` (``[B, H + 1, W + 1]``, float64), so any
    axis-aligned block sum is four reads, and the rows and columns outside the canvas are the
    clamped table indices (pixels outside read as zero).
    """

    table: Tensor  # [B, H + 1, W + 1] float64
    dtype: torch.dtype  # the canvases' dtype, that of every read

    @property
    def height(self) -> int:
        return self.table.shape[1] - 1

    @property
    def width(self) -> int:
        return self.table.shape[2] - 1


def integral_image(images: Tensor) -> IntegralImage:
    """The summed-area table of ``images`` (``[B, H, W]`` or ``[B, 1, H, W]``).

    Float64: a block average read as the difference of four sums of up to ``H W`` pixels in
    ``[0, 1]`` keeps an absolute error near ``1e-12``, far below float32's resolution, so the
    retina reads the same values as averaging the pixels directly (to float32 rounding).
    """
    if images.dim() == 4:
        images = images[:, 0]
    batch, height, width = images.shape
    table = images.new_empty(batch, height + 1, width + 1, dtype=torch.float64)  # no fill: only the border is zero
    table[:, 0] = 0
    table[:, 1:, 0] = 0
    table[:, 1:, 1:] = images
    return IntegralImage(table.cumsum_(2).cumsum_(1), images.dtype)  # [B, H + 1, W + 1]


def _read_levels(sat: IntegralImage, loc: Tensor, patch: int, levels: Tensor) -> Tensor:
    """Block averages of the squares at ``levels [B, L]`` (int) around ``loc [B, 2]``: ``[B, L, patch, patch]``.

    Square ``k`` has side ``patch * 2**k``, its top-left pixel ``round(edge - side / 2)``; output
    pixel ``(i, j)`` averages the ``2**k x 2**k`` block starting ``(i 2**k, j 2**k)`` pixels into it:
    one gather of the ``(patch + 1)^2`` block corners per square, then four-corner differences.
    """
    height, width = sat.height, sat.width
    loc = loc.detach().clamp(-1, 1)
    # Top-left corner of the canvas is the edge at -0.5: in edge units the centre is (loc+1)*W/2.
    edge = torch.stack([(loc[:, 0] + 1) * (width / 2), (loc[:, 1] + 1) * (height / 2)], -1)  # [B, 2], no host copy
    block = 2**levels  # [B, L] int
    side = (patch * block).to(edge.dtype)  # [B, L]
    start = torch.round(edge[:, None, :] - side[..., None] / 2).long()  # [B, L, 2] top-left pixel (x, y)
    steps = torch.arange(patch + 1, device=loc.device) * block[..., None]  # [B, L, patch + 1]
    xs = (start[..., 0, None] + steps).clamp(0, width)  # [B, L, patch + 1] table columns
    ys = (start[..., 1, None] + steps).clamp(0, height)  # [B, L, patch + 1] table rows
    batch, canvases, stride = loc.shape[0], sat.table.shape[0], (height + 1) * (width + 1)
    if batch % canvases:
        raise ValueError(f"retina.loc must have a multiple of {canvases} rows (the table's canvases), got {batch}")
    row = torch.arange(batch, device=loc.device) % canvases  # [B]: run-major, row m * canvases + b reads canvas b
    index = row[:, None, None, None] * stride + ys[..., :, None] * (width + 1) + xs[..., None, :]  # [B, L, p+1, p+1]
    # One flat gather (advanced indexing with a batch index is ~50x slower on CPU).
    corners = sat.table.view(-1).gather(0, index.flatten()).view(index.shape)  # [B, L, patch + 1, patch + 1]
    sums = corners[..., 1:, 1:] - corners[..., :-1, 1:] - corners[..., 1:, :-1] + corners[..., :-1, :-1]
    return (sums / (block * block)[..., None, None]).to(sat.dtype)  # [B, L, patch, patch]


def retina(images: Tensor | IntegralImage, loc: Tensor, patch: int, scales: int) -> Tensor:
    """Multi-resolution glimpse of Mnih et al. (2014), vectorised over the batch.

    Square ``k = 0..scales-1`` has side ``patch * 2**k`` pixels, is centred on ``loc`` (its
    top-left pixel rounded to the pixel grid) and is averaged down to ``patch x patch`` by
    ``2**k x 2**k`` blocks. Pixels outside the canvas read as zero. ``loc`` is data: no gradient
    flows through it.

    The blocks are read from the summed-area table (:func:`integral_image`): ``(patch + 1)^2``
    reads per square whatever its side, instead of gathering ``(patch 2**k)^2`` pixels. A model
    taking several glimpses of the same canvases builds the table once and passes it here.

    Args:
        images: ``[B, H, W]`` or ``[B, 1, H, W]`` canvases, or their :class:`IntegralImage`.
        loc: ``[B, 2]`` as ``(x, y)`` in ``[-1, 1]`` (clamped to it); ``(-1, -1)`` is the
            top-left corner, ``(0, 0)`` the centre. ``M B`` rows (run-major: row ``m B + b``) read
            canvas ``b`` ``M`` times: rollouts of the same canvases share one table.
        patch: side of each output patch in pixels.
        scales: number of nested squares.

    Returns:
        ``[B, scales, patch, patch]`` (``[M B, ...]`` for ``M B`` locations), in the canvases' dtype.
    """
    sat = images if isinstance(images, IntegralImage) else integral_image(images)
    levels = torch.arange(scales, device=loc.device).expand(loc.shape[0], scales)  # [B, scales]
    return _read_levels(sat, loc, patch, levels)


def retina_level(images: Tensor | IntegralImage, loc: Tensor, patch: int, level: Tensor) -> Tensor:
    """One retina square per sample: ``retina(images, loc, patch, scales)[b, level[b]]``, reading only it.

    WS-RAM's zoom action picks one level per glimpse (Ba et al. 2015); this reads that square alone.

    Args:
        images: as for :func:`retina` (canvases or their :class:`IntegralImage`).
        loc: ``[B, 2]`` (or ``[M B, 2]``, run-major) in ``[-1, 1]``.
        patch: side of the output patch in pixels.
        level: ``[B]`` (or ``[M B]``) int, the square ``k`` (side ``patch * 2**k``) read for each sample.

    Returns:
        ``[B, patch, patch]``.
    """
    sat = images if isinstance(images, IntegralImage) else integral_image(images)
    return _read_levels(sat, loc, patch, level[:, None])[:, 0]
