"""The halting frontier: test accuracy against mean glimpses used, learned halting against the
confidence-threshold exit.

Reads the ``metrics.csv`` of runs that ran ``test`` after ``fit`` (:mod:`lit_draw.cli.metrics_csv`; a run
dir is a ``trainer.default_root_dir``, its ``wandb`` folder or one W&B run folder, of which the newest
is read: the ``test``), or a folder ``--keep`` wrote. Each setting begins with ``--title``; the options
after it, up to the next ``--title``, are its own. A setting is one of:

* **separately trained nets**, ``--all-step RUN --halting RUN ...``: each learned-halting run gives one
  point, ``(test/halt_glimpses, test/halt_acc)``, its own stop (the first ``lambda_t >= 0.5``); the
  All-Step run, trained without the head, gives the threshold curve, ``(test/early_exit/tau_{tau}/glimpses,
  test/early_exit/tau_{tau}/acc)`` for every tau of :class:`~lit_draw.callbacks.EarlyExit`, and the
  fixed-T accuracy ``test/acc``, drawn as a horizontal line;
* **the same nets**, ``--head RUN ...`` (and optionally ``--halting RUN ...``, drawn as points): each run
  is a halting head trained alone on a frozen All-Step net (``configs/overlays/halting_head.yaml``), one
  net per seed, whose test pass logged on that one net the confidence-threshold curve (EarlyExit) and
  the head's two (:class:`~lit_draw.callbacks.HaltingThresholds`, :data:`RULES`). Drawn as the mean
  over the nets per threshold with the nets' sd; compared net by net at matched mean glimpses
  (:data:`MATCHED`) and where each reaches the fixed-T accuracy minus :data:`MARGIN`; each rule's
  threshold is chosen on validation (:func:`choose`, on the fit's last validation, whose weights are
  the ``last.ckpt`` tested) and its test point reported.

``--recorded FILE`` adds settings kept as numbers (:func:`read_recorded`), drawn first. The number
docs/halting.md reports per setting is :func:`glimpses_to_reach` at the fixed-T accuracy minus half a
point. With ``--ship NAME`` in a setting of separately trained nets, its learned-halting run chosen on
validation (:func:`choose_on_validation`) is exported as ``checkpoints/NAME.ckpt`` and ``.yaml``::

    python -m lit_draw halting-frontier --title "DRAW, 40x40" --all-step <run dir> \
        --halting <run dir> <run dir> ... [--ship NAME] \
        --title "DRAW, 40x40, the same nets" --head <run dir> <run dir> ... [--keep records/halting_head] \
        --out docs/halting_frontier.png
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any, TypeVar

import yaml
from matplotlib.axes import Axes

from lit_draw.cli.metrics_csv import CSV_FOLDER, METRICS_FILE, read_metrics, read_rows, run_folders, values, write_rows
from lit_draw.cli.resume import CHECKPOINTS
from lit_draw.errors import ConfigError
from lit_draw.experiments.plateau import fit_folders
from lit_draw.experiments.plots import PALETTE, panels, save
from lit_draw.experiments.shipping import ship_checkpoint


class MissingRun(ConfigError, KeyError):
    """A run dir given to ``halting-frontier`` without the runs, metrics or checkpoint it needs:
    one line from ``python -m lit_draw`` (a :class:`~lit_draw.errors.ConfigError`), and a
    ``KeyError`` for callers that look a metric up."""

    def __str__(self) -> str:  # the message itself, not KeyError's quoted repr of it
        return str(self.args[0])


#: The frontier's table in docs/, beside its figure (the default ``--out``), that RESULTS.md carries.
TABLE = "halting_frontier.md"
#: Learned halting and the threshold exit are compared where they reach the fixed-T accuracy minus this.
MARGIN = 0.005
#: The stop rules compared on the same nets, by the prefix of their logged keys and the callback that
#: logs them: the confidence threshold (the top class probability reaches tau) and the halting head's
#: ``lambda_t``, or its halting mass so far, reaching a threshold.
RULES = {
    "confidence": ("early_exit/tau_", "EarlyExit"),
    "lambda": ("halt_threshold/lambda_", "HaltingThresholds"),
    "cumulative": ("halt_threshold/cumulative_", "HaltingThresholds"),
}
#: The mean glimpses at which the same nets' curves are compared.
MATCHED = (1.25, 1.5, 2.0, 2.5, 3.0)
#: A run kept by ``--keep``: the fit's resolved config, the fit's metrics (its validations) and the test's.
KEPT_CONFIG, KEPT_FIT, KEPT_TEST = "config.yaml", "fit_metrics.csv.gz", "test_metrics.csv.gz"

Key = TypeVar("Key", bound=Hashable)
Point = tuple[float, float]  # (mean glimpses, accuracy)


@dataclass
class SameNet:
    """One frozen All-Step net with its halting head, on the test set.

    ``curves`` holds per stop rule (:data:`RULES`) ``{threshold: (mean glimpses, accuracy)}``, ``chosen``
    per rule the threshold chosen on validation, ``fixed_acc`` the net's accuracy after all glimpses.
    """

    name: str
    fixed_acc: float
    curves: dict[str, dict[str, Point]]
    chosen: dict[str, str]

    def points(self, rule: str) -> list[Point]:
        """The rule's ``(mean glimpses, accuracy)``, one per threshold, by glimpses."""
        return sorted(self.curves[rule].values())

    def operating(self, rule: str) -> Point:
        """The rule's test point at its threshold chosen on validation."""
        return self.curves[rule][self.chosen[rule]]


