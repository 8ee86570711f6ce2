"""``python -m lit_draw reproduce``: train the published setups over several seeds, test them, and
keep the results table and the shipped checkpoints up to date.

    python -m lit_draw reproduce --list
    python -m lit_draw reproduce --results
    python -m lit_draw reproduce ROW [ROW ...] [--seeds N] [--max-time HH:MM:SS] [-- CLI overrides]

The rows live in ``configs/reproduce.yaml`` (``--rows`` reads another file): a row is a config, a
budget in epochs or updates, a number of seeds and the published test error. For each seed ``k``
the command runs ``fit`` and then ``test`` through :func:`lit_draw.cli.main`, in this process, with
``--seed_everything=k`` and ``--trainer.default_root_dir=runs/reproduce/<row>/seed<k>``:

* **resumable**: a seed with a last checkpoint (:func:`lit_draw.cli.resume.resolve_last`) continues from it; a
  seed whose recorded test was at the end of the same budget is skipped, whether its record is in its
  folder or only in ``results.json`` (a fresh checkout, or ``runs/`` cleared: the seeds ``results.json``
  records under the row's protocol are kept in the row and not trained again);
* **time-boxed**: ``--max-time`` is the training time of this invocation, shared equally by the
  rows named and then by each row's seeds still to train (testing comes on top). A seed stopped short of its budget is recorded
  as ``partial`` with the epochs and updates it did; running the command again continues it;
* **tested on validation's choice**: each seed is tested from its best checkpoint on
  ``val/acc`` (its last one when it never validated) and writes ``test_metrics.json`` beside
  its checkpoints. Two more numbers are recorded beside it, never mixed with it: the test error
  of the seed's last checkpoint (``test_error_last_checkpoint``), and, for a config with the
  :class:`~lit_draw.callbacks.PeriodicTest` callback (the study's code scored the test set every
  1000 updates), the best of those scores (``test_error_best_periodic``, at
  ``best_periodic_step``: chosen on the test set, so optimistic);
* **one protocol per row**: overrides after ``--`` that change what a row measures (its budget,
  data, test set, model, optimiser: its protocol, :mod:`lit_draw.experiments.protocol`; not a
  progress bar, logging, a callback, the data's folder or the accelerator) make the invocation a
  *scratch* run: its seeds train under ``runs/reproduce-scratch/<changes id>/<row>/`` and its results
  go to ``results-scratch.json`` / ``RESULTS-scratch.md``; ``results.json``, ``RESULTS.md`` and
  ``checkpoints/`` are not touched, and the console says so. A row's seeds in ``results.json`` all
  come from the row's protocol as its config files give it now: a seed trained under another
  (before the files changed, or with overrides) is left out, and its folder is not resumed;
* **results**: ``results.json`` and ``RESULTS.md`` in the working directory are regenerated from
  every seed run so far (see :mod:`lit_draw.experiments.results`), and the checkpoint of the seed whose test
  error is closest to the row's mean is exported to ``checkpoints/<row>.ckpt`` (weights and
  hyperparameters only) with its resolved config ``checkpoints/<row>.yaml``, so that
  ``python -m lit_draw test --config checkpoints/<row>.yaml --ckpt_path checkpoints/<row>.ckpt``
  gives the recorded test error again. The blocks of ``README.md`` and ``docs/*.md`` drawn from
  ``results.json`` (the README's results summary, the study's seeds) are rewritten with them.
  ``--results`` only regenerates these files;
* **kept**: what the figures read of each of those seeds (its logged scalars, its test's confusion
  matrix, its record) is copied to ``records/<row>/seed<k>`` (:func:`keep_seeds`), in the repository
  beside ``results.json``, so that the figures can be drawn where ``runs/`` is not.

Seeds run one after another on one device (``--trainer.devices=1``; several processes under DDP
are not supported here). W&B runs go under each seed's folder (``<seed>/wandb`` for training, ``<seed>/test/wandb`` for
testing), where :mod:`lit_draw.experiments.figures` reads them (or from ``records/``).
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml
from lightning.pytorch import Trainer

from lit_draw.cli import ConfigError, resolved_config
from lit_draw.cli import main as cli_main
from lit_draw.cli.metrics_csv import read_metrics, run_folders
from lit_draw.cli.resume import resolve_last
from lit_draw.experiments import results
from lit_draw.experiments.bench import device_name
from lit_draw.experiments.figures import CLAIMS, FIGURES
from lit_draw.experiments.halting_frontier import TABLE as FRONTIER_TABLE
from lit_draw.experiments.protocol import differences, protocol
from lit_draw.experiments.results import Row
from lit_draw.experiments.seed_runs import CONFIG_FILE, KEPT, RECORD_FILE, keep_seed
from lit_draw.experiments.shipping import CHECKPOINTS, evaluation_config, ship_checkpoint
from lit_draw.experiments.weightings import PREFIX as WEIGHTINGS
from lit_draw.yaml_files import load_yaml

#: The rows shipped with lit_draw.
ROWS_FILE = Path(__file__).resolve().parents[2] / "configs" / "reproduce.yaml"
#: Where seeds train, relative to the working directory.
RUNS = Path("runs/reproduce")
#: Measurement tables in docs/ that RESULTS.md carries: the claims tables, the halting frontier, each
#: weighting sweep's (``figures`` writes them from the sweeps kept in records/; names or globs).
TABLES = (*CLAIMS, FRONTIER_TABLE, f"{WEIGHTINGS}*.md")
#: Figures in docs/ that RESULTS.md shows: those ``figures`` draws (names or globs).
SHOWN = (*FIGURES, f"{WEIGHTINGS}*.png")
#: Where scratch runs train, relative to the working directory.
SCRATCH_RUNS = Path("runs/reproduce-scratch")


@dataclass(frozen=True)
class Outputs:
    """Where an invocation's seeds train and its results go: the rows' own, or a scratch run's."""

    runs: Path = RUNS
    results_json: Path = results.RESULTS_JSON
    results_md: Path = results.RESULTS_MD
    export: bool = True  # write checkpoints/<row>.ckpt and .yaml


