"""lit_draw: recurrent visual-attention classifiers (DRAW, RAM, WS-RAM) with PyTorch Lightning."""

__version__ = "0.3.0"
