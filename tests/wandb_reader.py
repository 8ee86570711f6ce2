"""The offline W&B reader moved to :mod:`lit_draw.wandb_reader` (the figure script reads runs too);
this name stays so that tests importing ``tests.wandb_reader`` keep working."""

from lit_draw.wandb_reader import OfflineRun, _records, read_run

__all__ = ["OfflineRun", "_records", "read_run"]