OFFICIAL = Outputs()


def protocol_changes(rows: list[Row], overrides: list[str] | tuple[str, ...]) -> list[str]:
    """What ``overrides`` change in the protocol of any of ``rows``, ``"key: row's -> overridden"``
    each once (:func:`~lit_draw.experiments.protocol.differences`); empty when they change nothing a
    row measures (a progress bar, the data's folder, the accelerator, a callback)."""
    if not overrides:
        return []
    return sorted({change for row in rows for change in differences(row_protocol(row), row_protocol(row, overrides))})


def scratch_outputs(changes: list[str]) -> Outputs:
    """The scratch :class:`Outputs` of a run with these protocol changes (:func:`protocol_changes`;
    one folder per set of changes, whatever harmless overrides come with them)."""
    digest = hashlib.sha256("\0".join(changes).encode()).hexdigest()[:8]
    return Outputs(SCRATCH_RUNS / digest, Path("results-scratch.json"), Path("RESULTS-scratch.md"), export=False)


def load_rows(path: str | Path = ROWS_FILE) -> dict[str, Row]:
    """Read a rows file (a YAML list of rows, see ``configs/reproduce.yaml``), by name."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--rows {path}: no such file")
    entries = load_yaml(path, "--rows")
    if not isinstance(entries, list):
        raise ConfigError(f"{path} must hold a list of rows, got {type(entries).__name__}")
    rows: dict[str, Row] = {}
    fields = set(Row.__dataclass_fields__)
    for entry in entries:
        unknown = set(entry) - fields if isinstance(entry, dict) else set()
        if not isinstance(entry, dict) or unknown:
            raise ConfigError(f"Row must be a mapping with keys among {sorted(fields)}, got {entry!r} in {path}")
        row = Row(**{**entry, "configs": tuple(entry.get("configs", ())), "args": tuple(entry.get("args", ()))})
        if row.name in rows:
            raise ConfigError(f"Row.name must be unique in {path}, got {row.name!r} twice")
        rows[row.name] = row
    return rows


def seed_dir(row: Row, seed: int, runs: Path = RUNS) -> Path:
    """Where seed ``seed`` of ``row`` trains (its ``trainer.default_root_dir``)."""
    return runs / row.name / f"seed{seed}"


def run_config(directory: Path) -> Path:
    """The resolved config the ``fit`` of a seed wrote (``lit_draw.cli.LogConfigToRun``)."""
    return directory / "checkpoints" / "config.yaml"


@dataclass
class SeedRun:
    """What one invocation does for one seed: its command lines and how long training may take."""

    row: Row
    seed: int
    overrides: list[str] = field(default_factory=list)
    runs: Path = RUNS

    @property
    def directory(self) -> Path:
        return seed_dir(self.row, self.seed, self.runs)

    def common_args(self) -> list[str]:
        configs = [arg for path in self.row.configs for arg in ("--config", str(path))]
        return [*configs, *self.row.args]

    def fit_args(self, max_time_s: float | None) -> list[str]:
        args = ["fit", *self.common_args(), *self.row.budget_args(), *self.overrides]
        args += [f"--seed_everything={self.seed}", f"--trainer.default_root_dir={self.directory}"]
        resume = resolve_last(self.directory)
        if resume is not None:
            args.append(f"--ckpt_path={resume}")
        if max_time_s is not None:
            args.append(f"--trainer.max_time={_duration(_trained_seconds(resume) + max_time_s)}")
        return args

    def test_args(self, checkpoint: Path, name: str = "test") -> list[str]:
        """``test`` of ``checkpoint`` under the config the seed's fit resolved (:func:`run_config`),
        written as ``<name>/config.yaml`` (:func:`~lit_draw.experiments.shipping.evaluation_config`),
        its W&B run under ``<name>/``: the seed is tested as it trained, even when the row's config
        files or lit_draw's callbacks changed while it trained. ``test`` is the headline's folder,
        which the figures read; ``test-last`` that of the last checkpoint."""
        folder = self.directory / name
        folder.mkdir(parents=True, exist_ok=True)
        config = evaluation_config(run_config(self.directory), str(folder), save_dir=str(folder))
        (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        args = ["test", "--config", str(folder / "config.yaml"), *self.overrides, f"--seed_everything={self.seed}"]
        return [*args, f"--ckpt_path={checkpoint}"]

    def run(self, max_time_s: float | None) -> dict[str, Any]:
        """``fit`` (resuming), then ``test``; writes and returns the seed's record.

        Its ``wall_time_s`` is the training time that Lightning's ``Timer`` kept in the seed's last
        checkpoint, over every part of its training (so a part whose invocation died before writing
        a record counts too), plus the time of its tests (the best checkpoint's, and the last one's)."""
        commit = git_commit()  # the code this process runs, whatever is committed while it trains
        self.directory.mkdir(parents=True, exist_ok=True)
        with wandb_dir(self.directory):
            trainer: Trainer = cli_main(self.fit_args(max_time_s)).trainer
        steps_per_epoch = max(trainer.num_training_batches // trainer.accumulate_grad_batches, 1)
        done = self.row.budget_done(trainer.current_epoch, trainer.global_step)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        checkpoint = Path(best) if best and Path(best).is_file() else resolve_last(self.directory)
        if checkpoint is None:
            raise RuntimeError(f"fit of {self.directory} saved no checkpoint to test")
        last = resolve_last(self.directory)
        trained_s, tested_at = _trained_seconds(last), time.monotonic()
        last_error = None
        if last is not None and last.resolve() != checkpoint.resolve():  # the seed's end, beside its best
            with wandb_dir(self.directory / "test-last"):
                last_metrics = cli_main(self.test_args(last, "test-last")).trainer.callback_metrics
            last_error = 100 * (1 - last_metrics["test/acc"].item())
        with wandb_dir(self.directory / "test"):
            tested = cli_main(self.test_args(checkpoint)).trainer
        metrics = {k: v.item() for k, v in tested.callback_metrics.items() if k.startswith("test/") and v.numel() == 1}
        if last is not None and last_error is None:
            last_error = 100 * (1 - metrics["test/acc"])
        record = {
            "row": self.row.name,
            "seed": self.seed,
            "status": "done" if done else "partial",
            "budget": self.row.budget,
            "updates_done": trainer.global_step,
            "epochs_done": round(trainer.global_step / steps_per_epoch, 2),
            **results.errors_from_metrics(metrics),
            "test_error_last_checkpoint": last_error,
            **results.best_periodic_test(read_metrics(run_folders(self.directory))),
            "metrics": metrics,
            "checkpoint": str(checkpoint),
            "config": str(run_config(self.directory)),
            "overrides": self.overrides,
            "device": device_name(trainer.strategy.root_device, trainer.world_size),
            "wall_time_s": round(trained_s + time.monotonic() - tested_at, 1),
            "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "commit": commit,
        }
        results.write_json(self.directory / RECORD_FILE, record)
        return record


def seed_records(row: Row, outputs: Outputs = OFFICIAL) -> list[dict[str, Any]]:
    """Every seed record of ``row``, by seed, from the row's protocol as it is now.

    The records under ``outputs.runs`` first: a record whose run trained under another protocol than
    the row's config files and args give now (with the record's overrides, for a scratch run) is
    left out with a line naming what differs (:func:`changed_protocol`), so that a row's seeds all
    measure one thing; a record whose run left no config to compare (written elsewhere, its folder
    moved) is kept. Then, for the rows' own results, the seeds ``results.json`` records for the row
    whose runs are not here (trained on another machine, or before ``runs/`` was cleared), when the
    entry's ``protocol`` is the row's now (:func:`recorded_records`): a fresh checkout keeps the
    seeds it was given, and trains only the others."""
    paths = sorted((outputs.runs / row.name).glob(f"seed*/{RECORD_FILE}"))
    records = [r for r in map(results.read_json, paths) if r is not None]
    kept = []
    for record in records:
        config = Path(record.get("config") or "")
        overrides = () if outputs.export else tuple(record.get("overrides") or ())
        changed = changed_protocol(config, row_protocol(row, overrides)) if config.is_file() else []
        if changed:
            print(
                f"reproduce {row.name}: seed {record['seed']} left out, it trained under another protocol "
                f"({'; '.join(changed)})",
                flush=True,
            )
        else:
            kept.append(record)
    here = {r["seed"] for r in kept}
    recorded = [r for r in recorded_records(row, outputs) if r["seed"] not in here] if outputs.export else []
    return sorted(kept + recorded, key=lambda r: r["seed"])


def recorded_records(row: Row, outputs: Outputs = OFFICIAL) -> list[dict[str, Any]]:
    """The seeds ``outputs.results_json`` keeps for ``row`` (:func:`~lit_draw.experiments.results.from_per_seed`),
    when its entry names the protocol they trained under and that is the row's now; else none, with
    a line when the entry has seeds (an entry written before entries kept their ``protocol`` is
    still shown whole by :func:`current_entries` while the row has no seed here)."""
    entry = next((e for e in results.read_json(outputs.results_json) or [] if e["row"] == row.name), None)
    if entry is None or not entry.get("per_seed") or "protocol" not in entry:
        return []
    changed = differences(entry["protocol"], row_protocol(row))
    if changed:
        print(
            f"reproduce {row.name}: the seeds {outputs.results_json} records are of another protocol than the "
            f"row's now ({'; '.join(changed)}), so they are not the row's",
            flush=True,
        )
        return []
    return results.from_per_seed(entry)


def row_protocol(row: Row, overrides: list[str] | tuple[str, ...] = ()) -> dict[str, Any]:
    """The protocol (:func:`~lit_draw.experiments.protocol.protocol`) a seed of ``row`` trains under
    now, with ``overrides``: its config files and args as they are now, resolved by the CLI's parser
    (once while no config file beside the row's changes: resolving takes seconds)."""
    folders = sorted({Path(path).parent for path in row.configs})
    stamp = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for d in folders for f in sorted(d.rglob("*.yaml")))
    key = (row.configs, row.args, tuple(row.budget.items()), tuple(overrides), stamp)
    if key not in _PROTOCOLS:
        _PROTOCOLS[key] = protocol(
            resolved_config(["fit", *SeedRun(row, 0).common_args(), *row.budget_args(), *overrides])
        )
    return _PROTOCOLS[key]


