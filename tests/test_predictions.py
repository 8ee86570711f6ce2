"""The predictions file: what ``predict_step`` returns, batch after batch, in one file (no Trainer here)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import torch

from lit_draw.cli.predictions import PredictionFile


def test_batches_are_stacked_along_the_canvas_dimension_with_windows_and_labels(tmp_path: Path):
    writer = PredictionFile(tmp_path / "predictions")
    trainer = SimpleNamespace(global_rank=0, world_size=1)
    batches = []
    for b in (3, 2):  # T = 4 glimpses, C = 10 classes
        prediction = {
            "probs": torch.rand(4, b, 10).softmax(-1),
            "center": torch.rand(4, b, 2) * 40,
            "size": torch.full((4, b), 12.0),
            "ignored": torch.zeros(1),
        }
        labels = torch.randint(0, 10, (b,))
        batches.append((prediction, labels))
        writer.write_on_batch_end(trainer, None, prediction, None, (torch.zeros(b, 1, 40, 40), labels, None), 0, 0)
    writer.on_predict_epoch_end(trainer, None)
    result = torch.load(writer.path, weights_only=True)
    assert writer.path.parent == tmp_path / "predictions" and set(result) == {"probs", "center", "size", "labels"}
    for key in ("probs", "center", "size"):
        assert torch.equal(result[key], torch.cat([p[key] for p, _ in batches], dim=1)), key
    assert torch.equal(result["labels"], torch.cat([labels for _, labels in batches]))


def test_a_predict_step_returning_probabilities_alone_gives_probs_and_labels(tmp_path: Path):
    writer = PredictionFile(tmp_path)
    trainer = SimpleNamespace(global_rank=1, world_size=2)
    probs = torch.rand(2, 5, 10)
    writer.write_on_batch_end(trainer, None, probs, None, (None, torch.arange(5), None), 0, 0)
    writer.on_predict_epoch_end(trainer, None)
    result = torch.load(writer.path, weights_only=True)
    assert writer.path.name.endswith("-rank1.pt")  # each process its own file
    assert set(result) == {"probs", "labels"} and torch.equal(result["probs"], probs)