@dataclass
class Frontier:
    """One setting: ``halting`` and ``threshold`` are ``[(mean glimpses, accuracy), ...]``; ``fixed_acc``
    the All-Step model's test accuracy after all ``T`` glimpses; ``names`` one per halting point;
    ``same_net`` the halting-head runs of a setting of the same nets (``threshold`` and ``fixed_acc``
    are then their means)."""

    title: str
    halting: list[Point]
    threshold: list[Point]
    fixed_acc: float
    names: list[str] = field(default_factory=list)
    same_net: list[SameNet] = field(default_factory=list)


@dataclass
class LoggedRun:
    """The scalars one W&B run folder logged: ``rows`` as :func:`~lit_draw.cli.metrics_csv.read_metrics` reads them."""

    directory: Path
    rows: list[dict[str, float]]


def read_run(path: str | Path) -> LoggedRun:
    """The newest W&B run under ``path`` (a run dir, its ``wandb`` folder, or one W&B run folder), or the
    test a kept folder holds."""
    path = Path(path)
    if (path / KEPT_TEST).is_file():
        return LoggedRun(path, read_rows(path / KEPT_TEST))
    folders = [path] if (path / CSV_FOLDER / METRICS_FILE).is_file() else run_folders(path)
    if not folders:
        raise MissingRun(_no_run_folder(path))
    return LoggedRun(folders[-1], read_metrics(folders[-1]))


def _no_run_folder(path: Path) -> str:
    """Why ``path`` holds no W&B run folder, and where its runs' W&B folders are when it is a
    ``trainer.default_root_dir`` (fit writes W&B runs to ``$WANDB_DIR/wandb``, ``./wandb`` by default)."""
    wandb = Path(os.environ.get("WANDB_DIR", ".")) / "wandb"
    ids = {folder.parent.name for folder in path.glob(f"*/{CHECKPOINTS}") if folder.is_dir()}
    if not ids:
        return f"no W&B run folder under {path}"
    fits = [str(f) for f in (run_folders(wandb) if wandb.is_dir() else []) if f.name.rsplit("-", 1)[-1] in ids]
    found = f"; its fit's are {', '.join(fits)}" if fits else ""
    return (
        f"no W&B run folder under {path}, a trainer.default_root_dir: fit writes its W&B runs to {wandb} "
        f"(WANDB_DIR=<folder> puts them in <folder>/wandb){found}; give the W&B run folder of the test run "
        "after fit (test logs to a W&B run of its own)"
    )


def read_every_run(run_dir: str | Path) -> LoggedRun:
    """Every W&B run under ``run_dir``, oldest first, as one: the ``fit`` (its validation values)
    and the ``test`` after it; or a kept folder's fit and test."""
    run_dir = Path(run_dir)
    if (run_dir / KEPT_TEST).is_file():
        fit = run_dir / KEPT_FIT
        return LoggedRun(run_dir, [*(read_rows(fit) if fit.is_file() else []), *read_rows(run_dir / KEPT_TEST)])
    return LoggedRun(run_dir, read_metrics(run_folders(run_dir)))


def keep_run(run_dir: str | Path, into: Path) -> Path:
    """Copy a halting-head run (a fit's ``trainer.default_root_dir`` whose newest W&B run is the test
    after the fit) into ``into/<its folder's name>``: :data:`KEPT_CONFIG`, :data:`KEPT_FIT` and
    :data:`KEPT_TEST`. A folder already kept is returned as it is."""
    run_dir = Path(run_dir)
    if (run_dir / KEPT_TEST).is_file():
        return run_dir
    fits, folders = fit_folders(run_dir), run_folders(run_dir)
    if not fits or len(folders) < 2:
        raise MissingRun(
            f"--keep: {run_dir} holds no fit with a test after it (a <run id>/{CHECKPOINTS}/config.yaml and "
            "two W&B runs: give the fit's trainer.default_root_dir, with WANDB_DIR set to it for fit and test)"
        )
    test = LoggedRun(folders[-1], read_metrics(folders[-1]))
    _last(test, "test/acc")  # the newest W&B run is the test
    kept = into / run_dir.name
    kept.mkdir(parents=True, exist_ok=True)
    (kept / KEPT_CONFIG).write_text((fits[-1] / CHECKPOINTS / "config.yaml").read_text())
    write_rows(kept / KEPT_FIT, read_metrics(folders[:-1]))
    write_rows(kept / KEPT_TEST, test.rows)
    return kept