#: :func:`row_protocol`'s resolved protocols, by row, overrides and the state of the config files.
_PROTOCOLS: dict[tuple[Any, ...], dict[str, Any]] = {}


def changed_protocol(config: Path, now: dict[str, Any]) -> list[str]:
    """Where the protocol of a run (``config``: the resolved config its ``fit`` wrote) differs from
    ``now`` (:func:`row_protocol`), one ``"key: then -> now"`` each; empty when they agree."""
    return differences(protocol(yaml.safe_load(config.read_text())), now)


def reproduce_row(
    row: Row,
    seeds: int,
    overrides: list[str],
    max_time_s: float | None,
    written: list[dict[str, Any]],
    outputs: Outputs = OFFICIAL,
) -> None:
    """Train and test the seeds of ``row`` that are not finished, appending each record to ``written``
    as soon as it is on disk (so that an interrupted invocation still reports the seeds it finished)."""
    configs = {seed: run_config(seed_dir(row, seed, outputs.runs)) for seed in range(seeds)}
    configs = {seed: config for seed, config in configs.items() if config.is_file()}
    now = row_protocol(row, overrides) if configs else {}
    for seed, config in configs.items():  # before anything trains: a folder of another protocol is not resumed
        changed = changed_protocol(config, now)
        if changed:
            directory = seed_dir(row, seed, outputs.runs)
            raise ConfigError(
                f"{directory} holds a run of {row.name} under another protocol than the row's now "
                f"({'; '.join(changed)}): move the folder away to train seed {seed} afresh"
            )
    finished = {r["seed"]: r for r in seed_records(row, outputs) if r["status"] == "done" and r["budget"] == row.budget}
    for seed in sorted(set(finished) & set(range(seeds))):
        if finished[seed].get("recorded"):
            print(
                f"reproduce {row.name}: seed {seed} is done in {outputs.results_json} (its run is not here), "
                "so it is not trained again",
                flush=True,
            )
    pending = [SeedRun(row, seed, overrides, outputs.runs) for seed in range(seeds) if seed not in finished]
    deadline = None if max_time_s is None else time.monotonic() + max_time_s
    for index, run in enumerate(pending):
        share = None if deadline is None else (deadline - time.monotonic()) / (len(pending) - index)
        if share is not None and share <= 0:
            print(f"reproduce {row.name}: no time left for seed {run.seed} (--max-time)", flush=True)
            return
        print(f"reproduce {row.name}: seed {run.seed} ({run.directory})", flush=True)
        written.append(run.run(share))


