"""TrailingMean: the mean of a validation metric over its last validations, logged, checkpointed, resumed."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from lit_draw.callbacks import TrailingMean
from lit_draw.cli import main
from lit_draw.cli.metrics_csv import read_metrics, run_folders, values
from lit_draw.errors import ConfigError


def _callback(**init_args: object) -> str:
    args = ", ".join(f"{key}: {value}" for key, value in init_args.items())
    return f"--trainer.callbacks=[{{class_path: lit_draw.callbacks.TrailingMean, init_args: {{{args}}}}}]"


@pytest.mark.slow
def test_the_mean_over_the_last_validations_is_logged_and_a_resume_continues_its_window(
    tiny_fit: Callable[..., list[str]], tmp_path: Path
):
    args = [
        *tiny_fit(batch_size=8, val_size=24, train_size=8000),
        "--trainer.limit_train_batches=6",
        _callback(monitor="val/loss", last=2),
    ]
    main(["fit", *args, "--trainer.max_epochs=3"])
    resumed = main(["fit", *args, "--trainer.max_epochs=4", "--ckpt_path=last"])
    rows = read_metrics(run_folders(tmp_path))
    loss = values(rows, "val/loss")  # the loss: a tiny net's accuracy can stand still, which would prove nothing
    assert len(loss) == 4 and len(set(loss)) == 4
    # by hand: the first validation alone, then pairs; the fourth pairs the resumed run's first with the third
    expected = [loss[0], (loss[0] + loss[1]) / 2, (loss[1] + loss[2]) / 2, (loss[2] + loss[3]) / 2]
    assert values(rows, "val/loss_last2") == pytest.approx(expected)
    assert resumed.trainer.callback_metrics["val/loss_last2"].item() == pytest.approx(expected[-1])


@pytest.mark.slow
def test_a_monitor_the_run_does_not_log_is_named_before_training(tiny_fit: Callable[..., list[str]]):
    with pytest.raises(
        ConfigError, match=r"^TrailingMean.monitor must be a metric the run logs \(.*val/acc.*\), got 'val/acc_typo'$"
    ):
        main(["fit", *tiny_fit(), _callback(monitor="val/acc_typo"), "--trainer.max_steps=2"])


@pytest.mark.parametrize("last", [0, -1, 2.5])
def test_last_must_be_a_positive_int(last: object):
    with pytest.raises(ValueError, match=r"TrailingMean.last must be"):
        TrailingMean(last=last)  # type: ignore[arg-type]