def _last(run: LoggedRun, key: str) -> float:
    logged = values(run.rows, key)
    if not logged:
        hint = (
            " (`python -m lit_draw test` logs to a W&B run of its own: give the test's W&B run folder, or a folder "
            "whose newest W&B run is the test after fit)"
            if key.startswith("test/")
            else ""
        )
        raise MissingRun(f"{run.directory} logged no {key}{hint}")
    return float(logged[-1])


def halting_point(run: LoggedRun) -> Point:
    """``(test/halt_glimpses, test/halt_acc)`` of a learned-halting run."""
    return _last(run, "test/halt_glimpses"), _last(run, "test/halt_acc")


def exit_points(run: LoggedRun, stage: str, rule: str) -> dict[str, Point]:
    """``{threshold: (mean glimpses, accuracy)}`` of one stop rule of :data:`RULES`, as ``run`` last
    logged it at ``stage`` (``{stage}/early_exit/tau_{tau}/glimpses`` and ``.../acc``, ...)."""
    prefix, callback = RULES[rule]
    pattern = re.compile(rf"^{stage}/{re.escape(prefix)}(?P<threshold>[0-9.e+-]+)/acc$")
    thresholds = sorted({m["threshold"] for row in run.rows for key in row if (m := pattern.match(key))}, key=float)
    if not thresholds:
        raise MissingRun(f"{run.directory} logged no {stage}/{prefix}*/acc (the {callback} callback)")
    return {
        c: (_last(run, f"{stage}/{prefix}{c}/glimpses"), _last(run, f"{stage}/{prefix}{c}/acc")) for c in thresholds
    }


def threshold_curve(run: LoggedRun) -> list[Point]:
    """The confidence-threshold exit of an All-Step run: ``(glimpses, acc)`` per tau, by glimpses."""
    return sorted(exit_points(run, "test", "confidence").values())


def choose(scored: dict[Key, Point], target: float) -> Key:
    """The candidate with the fewest mean glimpses among those whose accuracy reaches ``target``, or,
    if none does, the most accurate. ``scored``: each candidate's ``(mean glimpses, accuracy)`` on
    validation (never on test)."""
    close = [key for key, (_, accuracy) in scored.items() if accuracy >= target]
    if close:
        return min(close, key=lambda key: (scored[key][0], -scored[key][1]))
    return max(scored, key=lambda key: scored[key][1])


def read_same_net(path: str | Path) -> SameNet:
    """A halting-head run (run dir or kept folder): every rule's test curve, and each rule's threshold
    chosen on validation: the fewest ``val`` glimpses within :data:`MARGIN` of the net's ``val/acc``."""
    run = read_every_run(path)
    target = _last(run, "val/acc") - MARGIN
    curves = {rule: exit_points(run, "test", rule) for rule in RULES}
    chosen = {rule: choose(exit_points(run, "val", rule), target) for rule in RULES}
    for rule, threshold in chosen.items():
        if threshold not in curves[rule]:
            key = f"{RULES[rule][0]}{threshold}"
            raise MissingRun(f"{run.directory} logged val/{key} but not test/{key}")
    return SameNet(Path(path).name, _last(run, "test/acc"), curves, chosen)


def frontier_points(points: Sequence[Point]) -> list[Point]:
    """The points that no point with as few glimpses beats, by glimpses (a run dominated by another
    counts for nothing). Consecutive ones are joined by straight lines: mixing the two stops canvas by
    canvas reaches any point between them."""
    ordered: list[Point] = []
    for glimpses, accuracy in sorted(points, key=lambda p: (p[0], -p[1])):
        if not ordered or accuracy > ordered[-1][1]:
            ordered.append((glimpses, accuracy))
    return ordered


def glimpses_to_reach(points: Sequence[Point], target: float) -> float | None:
    """The fewest mean glimpses at which the frontier of ``points`` (:func:`frontier_points`) reaches
    accuracy ``target`` (a point alone counts only if it reaches ``target`` itself). ``None`` if no
    point or segment reaches it."""
    ordered = frontier_points(points)
    if ordered and ordered[0][1] >= target:
        return ordered[0][0]
    for (g0, a0), (g1, a1) in pairwise(ordered):
        if a0 < target <= a1:  # the segment crosses the target on its way up
            return g0 + (g1 - g0) * (target - a0) / (a1 - a0)
    return None