def export_checkpoint(row: Row, records: list[dict[str, Any]], shipped: int | None = None) -> int | None:
    """Export the checkpoint and config of the seed closest to the mean test error (among the finished
    seeds, when any is: :func:`~lit_draw.experiments.results.closest_to_mean`) as
    ``checkpoints/<row>.ckpt`` and ``checkpoints/<row>.yaml`` (:func:`ship_checkpoint`). Returns the
    seed exported, ``None`` when no seed was tested.

    A seed recorded in ``results.json`` whose run is not here can stand for the row only when it is
    the seed shipped already (``shipped``): its checkpoint is not on this machine. When such a seed is
    closest, the closest whose checkpoint is here is exported instead, and the console says so.
    """
    here = {r["seed"] for r in records if not r.get("recorded") and Path(r.get("checkpoint") or "").is_file()}
    closest = results.closest_to_mean(records)
    record = results.closest_to_mean(records, among=here | ({shipped} if shipped is not None else set()))
    if closest is not None and record is not closest:
        print(
            f"reproduce {row.name}: seed {closest['seed']} is closest to the mean, but its checkpoint is not on this "
            f"machine, so {CHECKPOINTS}/{row.name}.ckpt is seed {record['seed'] if record else 'none'}",
            flush=True,
        )
    if record is None or record.get("recorded"):  # nothing to ship, or the seed shipped already
        return None if record is None else record["seed"]
    why = (
        f"the seed whose test\n# error is closest to the mean of row {row.name}"
        if record is closest
        else f"of the seeds whose checkpoint was on the\n# machine, the one whose test error is closest to the mean of "
        f"row {row.name}; seed {closest['seed']} is closer,\n# but its checkpoint was not there"
    )
    ship_checkpoint(
        Path(record["checkpoint"]),
        Path(record["config"]),
        row.name,
        f"{Path(record['config']).parent.parent} (seed {record['seed']}: {why})",
    )
    return record["seed"]


