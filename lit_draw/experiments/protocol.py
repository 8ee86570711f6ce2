"""What a run measures, read from its resolved config, and where two runs' protocols differ.

A reproduce row's seeds are comparable only when they trained the same model on the same data with
the same optimiser and budget. A row's config files can change after some of its seeds ran (a
policy std chosen on validation, an estimator's learning rate): the seeds trained before then
measure something else, though their folder and the row's name are the same. Every ``fit`` writes
its resolved config beside its checkpoints (``checkpoints/config.yaml``), so the protocol a seed
really ran can be set against the one the row gives now.

The protocol is the part of a resolved config that decides the numbers (:data:`MEASURED`, less
:data:`NOT_MEASURED`): the model and objective, the data, the optimiser and schedule, the starting
weights, the budget (``fast_dev_run`` too: one batch of each), gradient clipping and accumulation, precision, when validation runs and what
it selects the tested checkpoint by. Logging, callbacks, progress bars, devices, time limits and
folders are not part of it, and neither is the seed (each seed has its own folder).
"""

from __future__ import annotations

from typing import Any

#: Dotted keys of a resolved config (and everything under them) that decide what a run measures.
MEASURED = (
    "model",
    "data",
    "optimizer",
    "lr_scheduler",
    "init_from",
    "reinit",
    "checkpoint.monitor",
    "checkpoint.mode",
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.fast_dev_run",
    "trainer.accumulate_grad_batches",
    "trainer.gradient_clip_val",
    "trainer.gradient_clip_algorithm",
    "trainer.precision",
    "trainer.val_check_interval",
    "trainer.check_val_every_n_epoch",
    "trainer.limit_train_batches",
    "trainer.limit_val_batches",
    "trainer.limit_test_batches",
    "trainer.overfit_batches",
)
#: Keys under :data:`MEASURED` that change how a run goes, not what it measures: where the data
#: lives, how it is loaded, and the optimiser's implementation (the same update, one kernel or many).
NOT_MEASURED = (
    "data.root",
    "data.num_workers",
    "data.eval_batch_size",
    "optimizer.init_args.fused",
    "optimizer.init_args.foreach",
    "optimizer.init_args.capturable",
)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are values."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, f"{name}."))
        else:
            flat[name] = value
    return flat


def _under(key: str, prefixes: tuple[str, ...]) -> bool:
    return any(key == p or key.startswith(f"{p}.") for p in prefixes)


def protocol(config: dict[str, Any]) -> dict[str, Any]:
    """The keys of a resolved config (as ``fit`` writes it to ``config.yaml``) that decide what the
    run measures, flattened (``model.net.init_args.std`` -> ``0.1``)."""
    return {k: v for k, v in flatten(config).items() if _under(k, MEASURED) and not _under(k, NOT_MEASURED)}


def differences(ran: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """``"key: <ran> -> <now>"`` for each key of both protocols whose values differ, in key order.

    A key only one side has is a setting added to (or removed from) the code since the run, which
    ran at its default then: it is not compared. A changed class (``model.net.class_path``) is
    always seen, as its own key.
    """
    return [f"{key}: {ran[key]!r} -> {now[key]!r}" for key in sorted(ran.keys() & now.keys()) if ran[key] != now[key]]