def accuracy_at(points: Sequence[Point], glimpses: float) -> float | None:
    """The accuracy of the frontier of ``points`` (:func:`frontier_points`) at ``glimpses`` mean glimpses:
    on the segment that spans it, or the last point's beyond the last; ``None`` below the first point
    (the rule cannot stop that early)."""
    ordered = frontier_points(points)
    if not ordered or glimpses < ordered[0][0]:
        return None
    for (g0, a0), (g1, a1) in pairwise(ordered):
        if glimpses <= g1:
            return a0 + (a1 - a0) * (glimpses - g0) / (g1 - g0)
    return ordered[-1][1]


def _mean_sd(numbers: Sequence[float]) -> tuple[float, float]:
    return statistics.fmean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else 0.0


def mean_curve(nets: Sequence[SameNet], rule: str) -> list[tuple[float, float, float, float]]:
    """Per threshold of ``rule``, the nets' mean glimpses and accuracy and their sds:
    ``[(glimpses, accuracy, glimpses sd, accuracy sd)]``, by glimpses."""
    thresholds = nets[0].curves[rule].keys()
    other = [net.name for net in nets if net.curves[rule].keys() != thresholds]
    if other:
        raise MissingRun(
            f"--head: {', '.join(other)} logged other {rule} thresholds than {nets[0].name} "
            f"({', '.join(thresholds)}); the nets are averaged threshold by threshold"
        )
    curve = []
    for c in thresholds:
        glimpses, accuracy = zip(*(net.curves[rule][c] for net in nets), strict=True)
        (g, g_sd), (a, a_sd) = _mean_sd(glimpses), _mean_sd(accuracy)
        curve.append((g, a, g_sd, a_sd))
    return sorted(curve)


def run_name(path: str | Path) -> str:
    """A run's folder name; for a kept run, with the objective and seed its kept config names."""
    path = Path(path)
    if not (path / KEPT_CONFIG).is_file():
        return path.name
    config = yaml.safe_load((path / KEPT_CONFIG).read_text())
    objective = config["model"]["objective"]["class_path"].rsplit(".", 1)[-1]
    return f"{path.name} ({objective}, seed {config.get('seed_everything')})"


def read_frontier(title: str, all_step: str | Path, halting: Sequence[str | Path]) -> Frontier:
    """A :class:`Frontier` from the All-Step run and the learned-halting runs (run or ``wandb`` folders);
    each halting point is named after its run's folder."""
    baseline = read_run(all_step)
    points = sorted((*halting_point(read_run(path)), Path(path).name) for path in halting)
    return Frontier(
        title=title,
        halting=[(g, a) for g, a, _ in points],
        threshold=threshold_curve(baseline),
        fixed_acc=_last(baseline, "test/acc"),
        names=[name for _, _, name in points],
    )


def read_same_nets(title: str, heads: Sequence[str | Path], halting: Sequence[str | Path] = ()) -> Frontier:
    """A :class:`Frontier` of the same nets: ``heads`` are halting-head runs (:func:`read_same_net`), one per
    net; ``threshold`` and ``fixed_acc`` are the nets' means; ``halting`` adds separately trained
    learned-halting runs as points (named by :func:`run_name`)."""
    nets = [read_same_net(path) for path in heads]
    points = sorted((*halting_point(read_run(path)), run_name(path)) for path in halting)
    return Frontier(
        title=title,
        halting=[(g, a) for g, a, _ in points],
        threshold=[(g, a) for g, a, _, _ in mean_curve(nets, "confidence")],
        fixed_acc=statistics.fmean(net.fixed_acc for net in nets),
        names=[name for _, _, name in points],
        same_net=nets,
    )


def read_recorded(path: str | Path) -> tuple[str, list[Frontier]]:
    """Settings kept as numbers: a JSON object ``{"about": <where the numbers come from>, "settings":
    [{"title": str, "fixed_acc": float, "threshold": [[glimpses, accuracy], ...], "halting": [[glimpses,
    accuracy], ...], "names": [str, ...]}]}``, ``names`` one per halting point. Returns ``about`` and the
    settings."""
    path = Path(path)
    try:
        content = json.loads(path.read_text())
    except OSError as error:
        raise ConfigError(f"--recorded {path}: {error.strerror or error}") from error
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"--recorded {path}: not a JSON file ({error})") from error

    def require(ok: bool, where: str, rule: str, value: Any) -> None:
        if not ok:
            raise ConfigError(f"--recorded {path}: {where} must be {rule}, got {value!r}")

    def pairs(value: Any) -> bool:
        return isinstance(value, list) and all(
            isinstance(p, list) and len(p) == 2 and all(isinstance(x, (int, float)) for x in p) for p in value
        )

    require(isinstance(content, dict) and isinstance(content.get("settings"), list), "settings", "a list", content)
    require(isinstance(content.get("about"), str), "about", "a string", content.get("about"))
    frontiers = []
    for i, setting in enumerate(content["settings"]):
        where = f"settings[{i}]"
        require(isinstance(setting, dict), where, "an object", setting)
        known = {"title", "fixed_acc", "threshold", "halting", "names"}
        require(set(setting) == known, f"{where}'s keys", f"exactly {', '.join(sorted(known))}", sorted(setting))
        require(isinstance(setting["title"], str), f"{where}.title", "a string", setting["title"])
        require(isinstance(setting["fixed_acc"], (int, float)), f"{where}.fixed_acc", "a number", setting["fixed_acc"])
        for key in ("threshold", "halting"):
            require(pairs(setting[key]), f"{where}.{key}", "a list of [glimpses, accuracy] pairs", setting[key])
        names = setting["names"]
        ok = (
            isinstance(names, list) and len(names) == len(setting["halting"]) and all(isinstance(n, str) for n in names)
        )
        require(ok, f"{where}.names", "a list of strings, one per halting point", names)
        frontiers.append(
            Frontier(
                setting["title"],
                [tuple(p) for p in setting["halting"]],
                [tuple(p) for p in setting["threshold"]],
                float(setting["fixed_acc"]),
                list(names),
            )
        )
    return content["about"], frontiers