def shipped_seed(row: Row) -> int | None:
    """The seed whose checkpoint ``checkpoints/<row>.ckpt`` is, as ``results.json`` records it; ``None``
    when none is shipped, or when the one shipped trained under another protocol than the row's now
    (its config changed since: the checkpoint is then replaced by one of the row's seeds)."""
    config = CHECKPOINTS / f"{row.name}.yaml"
    if not ((CHECKPOINTS / f"{row.name}.ckpt").is_file() and config.is_file()):
        return None
    if changed_protocol(config, row_protocol(row)):
        return None
    entry = next((e for e in results.read_json(results.RESULTS_JSON) or [] if e["row"] == row.name), {})
    return entry.get("checkpoint_seed")


def current_entries(
    rows: dict[str, Row],
    exported: dict[str, int],
    outputs: Outputs = OFFICIAL,
    keep: bool = False,
) -> list[dict[str, Any]]:
    """The ``results.json`` entries of ``rows`` from their seed records (:func:`seed_records`: the
    seeds under ``outputs.runs`` and those the entry records from elsewhere), each with the
    ``protocol`` its seeds trained under.

    ``exported`` maps the rows whose checkpoint this invocation exported to the seed exported. An
    entry written before entries named their protocol keeps its numbers while its row has no seed
    here and its config and budget are the row's; otherwise a row with no seed is ``not run``, described
    as the registry describes it now. With ``keep``, the seeds here are kept in ``records/`` on the way
    (:func:`keep_seeds`).
    """
    existing = {entry["row"]: entry for entry in results.read_json(outputs.results_json) or []}
    entries = []
    for row in rows.values():
        records = seed_records(row, outputs)
        if keep:
            keep_seeds(row, records)
        entry = results.summarise(row, records)
        kept = existing.get(row.name, {})
        legacy = kept.get("status", "not run") != "not run" and "protocol" not in kept
        if not records and legacy:
            if kept.get("config") == entry["config"] and kept.get("budget") == entry["budget"]:
                # run elsewhere: keep its numbers, described as the registry describes the row now
                entry = {**kept, **{key: entry[key] for key in results.DESCRIPTION}}
            else:
                print(
                    f"reproduce {row.name}: the results.json entry ({' '.join(kept.get('config') or [])}; "
                    f"{kept.get('budget')}) is of another protocol than the row's now, so it is not the row's result",
                    flush=True,
                )
        elif records:
            if legacy and set(kept.get("seeds") or ()) - set(entry["seeds"]):
                print(
                    f"reproduce {row.name}: the results.json entry's seeds {kept['seeds']} were recorded before entries "
                    f"named their protocol, so the seeds here ({entry['seeds']}) replace them",
                    flush=True,
                )
            entry["checkpoint_seed"] = exported.get(row.name, kept.get("checkpoint_seed"))
            if entry["checkpoint_seed"] is None:
                entry["checkpoint"] = None
            if outputs.export:
                entry["protocol"] = row_protocol(row)
        entries.append(entry)
    return entries


