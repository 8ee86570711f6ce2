"""The one module that touches W&B's sweep internals, behind a narrow interface for
:mod:`lit_draw.experiments.sweep`.

Neither piece is a public API: W&B's sweep engine (the ``sweeps`` package W&B's server runs: the
schema check and ``next_run``), and the W&B SDK's helpers its agent builds a run's command line with
(``wandb.sdk.launch.sweeps.utils``) and writes its parameter file and run ids with
(``wandb.sdk.lib``). Each use is listed in :mod:`lit_draw.private_uses`, whose test fails when an
upgrade removes one; the versions they were tested with are pinned in ``pyproject.toml`` (W&B) and in
:data:`INSTALL_RECIPE` (the engine).

What the sweep needs, and all this module offers:

* :func:`engine_available`, :func:`schema_violations`;
* :class:`Trial` (one run of a sweep: its parameters, W&B run id, state, last metrics) and
  :func:`next_trial` (the engine's next parameter set, given the trials so far);
* :func:`agent_command`, :func:`args_macros`, :func:`save_params`, :func:`new_run_id`: what W&B's agent
  does to start a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lit_draw.cli.quiet import known_noise
from lit_draw.errors import ConfigError

#: W&B's sweep engine without its numpy<2 pin (see :mod:`lit_draw.experiments.sweep`): run from the repository root.
INSTALL_RECIPE = 'pip install -e ".[sweep]" && pip install --no-deps "sweeps==0.3.0"'
INSTALL_HINT = (
    f"python -m lit_draw sweep needs W&B's sweep engine: {INSTALL_RECIPE} "
    "(the engine without its numpy<2 pin: see docs/sweeps.md)"
)

State = Literal["pending", "running", "finished", "failed"]


@dataclass
class Trial:
    """One run of a sweep.

    Args:
        params: parameter name -> value (``{"model.objective.init_args.weighting": "last"}``), plain Python values.
        name: the W&B run id it runs as (set by the caller).
        state: ``pending`` until it starts, ``running`` while it trains (the engine proposes no
            other run with its parameters, as for W&B's agents side by side), then ``finished`` or ``failed``.
        summary_metrics: the run's last logged scalars (what ``bayes`` is fitted to).
    """

    params: dict[str, Any]
    name: str = ""
    state: State = "pending"
    summary_metrics: dict[str, Any] = field(default_factory=dict)
    _record: Any = field(default=None, repr=False, compare=False)  # the engine's SweepRun, handed back to it


def engine_available() -> bool:
    """Whether W&B's sweep engine is installed. ``import sweeps`` alone does not tell: without the
    engine, Python imports the repository's own ``sweeps/`` folder as an empty namespace package."""
    try:
        with known_noise():  # pydantic's warnings about the engine's v1-style models (lit_draw.cli.quiet)
            import sweeps
    except ImportError:
        return False
    return hasattr(sweeps, "next_run")


def _engine() -> Any:
    """W&B's sweep engine, with a one-line error where the optional extra is missing."""
    if not engine_available():
        raise ConfigError(INSTALL_HINT)
    import sweeps

    return sweeps


def schema_violations(config: dict[str, Any]) -> list[str]:
    """What W&B's sweep schema finds wrong with ``config`` (empty: valid).

    Raises:
        ConfigError: the engine is not installed.
    """
    return list(_engine().schema_violations_from_proposed_config(config))


def next_trial(sweep: dict[str, Any], trials: list[Trial]) -> Trial | None:
    """The engine's next parameter set for ``sweep`` after ``trials`` (their states and metrics as
    they are now), or ``None`` when a grid is done.

    Raises:
        ConfigError: the engine is not installed.
    """
    sweeps = _engine()
    records = []
    for trial in trials:
        record = trial._record
        record.name, record.summary_metrics = trial.name, trial.summary_metrics
        record.state = sweeps.RunState(trial.state)
        records.append(record)
    record = sweeps.next_run(sweep, records)
    if record is None:
        return None
    params = {name: _plain(entry["value"]) for name, entry in record.config.items()}
    return Trial(params=params, _record=record)


def _plain(value: Any) -> Any:
    """A numpy scalar from the engine as a plain Python value."""
    return value.item() if isinstance(value, np.generic) else value


def agent_command(sweep: dict[str, Any]) -> list[str]:
    """The sweep's ``command`` as W&B's agent reads it (its default where the sweep gives none), its
    ``${...}`` macros not expanded yet (``wandb.wandb_agent.Agent._command_run``)."""
    from wandb.sdk.launch.sweeps import utils

    return [
        str(chunk) for chunk in utils.create_sweep_command(list(sweep.get("command") or utils.DEFAULT_SWEEP_COMMAND))
    ]


def args_macros(params: dict[str, Any]) -> dict[str, list[str]]:
    """The ``${args}``, ``${args_no_hyphens}``, ... macros of a run with ``params``, as W&B's agent expands them."""
    from wandb.sdk.launch.sweeps import utils

    return utils.create_sweep_command_args({"args": {k: {"value": v} for k, v in params.items()}})


def save_params(path: str, params: dict[str, Any]) -> None:
    """Write the parameter file W&B reads from ``WANDB_SWEEP_PARAM_PATH`` into the run's config."""
    from wandb.sdk.lib import config_util

    config_util.save_config_file_from_dict(path, {k: {"value": v} for k, v in params.items()})


def new_run_id() -> str:
    """A fresh W&B run id, as W&B makes them."""
    from wandb.sdk.lib.runid import generate_id

    return generate_id()