def choose_on_validation(all_step: str | Path, halting: Sequence[str | Path], margin: float = MARGIN) -> Path:
    """The learned-halting run to ship, chosen on validation only (:func:`choose`): the fewest
    ``val/halt_glimpses`` among the runs whose ``val/halt_acc`` is within ``margin`` of the All-Step
    run's ``val/acc``, or, if none is, the highest ``val/halt_acc``."""
    target = _last(read_every_run(all_step), "val/acc") - margin
    scored = {}
    for path in halting:
        run = read_every_run(path)
        scored[Path(path)] = (_last(run, "val/halt_glimpses"), _last(run, "val/halt_acc"))
    return choose(scored, target)


# ---------------------------------------------------------------- the figure

#: The same nets' stop rules in the figure: colour, marker and legend label.
STYLES = {
    "confidence": ("tab:grey", "o", "confidence threshold tau"),
    "lambda": (PALETTE[1], "v", "halting head: lambda_t >= threshold"),
    "cumulative": (PALETTE[2], "^", "halting head: halting mass so far >= threshold"),
}


def draw(frontiers: Sequence[Frontier], path: str | Path, margin: float = MARGIN) -> list[Path]:
    """One panel per setting, and a second for a setting of the same nets: its top, within two points
    of the fixed-T accuracy; two panels to a row. Learned-halting points (named where separately trained beside an All-Step
    run), the threshold curve (the same nets: every rule's mean curve with the nets' sd as error bars,
    and its threshold chosen on validation as a star), the fixed-T accuracy as a line and the fixed-T
    accuracy minus ``margin`` dotted; written to ``path`` (PNG) and a vector PDF beside it. Returns both paths."""
    count = sum(2 if f.same_net else 1 for f in frontiers)
    figure, axes = panels(count, columns=2)
    axes = iter(axes)
    for f in frontiers:
        for zoom in (False, True) if f.same_net else (False,):
            ax = next(axes)
            if f.same_net:
                _draw_same_nets(ax, f)
            else:
                g, a = zip(*f.threshold, strict=True)
                ax.plot(g, a, "o-", color="tab:grey", label="confidence threshold (All-Step)")
            if f.halting:
                g, a = zip(*f.halting, strict=True)
                label = "learned halting, separately trained" if f.same_net else "learned halting"
                ax.plot(g, a, "s", color="tab:blue", label=label)
            if not f.same_net:  # each run named: its folder's name less its first word (draw_, ram_)
                for name, point in zip(f.names, f.halting, strict=True):
                    ax.annotate(
                        name.split("_", 1)[-1],
                        point,
                        textcoords="offset points",
                        xytext=(4, -10),
                        fontsize=6,
                        color="tab:blue",
                    )
            ax.axhline(f.fixed_acc, color="black", lw=1, label="all glimpses (All-Step)")
            ax.axhline(
                f.fixed_acc - margin, color="black", lw=1, ls=":", label=f"all glimpses - {100 * margin:g} points"
            )
            title = f"{f.title}: within 2 points" if zoom else f.title
            ax.set(title=title, xlabel="mean glimpses used", ylabel="test accuracy")
            if zoom:
                ax.set_ylim(f.fixed_acc - 0.02, f.fixed_acc + 0.003)
            if not zoom:  # the zoom shares its setting's legend
                ax.legend(loc="lower right", fontsize=6 if f.same_net else 7)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save(figure, Path(path))