def write_results(rows: dict[str, Row], exported: dict[str, int], outputs: Outputs = OFFICIAL) -> None:
    """Regenerate ``results.json`` and ``RESULTS.md`` (or a scratch run's files; see :func:`current_entries`);
    for the rows' own results, each seed here is kept in ``records/`` too (:func:`keep_seeds`), and the
    generated blocks of ``README.md`` and ``docs/*.md`` are rewritten (:func:`~lit_draw.experiments.results.update_documents`)."""
    entries = current_entries(rows, exported, outputs, keep=outputs.export)
    if not outputs.export:  # a scratch run: its rows only, and no checkpoint is shipped for them
        entries = [{**e, "checkpoint": None} for e in entries if e["status"] != "not run"]
    results.write_json(outputs.results_json, entries)
    shown = docs_files(SHOWN) if outputs.export else []
    tables = docs_files(TABLES) if outputs.export else []
    outputs.results_md.write_text(results.render_markdown(entries, shown, tables))
    if outputs.export:  # the README's results summary and the docs' tables drawn from results.json
        for page in results.update_documents(entries):
            print(f"reproduce: rewrote the results in {page}", flush=True)


def docs_files(names: tuple[str, ...], docs: Path = Path("docs")) -> list[str]:
    """The files of ``names`` (names or globs, a glob's files by name) in ``docs``, then in each folder
    of it (figures drawn with ``figures --out docs/<folder>``, say one seed's), as paths relative to the
    repository root."""
    folders = [docs, *sorted(p for p in docs.iterdir() if p.is_dir())] if docs.is_dir() else []
    return [
        path.as_posix() for folder in folders for name in names for path in sorted(folder.glob(name)) if path.is_file()
    ]


