"""Every private name of another library that lit_draw uses, and why: the one list (issue 34).

Where Lightning has a public hook, lit_draw uses it (``on_save_checkpoint`` for the checkpoint
folder's link and the newest ``last.ckpt``; ``parse_arguments`` / ``before_instantiate_classes`` for a
parse that seeds nothing; the fit loop's public progress counters for a stop inside an epoch). What
is left here has no public equivalent. A private name may change in any release, so
``tests/test_private_uses.py`` checks that each one still exists in the installed versions (an
upgrade fails in the tests, not in a run), and ``pyproject.toml`` pins Lightning and W&B below the
next minor release after :data:`TESTED_WITH`; W&B's sweep engine is installed at exactly its version
(:data:`lit_draw.experiments.wandb_sweeps.INSTALL_RECIPE`).

W&B's ``wandb.sdk`` and its ``sweeps`` engine are not public APIs at all; only
:mod:`lit_draw.experiments.wandb_sweeps` imports them.
"""

from __future__ import annotations

import importlib
import inspect
import re
from dataclasses import dataclass

#: The versions every use below was tested with (distribution -> version).
TESTED_WITH = {"lightning": "2.6.6", "jsonargparse": "4.53.0", "wandb": "0.31.0", "sweeps": "0.3.0"}


@dataclass(frozen=True)
class PrivateUse:
    """One private name lit_draw relies on.

    Args:
        owner: where the name lives: ``"package.module"`` or ``"package.module:Class"``.
        name: the attribute, method or module-level name used.
        where: the lit_draw code that uses it.
        why: what it does that no public API does.
        distribution: the installed distribution it comes from (a key of :data:`TESTED_WITH`, or
            ``"python"`` for the standard library).
    """

    owner: str
    name: str
    where: str
    why: str
    distribution: str