def _draw_same_nets(ax: Axes, f: Frontier) -> None:
    """Every rule's mean curve over the nets with their sd as error bars, and the mean of its test points
    at the thresholds chosen on validation as a star."""
    for rule, (colour, marker, label) in STYLES.items():
        g, a, g_sd, a_sd = zip(*mean_curve(f.same_net, rule), strict=True)
        ax.errorbar(g, a, xerr=g_sd, yerr=a_sd, fmt=f"{marker}-", color=colour, ms=3, lw=1, elinewidth=0.7, label=label)
        chosen = [net.operating(rule) for net in f.same_net]
        point = (statistics.fmean(p[0] for p in chosen), statistics.fmean(p[1] for p in chosen))
        ax.plot(*point, "*", color=colour, ms=11, mec="black", mew=0.5, zorder=3)
    ax.plot([], [], "*", color="white", ms=9, mec="black", mew=0.5, label="threshold chosen on validation")


# ---------------------------------------------------------------- the tables


def frontier_table(frontiers: Sequence[Frontier], about: Sequence[str] = ()) -> str:
    """Markdown: per setting, the glimpses learned halting and the threshold exit need to come within
    :data:`MARGIN` of the fixed-T accuracy, then every learned-halting point, then for each setting of
    the same nets :func:`same_net_section`. ``about``: where recorded settings' numbers come from."""
    lines = [
        "# The halting frontier",
        "",
        "Written by `python -m lit_draw halting-frontier` from the runs' test metrics (`docs/halting_frontier.png`).",
        *about,
        "",
        f"| setting | fixed-T test accuracy | mean glimpses to reach it minus {100 * MARGIN:g} points: learned halting "
        "| threshold exit |",
        "| --- | --- | --- | --- |",
    ]
    for f in frontiers:
        reach = [glimpses_to_reach(points, f.fixed_acc - MARGIN) for points in (f.halting, f.threshold)]
        lines.append(
            f"| {f.title} | {100 * f.fixed_acc:.2f}% | "
            + " | ".join("not reached" if r is None else f"{r:.2f}" for r in reach)
            + " |"
        )
    lines += ["", "| setting | learned-halting run | mean glimpses | test accuracy |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {f.title} | {name} | {g:.2f} | {100 * a:.2f}% |"
        for f in frontiers
        for name, (g, a) in zip(f.names, f.halting, strict=True)
    ]
    for f in frontiers:
        if f.same_net:
            lines += ["", *same_net_section(f)]
    return "\n".join(lines) + "\n"


def _cell(numbers: Sequence[float | None], scale: float = 100.0, digits: int = 2) -> str:
    """``mean ± sd`` of ``numbers`` times ``scale``; ``-`` where any is missing."""
    if not numbers or any(n is None for n in numbers):
        return "-"
    mean, sd = _mean_sd([scale * n for n in numbers])
    return f"{mean:.{digits}f} ± {sd:.{digits}f}"


def _per_net(numbers: Sequence[float | None], scale: float = 100.0, digits: int = 2) -> str:
    return ", ".join("-" if n is None else f"{scale * n:+.{digits}f}" for n in numbers)


def compare(differences: Sequence[float]) -> str:
    """``ahead``, ``behind`` (the first rule's accuracy minus the second's, net by net, all of one sign
    and their mean further from 0 than their sd) or ``tie``."""
    mean, sd = _mean_sd(differences)
    if all(d > 0 for d in differences) and mean > sd:
        return "ahead"
    if all(d < 0 for d in differences) and -mean > sd:
        return "behind"
    return "tie"


