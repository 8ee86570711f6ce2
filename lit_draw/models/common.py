"""Small building blocks shared by the models."""

from __future__ import annotations

import torch
from torch import Tensor, nn


def classifier_head(in_features: int, hidden: int, num_classes: int) -> nn.Sequential:
    """``Linear(in, hidden) -> ReLU -> Linear(hidden, C)``, applied at every glimpse."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def stack_gates(steps: list[dict[str, dict[str, Tensor]]]) -> dict[str, Tensor]:
    """Turn per-step ``{cell: {gate: [B, H]}}`` into ``{"cell/gate": [T, B, H]}``."""
    return {
        f"{cell}/{gate}": torch.stack([step[cell][gate] for step in steps])
        for cell in steps[0]
        for gate in steps[0][cell]
    }
