"""Canvas generation: translated, scaled, distorted and cluttered MNIST, one vectorised call.

Pixel convention (as everywhere in lit_draw): 0-based, pixel ``a`` sits at coordinate ``a``, so a
28-pixel digit spans ``0..27`` with its centre at ``13.5``. A digit pixel ``u`` lands on the canvas
at ``p = A (u - 13.5) + t``, where ``t`` is the digit centre on the canvas and

    A = s * R(theta) @ [[1, shear], [0, 1]] @ diag(exp(ax), exp(ay))

with ``s ~ U(scale)`` and, for a distortion strength ``d``, ``theta ~ U(-30 d, 30 d)`` degrees,
``shear ~ U(-0.3 d, 0.3 d)`` and log-scales ``ax, ay ~ U(-0.3 d, 0.3 d)`` (``d = 0``: ``A = s I``).
``A`` is always invertible (``det A = s^2 exp(ax + ay) > 0``). A scaled or distorted digit is
resampled through one ``affine_grid`` + ``grid_sample`` (bilinear, ``align_corners=True``, zero
padding). An unscaled, undistorted digit (``A = I``) is not resampled: its 28x28 patch is added at
an integer offset, as DeepMind's ``mnist_cluttered`` generator (used by Mnih et al. 2014) places it.

Clutter follows that generator too: each fragment is a ``c x c`` crop (8x8 in the published
60x60 and 100x100 data) of another digit at a random integer offset, added to the canvas at a
random integer spot fully inside it; the sum of digit and fragments is clamped to 1 (the
generator clamps after the fragments and again after the digit, which is the same thing).

The returned box maps the centres of the first and last ink pixels: exact for a pasted digit; a
resampled one can leave faint ink less than one digit pixel (``s`` canvas pixels without
distortion) outside it.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

DIGIT_SIZE = 28
_CENTRE = (DIGIT_SIZE - 1) / 2  # 13.5


def ink_boxes(digits: Tensor) -> Tensor:
    """Ink bounding boxes of 28x28 digits: first and last non-zero column and row.

    Args:
        digits: ``[N, 28, 28]`` images (any dtype; ink is any value > 0).

    Returns:
        ``[N, 4]`` float32 ``(x_min, y_min, x_max, y_max)`` in pixel coordinates. A blank digit
        gets the whole patch ``(0, 0, 27, 27)``.
    """
    ink = digits > 0  # [N, 28, 28]
    cols, rows = ink.any(dim=1), ink.any(dim=2)  # [N, 28] (x), [N, 28] (y)
    last = DIGIT_SIZE - 1
    x_min = cols.int().argmax(dim=1)
    x_max = last - cols.flip(1).int().argmax(dim=1)
    y_min = rows.int().argmax(dim=1)
    y_max = last - rows.flip(1).int().argmax(dim=1)
    boxes = torch.stack([x_min, y_min, x_max, y_max], dim=1).float()  # [N, 4]
    blank = ~cols.any(dim=1)
    full = torch.tensor([0.0, 0.0, last, last], device=digits.device)
    return torch.where(blank[:, None], full, boxes)


def _uniform(shape: tuple[int, ...], lo: float, hi: float, generator: torch.Generator, device: torch.device) -> Tensor:
    return lo + (hi - lo) * torch.rand(shape, generator=generator, device=device)


def _random_affine(
    batch: int,
    scale: tuple[float, float],
    distortion: float,
    generator: torch.Generator,
    device: torch.device,
) -> Tensor:
    """Per-sample linear maps ``A`` (see the module docstring): ``[B, 2, 2]``."""
    max_angle, max_shear = distortion * math.pi / 6, 0.3 * distortion  # 30 d degrees, 0.3 d
    s = _uniform((batch,), *scale, generator, device)  # [B]
    theta = _uniform((batch,), -max_angle, max_angle, generator, device)  # [B]
    shear = _uniform((batch,), -max_shear, max_shear, generator, device)  # [B]
    log_scale = _uniform((batch, 2), -max_shear, max_shear, generator, device)  # [B, 2]
    cos, sin = torch.cos(theta), torch.sin(theta)
    rotation = torch.stack([cos, -sin, sin, cos], dim=1).view(batch, 2, 2)
    shearing = torch.zeros(batch, 2, 2, device=device)
    shearing[:, 0, 0] = shearing[:, 1, 1] = 1.0
    shearing[:, 0, 1] = shear
    return s[:, None, None] * rotation @ shearing @ torch.diag_embed(log_scale.exp())  # [B, 2, 2]


def _inverse_2x2(a: Tensor) -> Tensor:
    """Closed-form inverse of ``[B, 2, 2]`` matrices."""
    det = a[:, 0, 0] * a[:, 1, 1] - a[:, 0, 1] * a[:, 1, 0]  # [B]
    adj = torch.stack([a[:, 1, 1], -a[:, 0, 1], -a[:, 1, 0], a[:, 0, 0]], dim=1).view(-1, 2, 2)
    return adj / det[:, None, None]


def _transform_boxes(boxes28: Tensor, a: Tensor, t: Tensor) -> Tensor:
    """Axis-aligned bound of the four ink-box corners mapped by ``p = A (u - 13.5) + t``.

    Args:
        boxes28: ``[B, 4]`` ink boxes on the 28x28 digit; a: ``[B, 2, 2]``; t: ``[B, 2]``.

    Returns:
        ``[B, 4]`` boxes on the canvas (exact for scale and translation; for rotation and shear,
        the bound of the transformed box, which may be slightly looser than the ink).
    """
    x0, y0, x1, y1 = boxes28.unbind(dim=1)
    corners = torch.stack([x0, x1, x0, x1, y0, y0, y1, y1], dim=1).view(-1, 2, 4)  # [B, (x, y), 4]
    mapped = a @ (corners - _CENTRE) + t[:, :, None]  # [B, 2, 4]
    return torch.cat([mapped.amin(dim=2), mapped.amax(dim=2)], dim=1)  # [B, 4]


def _add_patches(canvas: Tensor, patches: Tensor, spots: Tensor) -> Tensor:
    """Add patch ``k`` of sample ``b`` to ``canvas[b]`` with its top-left pixel at ``spots[b, k]``.

    One ``scatter_add`` over the ``K c^2`` pasted pixels per canvas (not ``K`` whole canvases).

    Args:
        canvas: ``[B, 1, H, W]``.
        patches: ``[B, K, c, c]``.
        spots: ``[B, K, 2]`` int ``(x, y)``, with every patch fully inside the canvas.

    Returns:
        ``[B, 1, H, W]``, the sum.
    """
    c, width = patches.shape[-1], canvas.shape[-1]
    steps = torch.arange(c, device=canvas.device)  # [c]
    dst = (spots[..., 1, None, None] + steps[:, None]) * width + spots[..., 0, None, None] + steps  # [B, K, c, c]
    return canvas.flatten(1).scatter_add(1, dst.flatten(1), patches.flatten(1)).view_as(canvas)


def _clutter_fragments(
    sources: Tensor, clutter_size: int, size: int, generator: torch.Generator
) -> tuple[Tensor, Tensor]:
    """One random ``c x c`` crop of each source and a random spot for it fully inside the canvas.

    Args:
        sources: ``[B, K, 28, 28]`` float source digits; size: the canvas side.

    Returns:
        ``fragments [B, K, c, c]`` and their top-left ``spots [B, K, 2]`` ``(x, y)`` on the canvas.
    """
    batch, fragments, device, c = sources.shape[0], sources.shape[1], sources.device, clutter_size
    draws = [  # per fragment: crop offset, then canvas spot, each (x, y)
        (
            torch.randint(0, DIGIT_SIZE - c + 1, (batch, 2), generator=generator, device=device),
            torch.randint(0, size - c + 1, (batch, 2), generator=generator, device=device),
        )
        for _ in range(fragments)
    ]
    crop = torch.stack([d[0] for d in draws], 1)  # [B, K, 2]
    spots = torch.stack([d[1] for d in draws], 1)  # [B, K, 2]
    steps = torch.arange(c, device=device)  # [c]
    src = (crop[..., 1, None, None] + steps[:, None]) * DIGIT_SIZE + crop[..., 0, None, None] + steps  # [B, K, c, c]
    return sources.flatten(2).gather(2, src.flatten(2)).view(batch, fragments, c, c), spots


def make_canvases(
    digits: Tensor,
    boxes28: Tensor,
    clutter_sources: Tensor | None = None,
    *,
    canvas_size: int,
    translate: bool = True,
    spread: float = 1.0,
    scale: tuple[float, float] = (1.0, 1.0),
    clutter_size: int = 8,
    noise_std: float = 0.0,
    distortion: float = 0.0,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor]:
    """Place each digit on a ``canvas_size`` square canvas, add clutter and noise.

    Args:
        digits: ``[B, 28, 28]`` float digits in ``[0, 1]``.
        boxes28: ``[B, 4]`` their ink boxes from :func:`ink_boxes`.
        clutter_sources: ``[B, K, 28, 28]`` float digits in ``[0, 1]``; sample ``b`` gets ``K``
            fragments, fragment ``k`` a random ``clutter_size``-square crop of
            ``clutter_sources[b, k]`` added at a uniformly random integer spot fully inside the
            canvas (see the module docstring). ``None`` (or ``K = 0``) means no clutter.
        canvas_size: canvas side ``H = W`` in pixels (>= 28).
        translate: place the digit's 28x28 patch (after scaling and distortion) uniformly at
            random fully inside the canvas (at an integer offset when it is neither scaled nor
            distorted); ``False`` centres it (an unscaled, undistorted patch at offset
            ``(canvas_size - 28) // 2``). A patch larger than the canvas along an axis is centred
            along that axis.
        spread: with ``translate``, the fraction in ``[0, 1]`` of the room around the centre
            that placement may use: the digit's centre is drawn uniformly within
            ``spread * room / 2`` of the canvas centre along each axis (``1``: anywhere fully
            inside, ``0``: centred). A placement curriculum widens it (:class:`CanvasMNIST`'s
            ``translate_curriculum``).
        scale: ``(lo, hi)``; each digit is scaled by ``U(lo, hi)`` (1.0 = 28 pixels).
        clutter_size: side of the clutter fragments in pixels (<= 28).
        noise_std: standard deviation of additive Gaussian noise (then clamped to ``[0, 1]``).
        distortion: random-affine strength ``d >= 0`` (see the module docstring; 0 = none).
        generator: source of all randomness, on the device of ``digits``.

    Returns:
        ``canvas`` float32 ``[B, 1, H, W]`` in ``[0, 1]`` and ``box`` float32 ``[B, 4]``, the
        digit's ink box ``(x_min, y_min, x_max, y_max)`` on the canvas in pixel coordinates.
    """
    device = digits.device
    digits = digits.float()
    if tuple(scale) == (1.0, 1.0) and distortion == 0:
        canvas, a, t = _paste_digits(digits, canvas_size, translate, spread, generator)
    else:
        canvas, a, t = _resample_digits(digits, canvas_size, translate, spread, scale, distortion, generator)
    if clutter_sources is not None and clutter_sources.shape[1] > 0:
        fragments, spots = _clutter_fragments(clutter_sources.float(), clutter_size, canvas_size, generator)
        canvas = _add_patches(canvas, fragments, spots)  # [B, 1, H, W]
    canvas = canvas.clamp(max=1.0)  # the ink of overlapping strokes saturates
    if noise_std > 0:
        canvas = canvas + noise_std * torch.randn(canvas.shape, generator=generator, device=device)
    return canvas.clamp(0.0, 1.0), _transform_boxes(boxes28.float(), a, t)


def _paste_digits(
    digits: Tensor, canvas_size: int, translate: bool, spread: float, generator: torch.Generator
) -> tuple[Tensor, Tensor, Tensor]:
    """Each ``[B, 28, 28]`` digit added at an integer offset: ``canvas [B, 1, H, W]``, ``A = I``, centre ``t [B, 2]``.

    The offset is uniform over the integers in ``[room // 2 - r, room // 2 + r]`` (clipped to
    ``[0, room]``), ``r = ceil(spread * room / 2)``: the whole room at ``spread = 1``.
    """
    batch, device = digits.shape[0], digits.device
    room = canvas_size - DIGIT_SIZE
    if translate:
        reach = math.ceil(spread * room / 2)
        lo, hi = max(room // 2 - reach, 0), min(room // 2 + reach, room)
        offset = torch.randint(lo, hi + 1, (batch, 2), generator=generator, device=device)  # [B, 2] (x, y)
    else:
        offset = torch.full((batch, 2), room // 2, device=device)
    canvas = _add_patches(digits.new_zeros(batch, 1, canvas_size, canvas_size), digits[:, None], offset[:, None])
    a = torch.eye(2, device=device).expand(batch, 2, 2)
    return canvas, a, offset + _CENTRE


def _affine_grid(theta: Tensor, size: int) -> Tensor:
    """``F.affine_grid(theta, [B, 1, size, size], align_corners=True)`` as an outer sum.

    The same grid (``theta [B, 2, 3]`` applied to the normalised pixel coordinates
    ``(x_n, y_n, 1)``), without ``affine_grid``'s batched matmul, which is 4x slower on CPU.

    Returns:
        ``[B, size, size, 2]``.
    """
    p_n = torch.linspace(-1, 1, size, device=theta.device)  # [size]
    x_n, y_n = p_n[:, None], p_n[:, None, None]  # along the columns, along the rows
    return theta[:, None, None, :, 0] * x_n + theta[:, None, None, :, 1] * y_n + theta[:, None, None, :, 2]


def _resample_digits(
    digits: Tensor,
    canvas_size: int,
    translate: bool,
    spread: float,
    scale: tuple[float, float],
    distortion: float,
    generator: torch.Generator,
) -> tuple[Tensor, Tensor, Tensor]:
    """Each ``[B, 28, 28]`` digit through a random affine map: ``canvas [B, 1, H, W]``, ``A [B, 2, 2]``, ``t [B, 2]``."""
    batch, device = digits.shape[0], digits.device
    a = _random_affine(batch, scale, distortion, generator, device)  # [B, 2, 2]
    half_extent = (a.abs() @ torch.full((batch, 2, 1), _CENTRE, device=device)).squeeze(2)  # [B, 2]
    mid = (canvas_size - 1) / 2
    if translate:
        lo = half_extent.clamp(max=mid)  # [B, 2]: the lowest centre that keeps the patch inside
        if spread < 1:  # (at 1 the bounds are left as computed, so that canvases stay bit-identical)
            lo = mid - spread * (mid - lo)
        t = lo + (canvas_size - 1 - 2 * lo) * torch.rand(batch, 2, generator=generator, device=device)
    else:
        t = torch.full((batch, 2), mid, device=device)  # [B, 2] digit centre (x, y)
    # grid_sample maps output pixel p to digit coordinates u = A^-1 (p - t) + 13.5; with
    # align_corners=True, p = p_n * mid + mid and u = u_n * 13.5 + 13.5 for normalised p_n, u_n.
    a_inv = _inverse_2x2(a)  # [B, 2, 2]
    theta = torch.cat([a_inv * (mid / _CENTRE), a_inv @ (mid - t)[:, :, None] / _CENTRE], dim=2)  # [B, 2, 3]
    grid = _affine_grid(theta, canvas_size)  # [B, H, W, 2]
    return F.grid_sample(digits[:, None], grid, align_corners=True), a, t  # [B, 1, H, W]
