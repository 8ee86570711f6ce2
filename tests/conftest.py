"""Shared fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lit_draw.data.mnist import default_root, ensure_mnist


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The real MNIST data root (``$LIT_DRAW_DATA`` or ``~/.cache/lit_draw``), fetched once."""
    root = default_root()
    ensure_mnist(root)
    return root


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Test tensors are tiny: intra-op threads only wait on each other (on a loaded 2-core machine
    a 2 s test took 40 s with two threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
