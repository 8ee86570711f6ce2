"""Generated stand-ins for MNIST's four IDX files, for the quick tests (no network, no download).

Each class 0-9 is drawn as the strokes of a seven-segment digit, each of a hundred prototypes
with its own rotation, shear, scale, stroke width and ink strength (anti-aliased, as MNIST's grey
edges), then every digit is one prototype of its class moved by a whole-pixel offset. The ink stays
inside the 28x28 patch, mostly in its middle 20x20, as MNIST's does, and the classes are as easy to
tell apart as the segments make them: a small net learns them in a few hundred steps.

The files have MNIST's names, headers and counts (60,000 training and 10,000 test digits), so the
real loader (:func:`lit_draw.data.mnist.load_mnist`) reads them unchanged; an ``MD5SUMS`` file beside
them (the md5 of each uncompressed file) marks the root as a user's own data, checked against those
sums instead of MNIST's and never downloaded. The test files are written gzipped, the training files
plain: both of the loader's forms are read in every session.
"""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np

from lit_draw.data import mnist

SIDE = mnist.SIDE
#: prototypes per class; a digit is a prototype moved by up to SHIFT pixels each way
PROTOTYPES = 100
SHIFT = 2
#: the seven segments' ends in a unit box (x right, y down): a top, b top right, c bottom right,
#: d bottom, e bottom left, f top left, g middle
_SEGMENTS = {
    "a": ((0, 0), (1, 0)),
    "b": ((1, 0), (1, 0.5)),
    "c": ((1, 0.5), (1, 1)),
    "d": ((0, 1), (1, 1)),
    "e": ((0, 0.5), (0, 1)),
    "f": ((0, 0), (0, 0.5)),
    "g": ((0, 0.5), (1, 0.5)),
}
_DIGITS = ("abcdef", "bc", "abged", "abgcd", "fgbc", "afgcd", "afgedc", "abc", "abcdefg", "abcdfg")


def _prototypes(rng: np.random.Generator) -> np.ndarray:
    """uint8 ``[10, PROTOTYPES, 28, 28]``: each class's strokes under random affine maps."""
    n = 10 * PROTOTYPES
    starts = np.zeros((10, 7, 2))
    ends = np.zeros((10, 7, 2))
    used = np.zeros((10, 7), dtype=bool)
    for label, segments in enumerate(_DIGITS):
        for k, name in enumerate(segments):
            starts[label, k], ends[label, k] = _SEGMENTS[name]
            used[label, k] = True
    label = np.repeat(np.arange(10), PROTOTYPES)  # [n]
    angle = rng.uniform(-0.25, 0.25, n)
    shear = rng.uniform(-0.3, 0.3, n)
    width, height = rng.uniform(7, 10, n), rng.uniform(12, 15, n)
    c, s = np.cos(angle), np.sin(angle)
    # the unit box, centred, scaled, sheared and rotated, then placed at the patch's centre
    linear = np.stack([np.stack([c, -s], -1), np.stack([s, c], -1)], -2) @ np.stack(
        [np.stack([width, shear * height], -1), np.stack([np.zeros(n), height], -1)], -2
    )  # [n, 2, 2]
    centre = (SIDE - 1) / 2
    a = np.einsum("nij,nkj->nki", linear, starts[label] - 0.5) + centre  # [n, 7, 2]
    b = np.einsum("nij,nkj->nki", linear, ends[label] - 0.5) + centre
    ys, xs = np.mgrid[0:SIDE, 0:SIDE]
    pixels = np.stack([xs, ys], -1).reshape(1, -1, 2).astype(np.float64)  # [1, P, 2]
    distance = np.full((n, SIDE * SIDE), np.inf)
    for k in range(7):  # the distance of every pixel to the nearest point of each segment in turn
        start, d = a[:, k, None], (b - a)[:, k, None]  # [n, 1, 2]
        t = np.clip(((pixels - start) * d).sum(-1) / np.maximum((d * d).sum(-1), 1e-9), 0, 1)  # [n, P]
        gap = np.linalg.norm(pixels - start - t[..., None] * d, axis=-1)
        distance = np.where(used[label, k, None], np.minimum(distance, gap), distance)
    stroke = rng.uniform(0.9, 1.6, n)[:, None]
    ink = rng.uniform(0.75, 1.0, n)[:, None]
    image = np.clip(stroke + 0.5 - distance, 0, 1) * ink * 255
    return image.round().astype(np.uint8).reshape(10, PROTOTYPES, SIDE, SIDE)


def synthetic_digits(count: int, rng: np.random.Generator, prototypes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``count`` digits uint8 ``[count, 28, 28]`` and their labels uint8 ``[count]``, classes balanced
    and shuffled."""
    labels = rng.permutation(np.arange(count) % 10).astype(np.uint8)
    which = rng.integers(0, PROTOTYPES, count)
    padded = np.pad(prototypes, ((0, 0), (0, 0), (SHIFT, SHIFT), (SHIFT, SHIFT)))
    dy, dx = rng.integers(0, 2 * SHIFT + 1, (2, count))
    rows = dy[:, None, None] + np.arange(SIDE)[None, :, None]  # [count, 28, 1]
    cols = dx[:, None, None] + np.arange(SIDE)[None, None, :]  # [count, 1, 28]
    images = padded[labels[:, None, None], which[:, None, None], rows, cols]  # [count, 28, 28]
    return images, labels


def idx_bytes(array: np.ndarray) -> bytes:
    """``array`` (uint8) as an IDX file: magic ``0x08 <ndim>``, big-endian dimensions, the bytes."""
    header = (0x0800 + array.ndim).to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_synthetic_mnist(root: Path, seed: int = 0) -> Path:
    """Write the four files and ``MD5SUMS`` into ``<root>/MNIST/raw``; returns ``root``."""
    rng = np.random.default_rng(seed)
    prototypes = _prototypes(rng)
    raw = mnist.raw_dir(root)
    raw.mkdir(parents=True, exist_ok=True)
    sums = []
    for prefix, count in mnist.COUNTS.items():
        images, labels = synthetic_digits(count, rng, prototypes)
        for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            data = idx_bytes(array)
            sums.append(f"{hashlib.md5(data).hexdigest()}  {name}\n")
            if prefix == "t10k":
                with gzip.open(raw / f"{name}.gz", "wb", compresslevel=1) as out:
                    out.write(data)
            else:
                (raw / name).write_bytes(data)
    (raw / mnist.USER_SUMS).write_text("".join(sums))
    return Path(root)