def keep_seeds(row: Row, records: list[dict[str, Any]], kept: Path = KEPT) -> None:
    """Copy into ``kept/<row>/seed<k>`` what the figures read of each seed of ``records`` (the row's,
    :func:`seed_records`) whose run is here, when its record differs from the one kept or its
    config is not kept yet (:func:`~lit_draw.experiments.seed_runs.keep_seed`): the figures can then
    be drawn on a machine without these runs."""
    for record in records:  # each read from its folder's test_metrics.json, unless recorded elsewhere
        into = kept / row.name / f"seed{record['seed']}"
        stale = results.read_json(into / RECORD_FILE) != results.portable_record(record)
        if not record.get("recorded") and (stale or not (into / CONFIG_FILE).is_file()):
            keep_seed(seed_dir(row, record["seed"]), into)
            print(f"reproduce {row.name}: kept seed {record['seed']}'s logs in {into}", flush=True)


def print_rows(rows: dict[str, Row]) -> None:
    """``--list``: every row with its config, published figure, re-implementation, budget and status."""
    for row, entry in zip(rows.values(), current_entries(rows, {}), strict=True):
        print(f"{row.name}  [{results.describe_status(entry)}]")
        print(f"    config: {' '.join(row.configs + row.args)}")
        print(f"    published: {results.format_published(row.published)}  ({row.source})")
        if row.reimplementation:
            print(
                f"    best public re-implementation: {row.reimplementation['error']}%  ({row.reimplementation['source']})"
            )
        print(f"    budget: {row.budget_amount} {row.budget_unit} x {row.seeds} seeds")


def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the working directory, with ``+changes`` when lit_draw's code or
    configs differ from it; ``None`` outside a git checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
        changed = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no", "--", "lit_draw", "configs", "sweeps"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{head}+changes" if changed else head


def parse_max_time(text: str) -> float:
    """``HH:MM:SS`` -> seconds."""
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts) or int(parts[1]) > 59 or int(parts[2]) > 59:
        raise argparse.ArgumentTypeError(f"--max-time must be HH:MM:SS, got {text!r}")
    hours, minutes, seconds = map(int, parts)
    return float(hours * 3600 + minutes * 60 + seconds)


def _duration(seconds: float) -> str:
    """Seconds -> Lightning's ``DD:HH:MM:SS``."""
    total = math.ceil(seconds)
    return f"{total // 86400:02d}:{total % 86400 // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}"


def _trained_seconds(checkpoint: Path | None) -> float:
    """Training time already spent, as Lightning's ``Timer`` recorded it in ``checkpoint`` (0 without one).

    ``Trainer(max_time=...)`` counts the time of earlier runs once it resumes from a checkpoint with
    a ``Timer`` state; this is that time, so that a resumed seed gets its share on top of it.
    """
    if checkpoint is None:
        return 0.0
    state = torch.load(checkpoint, map_location="cpu", weights_only=False, mmap=True).get("callbacks", {})
    return float(state.get("Timer", {}).get("time_elapsed", {}).get("train", 0.0))


