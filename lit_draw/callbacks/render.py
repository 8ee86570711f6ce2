"""Draw one canvas's attention: every glimpse's window, the glimpse strip and the class probabilities.

Pillow only (no matplotlib). Time is coloured from dark purple (first glimpse) to yellow (last),
the same colour for a glimpse's window on the canvas, its patch frame and its probability bars.
"""

from __future__ import annotations

from PIL import Image, ImageDraw
from torch import Tensor

from lit_draw.models.trace import Trace

_RAMP = [(68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37)]  # viridis anchors
_CELL = 56  # width of one glimpse's column in the strip, in display pixels
_BARS = 36  # height of the probability bars
_PAD = 6
_GREY, _TRUE = (150, 150, 150), (220, 60, 60)


def time_colour(t: int, num_glimpses: int) -> tuple[int, int, int]:
    """Colour of glimpse ``t`` (0-based) of ``num_glimpses``, interpolated along the viridis anchors."""
    u = t / max(num_glimpses - 1, 1) * (len(_RAMP) - 1)
    i = min(int(u), len(_RAMP) - 2)
    w = u - i
    return tuple(round((1 - w) * a + w * b) for a, b in zip(_RAMP[i], _RAMP[i + 1], strict=True))


def _grey_image(x: Tensor, width: int, height: int, normalise: bool = False) -> Image.Image:
    """``[h, w]`` tensor in ``[0, 1]`` (or divided by its maximum) as an 8-bit image, resized (nearest)."""
    x = x.detach().float().cpu()
    if normalise:
        x = x / x.max().clamp_min(1e-8)
    pixels = (x.clamp(0, 1) * 255).round().byte().numpy()
    return Image.fromarray(pixels, mode="L").resize((width, height), Image.NEAREST)


def attention_picture(canvas: Tensor, trace: Trace, index: int, label: int | None = None, zoom: int = 3) -> Image.Image:
    """Picture of what the model did on canvas ``index`` of ``trace``'s batch.

    Top: the canvas with every glimpse's window, a square of side ``size * 2**k`` around
    ``center`` for each of the ``n_scales`` scales (DRAW: the read grid's extent; RAM: the retina's
    squares), numbered by glimpse. Below, one column per glimpse: its patch (``trace.glimpses``,
    each scale under the previous one; left out when ``None``) and its class probabilities as bars,
    the true class's bar in red when ``label`` is given, with the predicted class and its probability.

    Args:
        canvas: ``[H, W]`` or ``[1, H, W]`` the canvas in ``[0, 1]``.
        trace: the model's trace on a batch holding the canvas.
        index: the canvas's position in that batch.
        label: its true class, if known.
        zoom: display pixels per canvas pixel.

    Returns:
        An RGB image.
    """
    canvas = canvas.reshape(canvas.shape[-2:])
    height, width = canvas.shape
    num_glimpses = trace.num_glimpses
    center = trace.center[:, index].detach().float().cpu().tolist()  # [T][2]
    size = trace.size[:, index].detach().float().cpu().tolist()  # [T]
    probs = trace.logits[:, index].detach().float().softmax(-1).cpu()  # [T, C]
    patches = (
        None
        if trace.glimpses is None
        else trace.glimpses[:, index].reshape(num_glimpses, -1, *trace.glimpses.shape[-2:])
    )
    tile = _CELL - _PAD  # patch side in display pixels
    tile_h = 0 if patches is None else patches.shape[1] * tile
    strip_y = 2 * _PAD + height * zoom
    bars_y = strip_y + 14 + tile_h + (_PAD if tile_h else 0)
    image = Image.new(
        "RGB", (2 * _PAD + max(width * zoom, num_glimpses * _CELL), bars_y + _BARS + 16 + _PAD), (255, 255, 255)
    )
    view = _grey_image(canvas, width * zoom, height * zoom).convert("RGB")  # windows are clipped to it
    on_canvas = ImageDraw.Draw(view)
    draw = ImageDraw.Draw(image)
    for t in range(num_glimpses):
        colour = time_colour(t, num_glimpses)
        cx, cy = ((c + 0.5) * zoom for c in center[t])
        for k in range(trace.n_scales):
            half = size[t] * 2**k * zoom / 2
            on_canvas.rectangle([cx - half, cy - half, cx + half, cy + half], outline=colour, width=2 if k == 0 else 1)
        on_canvas.ellipse([cx - 2, cy - 2, cx + 2, cy + 2], fill=colour)
        on_canvas.text((cx + 3, cy + 1), str(t + 1), fill=colour)
        x0 = _PAD + t * _CELL
        draw.text((x0, strip_y), f"t={t + 1}", fill=colour)
        if patches is not None:
            for k, patch in enumerate(patches[t]):
                image.paste(_grey_image(patch, tile, tile, normalise=True), (x0, strip_y + 14 + k * tile))
            draw.rectangle([x0 - 1, strip_y + 13, x0 + tile, strip_y + 14 + tile_h], outline=colour, width=2)
        bar_w = tile / probs.shape[1]
        for c, p in enumerate(probs[t].tolist()):
            fill = _TRUE if c == label else _GREY
            left = x0 + c * bar_w
            draw.rectangle([left, bars_y + _BARS * (1 - p), left + max(bar_w - 1, 1), bars_y + _BARS], fill=fill)
        confidence, predicted = probs[t].max(0)
        draw.text((x0, bars_y + _BARS + 2), f"{int(predicted)} ({float(confidence):.2f})", fill=colour)
    image.paste(view, (_PAD, _PAD))
    return image