def same_net_section(f: Frontier) -> list[str]:
    """Markdown for a setting of the same nets: per net, the fixed-T accuracy, the glimpses each rule
    needs to come within :data:`MARGIN` of it and each rule's test point at its threshold chosen on
    validation; each rule's accuracy at :data:`MATCHED` glimpses, the head's rules against the
    confidence threshold net by net; and the statement of who wins where."""
    nets, rules = f.same_net, list(RULES)
    lines = [
        f"### {f.title}: the confidence threshold and a halting head on the same nets",
        "",
        "Each net is a frozen All-Step net with a halting head trained on it (`configs/overlays/halting_head.yaml`); "
        "every rule stops each test canvas at its first glimpse whose score reaches the threshold: the top class "
        "probability (confidence), the head's `lambda_t`, or its halting mass so far (cumulative). Per net, the mean "
        f"glimpses to come within {100 * MARGIN:g} points of its fixed-T accuracy, and the test point at the threshold "
        f"chosen on validation (the fewest validation glimpses within {100 * MARGIN:g} points of its validation "
        "accuracy):",
        "",
        "| net | fixed-T test accuracy | "
        + " | ".join(f"{rule}: glimpses to reach" for rule in rules)
        + " | "
        + " | ".join(f"{rule}: chosen on validation" for rule in rules)
        + " |",
        "| --- " * (2 + 2 * len(rules)) + "|",
    ]
    reach = {rule: [glimpses_to_reach(net.points(rule), net.fixed_acc - MARGIN) for net in nets] for rule in rules}
    for i, net in enumerate(nets):
        cells = ["not reached" if reach[rule][i] is None else f"{reach[rule][i]:.2f}" for rule in rules]
        for rule in rules:
            g, a = net.operating(rule)
            cells.append(f"{net.chosen[rule]}: {g:.2f} glimpses, {100 * a:.2f}%")
        lines.append(f"| {net.name} | {100 * net.fixed_acc:.2f}% | " + " | ".join(cells) + " |")
    cells = [_cell(reach[rule], 1.0) for rule in rules]
    for rule in rules:
        chosen = [net.operating(rule) for net in nets]
        cells.append(f"{_cell([g for g, _ in chosen], 1.0)} glimpses, {_cell([a for _, a in chosen])}%")
    lines.append(f"| mean ± sd | {_cell([net.fixed_acc for net in nets])}% | " + " | ".join(cells) + " |")
    head = [rule for rule in rules if rule != "confidence"]
    lines += [
        "",
        "Test accuracy (%) at matched mean glimpses, on each rule's frontier (mixing two neighbouring thresholds "
        "canvas by canvas reaches any point between them); `-` where a rule cannot stop that early. The differences "
        "are net by net, the head's rule minus the confidence threshold:",
        "",
        "| mean glimpses | "
        + " | ".join(rules)
        + " | "
        + " | ".join(f"{rule} - confidence: mean ± sd (per net)" for rule in head)
        + " |",
        "| --- " * (1 + len(rules) + len(head)) + "|",
    ]
    at = {rule: {g: [accuracy_at(net.points(rule), g) for net in nets] for g in MATCHED} for rule in rules}
    verdicts: dict[str, dict[float, tuple[str, list[float]]]] = {rule: {} for rule in head}
    for g in MATCHED:
        cells = [_cell(at[rule][g]) for rule in rules]
        for rule in head:
            pairs = list(zip(at[rule][g], at["confidence"][g], strict=True))
            if any(a is None or b is None for a, b in pairs):
                cells.append("-")
                continue
            differences = [a - b for a, b in pairs]
            verdicts[rule][g] = (compare(differences), differences)
            cells.append(f"{_cell(differences)} ({_per_net(differences)})")
        lines.append(f"| {g:g} | " + " | ".join(cells) + " |")
    lines += ["", *(_statement(rule, verdicts[rule], reach, nets) for rule in head)]
    return lines


def _statement(
    rule: str,
    verdicts: dict[float, tuple[str, list[float]]],
    reach: dict[str, list[float | None]],
    nets: Sequence[SameNet],
) -> str:
    """One bullet: where the head's ``rule`` is ahead of, behind or tied with the confidence threshold
    at matched glimpses (``ahead``/``behind``: every net's difference of one sign and their mean beyond
    their sd), the glimpses each needs to reach the fixed-T accuracy minus :data:`MARGIN`, and both
    at their thresholds chosen on validation."""
    parts = []
    for verdict, words in (("behind", "the confidence threshold is ahead"), ("ahead", f"{rule} is ahead")):
        where = {g: d for g, (v, d) in verdicts.items() if v == verdict}
        if where:
            by = ", ".join(f"{abs(100 * statistics.fmean(d)):.2f}" for d in where.values())
            parts.append(f"{words} at {', '.join(f'{g:g}' for g in where)} glimpses (by {by} points, every net)")
    tied = [g for g, (v, _) in verdicts.items() if v == "tie"]
    if tied:
        parts.append(f"a tie within the nets' spread at {', '.join(f'{g:g}' for g in tied)} glimpses")
    if len(verdicts) < len(MATCHED):
        early = [g for g in MATCHED if g not in verdicts]
        parts.append(f"{rule} cannot stop as early as {', '.join(f'{g:g}' for g in early)} glimpses")
    both = [(h, c) for h, c in zip(reach[rule], reach["confidence"], strict=True) if h is not None and c is not None]
    if len(both) == len(reach[rule]):
        h, c = _mean_sd([h for h, _ in both]), _mean_sd([c for _, c in both])
        parts.append(
            f"within {100 * MARGIN:g} points of fixed-T at {h[0]:.2f} ± {h[1]:.2f} glimpses against the confidence "
            f"threshold's {c[0]:.2f} ± {c[1]:.2f}"
        )
    chosen = {r: [net.operating(r) for net in nets] for r in (rule, "confidence")}
    g, a = ({r: _cell([p[i] for p in chosen[r]], 100.0 if i else 1.0) for r in chosen} for i in (0, 1))
    parts.append(
        f"at the thresholds chosen on validation {g[rule]} glimpses and {a[rule]}% against the confidence "
        f"threshold's {g['confidence']} glimpses and {a['confidence']}%"
    )
    return f"- **{rule} against the confidence threshold**: " + "; ".join(parts) + "."


# ---------------------------------------------------------------- the command