@contextmanager
def wandb_dir(directory: Path) -> Iterator[None]:
    """``WANDB_DIR`` set to ``directory`` inside the block: the W&B runs of a command go under it."""
    previous = os.environ.get("WANDB_DIR")
    directory.mkdir(parents=True, exist_ok=True)
    os.environ["WANDB_DIR"] = str(directory.resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("WANDB_DIR", None)
        else:
            os.environ["WANDB_DIR"] = previous


def main(args: list[str]) -> dict[str, list[dict[str, Any]]]:
    """``python -m lit_draw reproduce``; returns the seed records written, by row."""
    args = list(args)
    overrides = args[args.index("--") + 1 :] if "--" in args else []
    own = args[: args.index("--")] if "--" in args else args
    parser = argparse.ArgumentParser(prog="python -m lit_draw reproduce", description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="*", metavar="ROW", help="row names, or a group (study, wsram_figure2)")
    parser.add_argument("--list", action="store_true", help="print every row and what is done")
    parser.add_argument(
        "--results",
        action="store_true",
        help="only regenerate results.json, RESULTS.md and the README's and docs' results blocks",
    )
    parser.add_argument("--seeds", type=int, help="seeds 0 .. N-1 (default: the row's)")
    parser.add_argument("--max-time", type=parse_max_time, help="training time of this invocation, HH:MM:SS")
    parser.add_argument("--rows", dest="rows_file", default=str(ROWS_FILE), help="rows file (default: %(default)s)")
    options = parser.parse_args(own)
    rows = load_rows(options.rows_file)
    if options.list:
        print_rows(rows)
        return {}
    if options.results:
        write_results(rows, {})
        return {}
    if not options.rows:
        parser.error("name at least one ROW, or --list")
    if options.seeds is not None and options.seeds < 1:
        parser.error(f"--seeds must be a positive int, got {options.seeds}")
    groups = {row.group for row in rows.values() if row.group}
    unknown = [name for name in options.rows if name not in rows and name not in groups]
    if unknown:
        parser.error(f"ROW must be one of {', '.join([*rows, *sorted(groups)])}, got {', '.join(unknown)}")
    chosen = [row for row in rows.values() if row.name in options.rows or row.group in options.rows]
    changes = protocol_changes(chosen, overrides)
    if any(change.startswith("trainer.fast_dev_run:") for change in changes):
        raise ConfigError(
            "reproduce: --trainer.fast_dev_run must be left out (it trains one batch and keeps no checkpoint to test); "
            "a short scratch run is -- --trainer.max_steps=<n>, and python -m lit_draw fit --config <a row's config> "
            "--trainer.fast_dev_run=true checks a config"
        )
    outputs = scratch_outputs(changes) if changes else OFFICIAL
    if changes:
        print(
            f"reproduce: the overrides change what the rows measure ({'; '.join(changes)}), so this is a scratch run: seeds "
            f"under {outputs.runs}, results in {outputs.results_json} and {outputs.results_md}; "
            f"{results.RESULTS_JSON}, {results.RESULTS_MD} and {CHECKPOINTS}/ are left as they are",
            flush=True,
        )
    written: dict[str, list[dict[str, Any]]] = {}
    exported: dict[str, int] = {}
    deadline = None if options.max_time is None else time.monotonic() + options.max_time
    for index, row in enumerate(chosen):
        max_time_s = None if deadline is None else (deadline - time.monotonic()) / (len(chosen) - index)
        written[row.name] = []
        try:
            reproduce_row(row, options.seeds or row.seeds, overrides, max_time_s, written[row.name], outputs)
        finally:  # also when a seed is interrupted (SIGTERM): report the seeds finished so far
            shipped = shipped_seed(row)
            if outputs.export and (written[row.name] or shipped is None):
                seed = export_checkpoint(row, seed_records(row), shipped)
                if seed is not None:
                    exported[row.name] = seed
            write_results(rows, exported, outputs)
    return written
