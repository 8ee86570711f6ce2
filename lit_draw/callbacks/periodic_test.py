"""The test set scored during training, as the study's code did (every 1000 updates).

The All-Step / Last-Step study (and jlindsey15/DRAM, the code it modified) evaluated the *test* set
every 1000 updates and plotted that curve (its Figure 5); its table may be the best point of it.
This callback logs the same curve, ``periodic_test/acc`` (after the final glimpse), after every
``every_n_validations``-th validation, so that the best of those evaluations can be reported
beside the headline number. Choosing a checkpoint by it is choosing on the test set: optimistic,
and never what lit_draw's results tables headline (they test the checkpoint chosen on validation).
"""

from __future__ import annotations

import torch
from lightning.fabric.utilities.apply_func import move_data_to_device
from lightning.pytorch import Callback, LightningModule, Trainer

from lit_draw.validation import PositiveInt, conforms, require

KEY = "periodic_test/acc"


class PeriodicTest(Callback):
    """Score the whole fixed test set after the final glimpse every ``every_n_validations`` validations.

    Logs ``periodic_test/acc`` (and ``periodic_test/acc_glimpse_t`` for every glimpse ``t``) at the
    validation's step. Under DDP each process scores its share and the counts are summed.

    Args:
        every_n_validations: how many validations apart (1: at each, as the study did every 1000 updates).
    """

    def __init__(self, every_n_validations: PositiveInt = 1) -> None:
        super().__init__()
        require(
            "PeriodicTest",
            "every_n_validations",
            conforms(PositiveInt, every_n_validations),
            "a positive int",
            every_n_validations,
        )
        self.every_n_validations = every_n_validations
        self.validations = 0

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        self.validations += 1
        if self.validations % self.every_n_validations:
            return
        data = trainer.datamodule
        correct = torch.zeros(pl_module.num_glimpses, device=pl_module.device)  # [T]
        total = torch.zeros((), device=pl_module.device)
        with torch.no_grad():
            for batch in data.test_dataloader():
                images, labels, _ = data.on_after_batch_transfer(move_data_to_device(batch, pl_module.device), 0)
                logits = pl_module(images).logits  # [T, B, C]
                correct += (logits.argmax(-1) == labels).sum(1)
                total += labels.numel()
        correct = trainer.strategy.reduce(correct, reduce_op="sum")
        total = trainer.strategy.reduce(total, reduce_op="sum")
        accuracy = correct / total  # [T]
        # the same values on every process after the reduce: sync_dist only keeps Lightning from asking for it
        pl_module.log(KEY, accuracy[-1], sync_dist=True)
        pl_module.log_dict({f"periodic_test/acc_glimpse_{t + 1}": a for t, a in enumerate(accuracy)}, sync_dist=True)

    def state_dict(self) -> dict[str, int]:
        return {"validations": self.validations}  # a resumed fit keeps the schedule

    def load_state_dict(self, state_dict: dict[str, int]) -> None:
        self.validations = state_dict["validations"]