class _SettingOption(argparse.Action):
    """``--title`` begins a setting; the options after it, up to the next ``--title``, are its own
    (``namespace.settings``: one dict per setting)."""

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, value: Any, flag: Any = None
    ) -> None:
        settings = namespace.settings = list(namespace.settings or [])
        if self.dest == "title":
            settings.append({"title": value})
            return
        if not settings:
            parser.error(f"{flag} belongs to a setting: give --title first")
        if self.dest in settings[-1]:
            parser.error(f"{flag} given twice in the setting {settings[-1]['title']!r}")
        settings[-1][self.dest] = value


def _check_setting(parser: argparse.ArgumentParser, setting: dict[str, Any]) -> None:
    """Refuse a setting whose options do not make one of the two kinds (see the module docstring)."""
    title = setting["title"]
    if ("all_step" in setting) == ("head" in setting):
        parser.error(
            f"setting {title!r}: give --all-step (an All-Step run, with --halting runs) or --head (halting-head "
            "runs on frozen All-Step nets), one of the two"
        )
    if "all_step" in setting and "halting" not in setting:
        parser.error(f"setting {title!r}: --all-step needs --halting (the learned-halting runs it is compared with)")
    if "ship" in setting and "head" in setting:
        parser.error(
            f"setting {title!r}: --ship chooses among --halting runs against an --all-step run; a --head setting has none"
        )


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Draw the frontier, write and print its numbers (:func:`frontier_table`, beside the figure as
    ``.md``) and, with ``--ship``, export a setting's learned-halting run chosen on validation.
    Returns the paths written."""
    parser = argparse.ArgumentParser(prog="python -m lit_draw halting-frontier", description=__doc__.split("\n\n")[0])
    parser.set_defaults(settings=None)
    parser.add_argument("--title", action=_SettingOption, help="begins a setting; the options after it are its own")
    parser.add_argument(
        "--all-step", action=_SettingOption, help="the setting's All-Step run (separately trained nets)"
    )
    parser.add_argument(
        "--head",
        action=_SettingOption,
        nargs="+",
        help="the setting's halting-head runs on frozen All-Step nets, one per net (the same nets)",
    )
    parser.add_argument(
        "--halting", action=_SettingOption, nargs="+", help="the setting's separately trained learned-halting runs"
    )
    parser.add_argument(
        "--ship",
        action=_SettingOption,
        metavar="NAME",
        help="export the setting's learned-halting run chosen on validation as checkpoints/NAME.ckpt and .yaml",
    )
    parser.add_argument(
        "--recorded", action="append", default=[], metavar="FILE", help="settings kept as numbers (JSON), drawn first"
    )
    parser.add_argument("--keep", type=Path, metavar="DIR", help="copy each --head run's config and metrics into DIR")
    parser.add_argument("--out", default=str(Path("docs", TABLE).with_suffix(".png")))
    args = parser.parse_args(argv)
    settings = args.settings or []
    if not settings and not args.recorded:
        parser.error("give a setting (--title ...) or --recorded FILE")
    for setting in settings:
        _check_setting(parser, setting)
    about, frontiers = [], []
    for path in args.recorded:
        text, recorded = read_recorded(path)
        about.append(f"Settings from `{path}` ({'; '.join(f.title for f in recorded)}): {text}")
        frontiers += recorded
    for setting in settings:
        if "head" in setting:
            heads = [keep_run(p, args.keep) if args.keep else p for p in setting["head"]]
            frontiers.append(read_same_nets(setting["title"], heads, setting.get("halting", ())))
        else:
            frontiers.append(read_frontier(setting["title"], setting["all_step"], setting["halting"]))
    written = draw(frontiers, args.out)
    table = Path(args.out).with_suffix(".md")
    table.write_text(frontier_table(frontiers, about))
    print(table.read_text())
    written.append(table)
    shipped = {s["ship"]: choose_on_validation(s["all_step"], s["halting"]) for s in settings if "ship" in s}
    for name, chosen in shipped.items():  # every setting's run checked before any is shipped
        missing = [f for f in ("last.ckpt", "config.yaml") if not (chosen / "checkpoints" / f).is_file()]
        if missing:
            raise MissingRun(
                f"--ship {name}: {chosen}/checkpoints has no {' or '.join(missing)} (give each halting "
                "run as its fit's trainer.default_root_dir)"
            )
    for name, chosen in shipped.items():
        ship_checkpoint(
            chosen / "checkpoints" / "last.ckpt",
            chosen / "checkpoints" / "config.yaml",
            name,
            f"{chosen} (the learned-halting run chosen on validation: the fewest val/halt_glimpses\n"
            f"# within {100 * MARGIN:g} points of the All-Step run's val/acc)",
        )
        print(f"shipped {chosen} as checkpoints/{name}.ckpt and checkpoints/{name}.yaml")
    print(f"wrote {', '.join(map(str, written))}")
    return written


if __name__ == "__main__":
    main()
