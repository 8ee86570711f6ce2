"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest

from lit_draw.data.mnist import default_root, ensure_mnist


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The real MNIST data root (``$LIT_DRAW_DATA`` or ``~/.cache/lit_draw``), fetched once."""
    root = default_root()
    ensure_mnist(root)
    return root