PRIVATE_USES: tuple[PrivateUse, ...] = (
    # --- Lightning ------------------------------------------------------------------------------
    PrivateUse(
        "lightning.pytorch.callbacks:ModelCheckpoint",
        "_save_last_checkpoint",
        "lit_draw.cli.resume.NewestLast.save_newest_last",
        "saves last.ckpt now with ModelCheckpoint's own bookkeeping (last_model_path, the step it last saved, the "
        "loggers' after_save_checkpoint, removing a superseded last); Lightning has no public 'save last.ckpt now'",
        "lightning",
    ),
    PrivateUse(
        "lightning.pytorch.callbacks:ModelCheckpoint",
        "_monitor_candidates",
        "lit_draw.cli.resume.NewestLast.save_newest_last",
        "the metrics last.ckpt's file name is formatted from, built as Lightning builds them (the argument "
        "_save_last_checkpoint takes)",
        "lightning",
    ),
    PrivateUse(
        "lightning.pytorch.callbacks:ModelCheckpoint",
        "_should_save_on_train_epoch_end",
        "lit_draw.cli.resume.NewestLast.on_validation_end",
        "whether Lightning saves at the end of the training epoch or after validation (a rule over several trainer "
        "settings); NewestLast saves last.ckpt after validation where Lightning would not",
        "lightning",
    ),
    PrivateUse(
        "lightning.pytorch.cli:LightningCLI",
        "_run_subcommand",
        "lit_draw.cli.command.LitDrawCLI._run_subcommand (overridden)",
        "the one place that wraps a subcommand's run: what Lightning refuses only once the data is known "
        "(val_check_interval) and a DDP rank's death become one line; the before_/after_<subcommand> hooks do "
        "not see the run's exceptions",
        "lightning",
    ),
    PrivateUse(
        "lightning.pytorch.loggers:WandbLogger",
        "_experiment",
        "lit_draw.cli.resume.undo_new_run and lit_draw.cli.progress.run_files",
        "the W&B run if one was started, without starting one (the public experiment property starts a run)",
        "lightning",
    ),
    PrivateUse(
        "lightning.fabric.strategies.launchers.subprocess_script:_ChildProcessObserver",
        "_run",
        "lit_draw.cli.command._lost_rank_message",
        "Lightning's watcher thread (named child-process-observer) SIGKILLs rank 0 within 5 s of a child's death; "
        "replacing its _run stops it, so that rank 0 prints the line naming the rank that stopped",
        "lightning",
    ),
    PrivateUse(
        "lightning.pytorch.strategies.launchers.subprocess_script:_SubprocessScriptLauncher",
        "procs",
        "lit_draw.cli.command._lost_rank_message",
        "the child processes Lightning started (a public name on a private class), to name the rank that stopped "
        "and its exit status",
        "lightning",
    ),
    PrivateUse(
        "lightning.pytorch.trainer.connectors.signal_connector",
        "log",
        "lit_draw.cli.resume.CheckpointOnSignal (_SIGNAL_LOG, by this module's name)",
        "the logger that writes 'Received SIGTERM: 15'; a filter names the signal that really came (SIGINT, SIGUSR1)",
        "lightning",
    ),
    PrivateUse(
        "lightning.pytorch.loggers:WandbLogger",
        "_wandb_init",
        "lit_draw.cli.quiet.drop_unset_wandb_arguments",
        "the arguments WandbLogger gives wandb.init: anonymous=None is taken out (W&B warns about it whenever it is "
        "given); Lightning has no public way to leave one out",
        "lightning",
    ),
    # --- argparse (under jsonargparse) ----------------------------------------------------------
    PrivateUse(
        "argparse:ArgumentParser",
        "_option_string_actions",
        "lit_draw.cli.command.LitDrawCLI.add_arguments_to_parser and _int_before_float",
        "an option's action, found by its flag: --trainer.gradient_clip_val's help says that a negative value is "
        "refused, and --trainer.limit_*_batches get their type (jsonargparse adds these options from Trainer's "
        "signature; there is no public way to change one option)",
        "python",
    ),
    PrivateUse(
        "jsonargparse._typehints:ActionTypeHint",
        "_typehint",
        "lit_draw.cli.command._int_before_float",
        "the type an option's value is parsed as: Lightning types limit_*_batches float | int and jsonargparse "
        "tries a union in order, so 1 became 1.0 (all batches); int is put first",
        "jsonargparse",
    ),
    # --- W&B: the SDK's agent helpers and the sweep engine (lit_draw.experiments.wandb_sweeps) -----
    PrivateUse(
        "wandb.sdk.launch.sweeps.utils",
        "create_sweep_command",
        "lit_draw.experiments.wandb_sweeps.agent_command",
        "the sweep's command line as W&B's agent reads it",
        "wandb",
    ),
    PrivateUse(
        "wandb.sdk.launch.sweeps.utils",
        "DEFAULT_SWEEP_COMMAND",
        "lit_draw.experiments.wandb_sweeps.agent_command",
        "the agent's command where a sweep file gives none",
        "wandb",
    ),
    PrivateUse(
        "wandb.sdk.launch.sweeps.utils",
        "create_sweep_command_args",
        "lit_draw.experiments.wandb_sweeps.args_macros",
        "the ${args}, ${args_no_hyphens}, ... macros, expanded as the agent expands them",
        "wandb",
    ),
    PrivateUse(
        "wandb.sdk.lib.config_util",
        "save_config_file_from_dict",
        "lit_draw.experiments.wandb_sweeps.save_params",
        "the parameter file WANDB_SWEEP_PARAM_PATH names, in the format W&B reads into a run's config",
        "wandb",
    ),
    PrivateUse(
        "wandb.sdk.lib.runid",
        "generate_id",
        "lit_draw.experiments.wandb_sweeps.new_run_id",
        "run and sweep ids made as W&B makes them",
        "wandb",
    ),
    PrivateUse(
        "sweeps",
        "next_run",
        "lit_draw.experiments.wandb_sweeps.next_trial",
        "the engine W&B's server runs (grid, random, bayes): the next parameter set given the runs so far",
        "sweeps",
    ),
    PrivateUse(
        "sweeps",
        "schema_violations_from_proposed_config",
        "lit_draw.experiments.wandb_sweeps.schema_violations",
        "W&B's sweep schema check, each violation named",
        "sweeps",
    ),
    PrivateUse(
        "sweeps",
        "RunState",
        "lit_draw.experiments.wandb_sweeps.next_trial",
        "the run states the engine reads (finished, failed) when it proposes the next run",
        "sweeps",
    ),
)


def resolve(owner: str) -> object:
    """The module, or the class in it, that ``owner`` names (``"package.module:Class"``)."""
    module_name, _, class_name = owner.partition(":")
    found: object = importlib.import_module(module_name)
    return getattr(found, class_name) if class_name else found


def exists(use: PrivateUse) -> bool:
    """Whether ``use.name`` is still there: an attribute of its owner, or, for an attribute an
    instance sets (``self.name = ...`` in a method), assigned in the source of its class or a base."""
    owner = resolve(use.owner)
    if hasattr(owner, use.name):
        return True
    if not inspect.isclass(owner):
        return False
    assigned = re.compile(rf"\bself\.{re.escape(use.name)}\s*(?::[^=\n]+)?=[^=]")
    return any(
        assigned.search(inspect.getsource(cls)) for cls in owner.__mro__ if cls is not object and _has_source(cls)
    )


def _has_source(cls: type) -> bool:
    try:
        inspect.getsource(cls)
    except (OSError, TypeError):
        return False
    return True
