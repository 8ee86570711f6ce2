"""Data: MNIST acquisition, canvas generation and the ``CanvasMNIST`` DataModule."""

from lit_draw.data.canvas import ink_boxes, make_canvases
from lit_draw.data.datamodule import CanvasMNIST
from lit_draw.data.mnist import MnistUnavailableError, ensure_mnist, load_mnist

__all__ = [
    "CanvasMNIST",
    "MnistUnavailableError",
    "ensure_mnist",
    "ink_boxes",
    "load_mnist",
    "make_canvases",
]
