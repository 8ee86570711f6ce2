"""The results table of ``python -m lit_draw reproduce``: seed records -> ``results.json`` -> ``RESULTS.md``.

A :class:`Row` is one line of the table (``configs/reproduce.yaml`` lists them).

A seed record (``runs/reproduce/<row>/seed<k>/test_metrics.json``) holds one seed's test metrics;
:func:`summarise` turns a row's records into its ``results.json`` entry (means and standard
deviations over seeds, and each seed's own numbers under ``per_seed``: entries written before
``per_seed`` existed still load and render) and :func:`render_markdown` renders the entries beside the published
figures, and :func:`update_documents` the blocks of ``README.md`` and ``docs/*.md`` drawn from
them (:func:`render_block`: the README's results summary, the study's seeds). Errors are in
percent, one per evaluation (:data:`EVALUATIONS`): ``test_error = 100 * (1 -
test/acc)`` (the prediction after the last glimpse; one sampled glimpse sequence for RAM and
WS-RAM), ``test_error_mc`` the same for the prediction averaged over policy samples
(``test/acc_mc``, RAM), ``test_error_mean_policy`` for glimpses at the policy's mean, no sampling
(``test/acc_mean_policy``, RAM); per-glimpse accuracies ``100 * test/acc_glimpse_{t}``. A
published figure compares with one of them: the row's ``source`` says which.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lit_draw.errors import ConfigError

RESULTS_JSON = Path("results.json")
RESULTS_MD = Path("RESULTS.md")
BUDGET_UNITS = ("epochs", "updates")
#: Record key -> (test metric, column title): the evaluations a seed's test error is given for.
EVALUATIONS = {
    "test_error": ("test/acc", "ours"),
    "test_error_mc": ("test/acc_mc", "MC"),
    "test_error_mean_policy": ("test/acc_mean_policy", "mean policy"),
}

#: Per seed, beside the headline (the checkpoint chosen on validation): the test error of the last
#: checkpoint, and the best of the test scores taken during training (chosen on the test set).
OTHER_CHECKPOINTS = {
    "test_error_last_checkpoint": "last checkpoint",
    "test_error_best_periodic": "best periodic test (chosen on test)",
}


@dataclass(frozen=True)
class Row:
    """One line of the results table: a setup, its budget and the published figure it is held against.

    Attributes:
        name: the row's name (runs, checkpoint and results are keyed by it).
        configs: config files passed as ``--config``, in order.
        budget: ``{"epochs": N}`` or ``{"updates": N}``.
        published: published test error in percent: a number, ``[low, high]`` or ``None``.
        source: where the published figure comes from.
        seeds: seeds ``0 .. seeds - 1``.
        args: further CLI overrides for ``fit`` and ``test``.
        reimplementation: ``{"error": percent, "source": text}`` of the best public re-implementation.
        group: rows the figure script reads together (``study``, ``wsram_figure2``).
        notes: what a reader needs to trust and compare the row, a paragraph a line (each a bullet of
            ``RESULTS.md``).
    """

    name: str
    configs: tuple[str, ...]
    budget: dict[str, int]
    published: float | list[float] | None = None
    source: str = ""
    seeds: int = 3
    args: tuple[str, ...] = ()
    reimplementation: dict[str, Any] | None = None
    group: str | None = None
    notes: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or "/" in self.name:
            raise ConfigError(f"Row.name must be a non-empty string without '/', got {self.name!r}")
        if not self.configs:
            raise ConfigError(f"Row.configs must name at least one config file, got {self.configs!r} (row {self.name})")
        (unit, amount), *more = (
            list(self.budget.items()) if isinstance(self.budget, dict) and self.budget else [(None, 0)]
        )
        if more or unit not in BUDGET_UNITS or not isinstance(amount, int) or amount < 1:
            raise ConfigError(
                f"Row.budget must be {{epochs: N}} or {{updates: N}} with N a positive int, "
                f"got {self.budget!r} (row {self.name})"
            )
        if not isinstance(self.seeds, int) or self.seeds < 1:
            raise ConfigError(f"Row.seeds must be a positive int, got {self.seeds!r} (row {self.name})")

    @property
    def budget_unit(self) -> str:
        return next(iter(self.budget))

    @property
    def budget_amount(self) -> int:
        return next(iter(self.budget.values()))

    def budget_args(self) -> list[str]:
        """Trainer arguments that train exactly the budget (the other limit switched off)."""
        if self.budget_unit == "epochs":
            return [f"--trainer.max_epochs={self.budget_amount}", "--trainer.max_steps=-1"]
        return [f"--trainer.max_steps={self.budget_amount}", "--trainer.max_epochs=-1"]

    def budget_done(self, epochs: int, steps: int) -> bool:
        """Whether a fit that ended at ``epochs`` completed epochs and ``steps`` optimiser steps
        trained the budget. An epoch budget counts epochs, as the Trainer's ``max_epochs`` does: a
        seed stopped mid-epoch and resumed finishes that epoch short of its batches (the data loader
        does not resume), so its steps fall a few short of ``epochs x steps per epoch``."""
        return (epochs if self.budget_unit == "epochs" else steps) >= self.budget_amount


def read_json(path: Path) -> Any:
    """The JSON in ``path``, ``None`` when there is no such file."""
    return json.loads(path.read_text()) if path.is_file() else None


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2) + "\n")


def errors_from_metrics(metrics: dict[str, float]) -> dict[str, Any]:
    """The errors of :data:`EVALUATIONS` (``None`` for a metric the run did not log; ``test/acc`` it
    must have) and ``acc_per_glimpse`` (``[T]``), in percent, from the ``test/*`` metrics of one run."""
    glimpses = []
    while f"test/acc_glimpse_{len(glimpses) + 1}" in metrics:
        glimpses.append(100 * metrics[f"test/acc_glimpse_{len(glimpses) + 1}"])
    errors = {
        key: 100 * (1 - metrics[metric]) if metric in metrics else None for key, (metric, _) in EVALUATIONS.items()
    }
    if errors["test_error"] is None:
        raise KeyError("test/acc")
    return {**errors, "acc_per_glimpse": glimpses}


def best_periodic_test(rows: list[dict[str, float]]) -> dict[str, Any]:
    """``test_error_best_periodic`` (percent) and ``best_periodic_step`` of the best of a run's
    ``periodic_test/acc`` evaluations (:class:`~lit_draw.callbacks.PeriodicTest`), the first such
    step on a tie; both ``None`` when the run logged none. A value chosen on the test set."""
    scored = [(row["periodic_test/acc"], -row["step"]) for row in rows if "periodic_test/acc" in row]
    if not scored:
        return {"test_error_best_periodic": None, "best_periodic_step": None}
    accuracy, step = max(scored)
    return {"test_error_best_periodic": 100 * (1 - accuracy), "best_periodic_step": -step + 1}


def standing(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records that stand for a row: the seeds that finished their budget when any did, else all
    (a seed stopped part-way never enters a row's means, or its export, beside a finished one)."""
    return [r for r in records if r["status"] == "done"] or records


def closest_to_mean(records: list[dict[str, Any]], among: set[int] | None = None) -> dict[str, Any] | None:
    """The record whose ``test_error`` is closest to the mean over ``records`` (the lowest seed on
    ties), among the seeds that finished their budget when any did: a seed stopped part-way never
    stands for a row that has a finished one. ``among``: only these seeds may be chosen (the mean
    is still over all)."""
    records = standing(records)
    if not records:
        return None
    mean = statistics.fmean(r["test_error"] for r in records)
    candidates = [r for r in records if among is None or r["seed"] in among]
    return min(candidates, key=lambda r: (abs(r["test_error"] - mean), r["seed"]), default=None)


#: The fields of a ``results.json`` entry that describe its row rather than its seeds' numbers.
DESCRIPTION = ("group", "source", "reimplementation", "notes")


def summarise(row: Row, records: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``results.json`` entry of ``row`` from its seed records (``status: "not run"`` without any).

    ``status`` is ``done`` when every planned seed was tested at the end of its budget, else
    ``partial``; ``vs_published`` is ``test_error`` minus the published error (its low end for a
    range), in percentage points: negative beats it.
    """
    shown = standing(records)
    errors = {key: [r[key] for r in shown if r.get(key) is not None] for key in EVALUATIONS}
    glimpses = [r["acc_per_glimpse"] for r in shown if r.get("acc_per_glimpse")]
    if len(glimpses) < len(shown):  # a seed recorded before per-seed glimpses were kept: no partial mean
        glimpses = []
    complete = len(records) >= row.seeds and all(r["status"] == "done" and r["budget"] == row.budget for r in records)
    test_error = _mean(errors["test_error"])
    published = min(row.published) if isinstance(row.published, list) else row.published
    return {
        "row": row.name,
        "group": row.group,
        "config": [*row.configs, *row.args],
        "published": row.published,
        "source": row.source,
        "reimplementation": row.reimplementation,
        "status": "not run" if not records else "done" if complete else "partial",
        **{k: value for key, v in errors.items() for k, value in ((key, _mean(v)), (f"{key}_sd", _sd(v)))},
        "vs_published": None if test_error is None or published is None else round(test_error - published, 2),
        "acc_per_glimpse": [_mean(list(column)) for column in zip(*glimpses, strict=True)] or None,
        "acc_per_glimpse_sd": [_sd(list(column)) for column in zip(*glimpses, strict=True)] or None,
        "seeds": [r["seed"] for r in records],
        "seeds_planned": row.seeds,
        "budget": row.budget,
        "epochs_done": [r["epochs_done"] for r in records],
        "updates_done": [r["updates_done"] for r in records],
        "seed_status": [r["status"] for r in records],
        "device": _joined(r["device"] for r in records),
        "wall_time_s": round(sum(r["wall_time_s"] or 0 for r in records), 1) if records else None,
        "date": max((r["date"] for r in records if r.get("date")), default=None),
        "commit": _joined(r["commit"] for r in records),
        "checkpoint": f"checkpoints/{row.name}.ckpt" if records else None,
        "checkpoint_seed": None,
        "per_seed": [per_seed(r) for r in records],
        "notes": row.notes,
    }


def per_seed(record: dict[str, Any]) -> dict[str, Any]:
    """One seed's own numbers for ``results.json``: its test errors and accuracy after each glimpse,
    where it stands, the checkpoint it was tested from, the commit and device it ran on, its time
    and date. Everything :func:`summarise` reads is here, so that a row's entry can be summarised
    again from it with seeds trained later or elsewhere (:func:`from_per_seed`); a value not known
    for a seed recorded before it was kept is ``None``."""
    glimpses = record.get("acc_per_glimpse")
    return {
        "seed": record["seed"],
        "status": record["status"],
        **{key: None if record.get(key) is None else round(record[key], 3) for key in EVALUATIONS},
        "acc_per_glimpse": None if glimpses is None else [round(a, 3) for a in glimpses],
        **{key: None if record.get(key) is None else round(record[key], 3) for key in OTHER_CHECKPOINTS},
        "best_periodic_step": record.get("best_periodic_step"),
        "updates_done": record.get("updates_done"),
        "epochs_done": record.get("epochs_done"),
        "checkpoint": relative_path(record.get("checkpoint")),
        "commit": record.get("commit"),
        "device": record.get("device"),
        "wall_time_s": record.get("wall_time_s"),
        "date": record.get("date"),
    }


def from_per_seed(entry: dict[str, Any]) -> list[dict[str, Any]]:
    """The seed records a ``results.json`` entry keeps under ``per_seed``, as :func:`summarise`
    takes them (each with the entry's ``row`` and ``budget``, and ``recorded: True``: its run is not
    on this machine)."""
    return [
        {"row": entry["row"], "budget": entry["budget"], **seed, "recorded": True}
        for seed in entry.get("per_seed") or []
    ]


def relative_path(path: str | None) -> str | None:
    """``path`` relative to the working directory (the repository root) when it lies below it: a
    record names where its seed ran, not the machine's absolute layout."""
    if path is None or not Path(path).is_absolute():
        return path
    try:
        return str(Path(path).relative_to(Path.cwd()))
    except ValueError:
        return path


def portable_record(record: dict[str, Any]) -> dict[str, Any]:
    """A seed's ``test_metrics.json`` record with its ``checkpoint`` and ``config`` paths relative to
    the repository root (:func:`relative_path`), as the repository keeps it."""
    return {**record, **{key: relative_path(record.get(key)) for key in ("checkpoint", "config") if key in record}}


def describe_status(entry: dict[str, Any]) -> str:
    """``not run``, ``done, 3 seeds`` or ``partial: 2 of 3 seeds (0, 1); epochs done 20, 7.5 of 20``."""
    if entry["status"] == "not run":
        return "not run"
    seeds = entry["seeds"]
    if entry["status"] == "done":
        return f"done, {len(seeds)} seed{'s' * (len(seeds) != 1)}"
    ((unit, amount),) = entry["budget"].items()
    done = ", ".join(f"{d:g}" for d in entry[f"{unit}_done"])
    run = f"{len(seeds)} of {entry['seeds_planned']} seeds ({', '.join(map(str, seeds))})"
    return f"partial: {run}; {unit} done {done} of {amount}"


def format_published(published: float | list[float] | None) -> str:
    if published is None:
        return "none given"
    if isinstance(published, list):
        return f"{published[0]:g}-{published[1]:g}%"
    return f"{published:g}%"


def render_markdown(entries: list[dict[str, Any]], figures: list[str] = (), tables: list[str] = ()) -> str:
    """``RESULTS.md``: the table beside the published figures, per-glimpse accuracy, the figures
    (paths relative to ``RESULTS.md``, drawn by ``python -m lit_draw figures``), the measurement
    tables beyond the rows (markdown files, ``tables``: their text less the title), run details.
    Figures and tables in another folder than the first one's (drawn with ``figures --out
    docs/<folder>``, say one seed's) come under a heading that names their folder."""
    lines = [
        "# Results",
        "",
        "Generated by `python -m lit_draw reproduce` from `results.json` (do not edit by hand; the rows are",
        "in `configs/reproduce.yaml`). Test error in percent on the fixed 10,000-canvas test set, after",
        "the last glimpse: mean ± standard deviation over seeds. RAM and WS-RAM sample their glimpses:",
        "RAM's error is from one sampled sequence and WS-RAM's from the mean prediction of its M",
        "rollouts from the prior (M = 5, as it trains), *MC* is RAM's prediction averaged over policy",
        "samples and *mean policy* RAM's glimpses at the policy's mean (no sampling); each row's source",
        "says which of them its published figure compares with. *vs published*: our error (one sampled",
        "sequence) minus the published one (its low end for a range), in percentage points; negative",
        "beats it. Each seed is tested from its best checkpoint on the validation set; nothing is",
        "chosen on the test set.",
        "",
        "| row | published | best public re-implementation | "
        + " | ".join(t for _, t in EVALUATIONS.values())
        + " | vs published | budget | status |",
        "| --- | --- | --- |" + " --- |" * len(EVALUATIONS) + " --- | --- | --- |",
    ]
    for e in entries:
        reimpl = f"{e['reimplementation']['error']:g}%" if e["reimplementation"] else ""
        versus = "" if e["vs_published"] is None else f"{e['vs_published']:+.2f} pp"
        errors = " | ".join(_pm(e.get(key), e.get(f"{key}_sd")) for key in EVALUATIONS)
        lines.append(
            f"| `{e['row']}` | {format_published(e['published'])} | {reimpl} | {errors} | {versus} | "
            f"{_budget(e['budget'])} | {describe_status(e)} |"
        )
    glimpsed = [e for e in entries if e.get("acc_per_glimpse")]
    if glimpsed:
        width = max(len(e["acc_per_glimpse"]) for e in glimpsed)
        lines += [
            "",
            "## Accuracy after every glimpse",
            "",
            "Test accuracy in percent after glimpse t, mean over seeds.",
            "",
            "| row | " + " | ".join(f"t={t}" for t in range(1, width + 1)) + " |",
            "| --- |" + " --- |" * width,
        ]
        for e in glimpsed:
            cells = [f"{a:.1f}" for a in e["acc_per_glimpse"]] + [""] * (width - len(e["acc_per_glimpse"]))
            lines.append(f"| `{e['row']}` | " + " | ".join(cells) + " |")
    seeded = [e for e in entries if e.get("per_seed")]  # entries written before per_seed existed have none
    if seeded:
        lines += [
            "",
            "## Every seed",
            "",
            "Each seed's own test error (percent), the checkpoint it was tested from and the commit it ran.",
            "",
            "| row | seed | " + " | ".join(t for _, t in EVALUATIONS.values()) + " | status | checkpoint | commit |",
            "| --- | --- |" + " --- |" * len(EVALUATIONS) + " --- | --- | --- |",
        ]
        for e in seeded:
            for s in e["per_seed"]:
                errors = " | ".join("" if s.get(key) is None else f"{s[key]:.2f}%" for key in EVALUATIONS)
                commit = s.get("commit") or ""
                commit = f"`{commit[:12]}{'+changes' if commit.endswith('+changes') else ''}`" if commit else ""
                checkpoint = f"`{s['checkpoint']}`" if s.get("checkpoint") else ""
                lines.append(f"| `{e['row']}` | {s['seed']} | {errors} | {s['status']} | {checkpoint} | {commit} |")
    others = [(e, s) for e in seeded for s in e["per_seed"] if any(s.get(key) is not None for key in OTHER_CHECKPOINTS)]
    if others:
        lines += [
            "",
            "## Three numbers per seed",
            "",
            "Test error (percent) of each seed's checkpoint chosen on validation (the headline, as above), of its last",
            "checkpoint, and the best of the test scores taken during training (callbacks.PeriodicTest, as often as",
            "each row's notes say; the study's code scored the test set every 1000 updates; chosen on the test set,",
            "so optimistic: never a headline).",
            "",
            "| row | seed | chosen on validation | " + " | ".join(OTHER_CHECKPOINTS.values()) + " | at update |",
            "| --- | --- | --- |" + " --- |" * len(OTHER_CHECKPOINTS) + " --- |",
        ]
        for e, s in others:
            cells = ["" if s.get(key) is None else f"{s[key]:.2f}" for key in ("test_error", *OTHER_CHECKPOINTS)]
            step = "" if s.get("best_periodic_step") is None else f"{s['best_periodic_step']:,}"
            lines.append(f"| `{e['row']}` | {s['seed']} | " + " | ".join(cells) + f" | {step} |")
    if figures:
        drawn = (
            "Drawn by `python -m lit_draw figures` from the rows' logged metrics (`csv/metrics.csv` in each W&B run "
            "folder) and the weighting sweeps' kept test metrics (`records/weighting_*`)."
        )
        lines += ["", "## Figures", "", drawn, ""]
        folder = Path(figures[0]).parent
        for path in figures:  # those of another folder (figures --out docs/<folder>) under its name
            if Path(path).parent != folder:
                folder = Path(path).parent
                lines += ["", f"### `{folder.as_posix()}/`", ""]
            lines.append(f"![{Path(path).stem}]({path})")
    for path in tables:
        text = Path(path).read_text().splitlines()
        title = text[0].removeprefix("# ") if text and text[0].startswith("# ") else Path(path).stem
        if Path(path).parent != Path(tables[0]).parent:
            title += f" (`{Path(path).parent.as_posix()}/`)"
        lines += ["", f"## {title}", *text[1:]]
    lines += ["", "## Rows", ""]
    for e in entries:
        lines.append(
            f"- `{e['row']}`: `{' '.join(e['config'])}`. Published: {format_published(e['published'])}, {e['source']}."
        )
        if e["reimplementation"]:
            lines.append(
                f"  Best public re-implementation: {e['reimplementation']['error']:g}%, {e['reimplementation']['source']}."
            )
        if e["status"] != "not run":
            hours = e["wall_time_s"] / 3600
            untimed = [s["seed"] for s in e.get("per_seed") or [] if s.get("wall_time_s", 0) is None]
            hours = f"{hours:.2f} h in all" + (
                f" (not counting seed{'s' * (len(untimed) != 1)} {', '.join(map(str, untimed))}, whose time was not recorded)"
                if untimed
                else ""
            )
            lines.append(
                f"  Seed{'s' * (len(e['seeds']) != 1)} {', '.join(map(str, e['seeds']))} on {e['device']}, {hours}, last {e['date']}, "
                f"commit `{e['commit']}`. Checkpoint `{e['checkpoint']}` (seed {e['checkpoint_seed']})."
            )
        if e.get("notes"):  # a paragraph a line (a blank line in configs/reproduce.yaml), each a bullet
            lines += ["  Notes:", *(f"  - {paragraph}" for paragraph in e["notes"].split("\n"))]
    return "\n".join(lines) + "\n"


#: The hand-written pages whose generated blocks :func:`update_documents` rewrites (globs, relative to
#: the repository root).
DOCUMENTS = ("README.md", "docs/*.md")
#: A generated block: its opening line names the block (a key of :data:`BLOCKS`), its closing line repeats
#: the name; what lies between is :func:`render_block`'s.
BLOCK = re.compile(
    r"^(?P<open><!-- generated: (?P<name>[\w-]+)\b[^\n]*-->\n)(?P<body>.*?)^(?P<close><!-- end generated: (?P=name) -->)$",
    re.S | re.M,
)


def render_summary(entries: list[dict[str, Any]]) -> list[str]:
    """The README's results summary: each row's published error beside ours (one sampled sequence, MC and
    at the policy's mean; mean ± standard deviation over its seeds) and how many of its seeds ran."""
    lines = [
        "| row | published | ours | MC | mean policy | seeds |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for e in entries:
        errors = " | ".join(_pm(e.get(key), e.get(f"{key}_sd")) for key in EVALUATIONS)
        seeds = len(e.get("seeds") or [])
        ran = (
            "not run"
            if e["status"] == "not run"
            else f"{seeds}"
            if e["status"] == "done"
            else f"{seeds} of {e['seeds_planned']}"
        )
        lines.append(f"| `{e['row']}` | {format_published(e['published'])} | {errors} | {ran} |")
    return lines


def render_seed_accuracy(entries: list[dict[str, Any]], group: str) -> list[str]:
    """Test accuracy (percent) of each seed of the rows of ``group``, after the last glimpse and after
    each glimpse, beside the published accuracy and the row's mean over its seeds."""
    rows = [e for e in entries if e.get("group") == group and e.get("per_seed")]
    width = max((len(s.get("acc_per_glimpse") or []) for e in rows for s in e["per_seed"]), default=0)
    lines = [
        "| row | seed | test accuracy | published | " + " | ".join(f"t={t}" for t in range(1, width + 1)) + " |",
        "| --- | --- | --- | --- |" + " --- |" * width,
    ]
    for e in rows:
        published = "" if e["published"] is None else f"{100 - _low(e['published']):.1f}%"
        for s in e["per_seed"]:
            glimpses = [f"{a:.1f}" for a in s.get("acc_per_glimpse") or []]
            glimpses += [""] * (width - len(glimpses))
            lines.append(
                f"| `{e['row']}` | {s['seed']} | {100 - s['test_error']:.2f}% | {published} | "
                + " | ".join(glimpses)
                + " |"
            )
        mean = [f"{a:.1f}" for a in e.get("acc_per_glimpse") or []]
        mean += [""] * (width - len(mean))
        accuracy = _pm(100 - e["test_error"], e.get("test_error_sd"))
        lines.append(f"| `{e['row']}` | mean | {accuracy} | {published} | " + " | ".join(mean) + " |")
    return lines


#: The generated blocks, by name: each renders ``results.json``'s entries as markdown lines.
BLOCKS = {
    "results-summary": render_summary,
    "study-seeds": lambda entries: render_seed_accuracy(entries, "study"),
}


def render_block(name: str, entries: list[dict[str, Any]]) -> str:
    """The text of the generated block ``name`` (a key of :data:`BLOCKS`) for ``entries``."""
    if name not in BLOCKS:
        raise ConfigError(f"a generated block must be one of {', '.join(BLOCKS)}, got {name!r}")
    return "\n".join(BLOCKS[name](entries)) + "\n"


def fill_blocks(text: str, entries: list[dict[str, Any]]) -> str:
    """``text`` with the body of each generated block (:data:`BLOCK`) rendered anew from ``entries``."""
    return BLOCK.sub(lambda m: m["open"] + render_block(m["name"], entries) + m["close"], text)


def update_documents(entries: list[dict[str, Any]], root: Path = Path(".")) -> list[Path]:
    """Rewrite the generated blocks of the pages of :data:`DOCUMENTS` under ``root`` from ``entries``;
    returns the pages that changed (a page without blocks, or absent, is left alone)."""
    changed = []
    for path in sorted({p for pattern in DOCUMENTS for p in root.glob(pattern)}):
        text = path.read_text()
        filled = fill_blocks(text, entries)
        if filled != text:
            path.write_text(filled)
            changed.append(path)
    return changed


def _low(published: float | list[float]) -> float:
    return min(published) if isinstance(published, list) else published


def _mean(values: list[float]) -> float | None:
    return round(statistics.fmean(values), 3) if values else None


def _sd(values: list[float]) -> float | None:
    return round(statistics.stdev(values), 3) if len(values) > 1 else None


def _joined(values: Any) -> str | None:
    unique = list(dict.fromkeys(v for v in values if v is not None))
    return "; ".join(unique) or None


def _pm(mean: float | None, sd: float | None) -> str:
    if mean is None:
        return ""
    return f"{mean:.2f}%" if sd is None else f"{mean:.2f} ± {sd:.2f}%"


def _budget(budget: dict[str, int]) -> str:
    ((unit, amount),) = budget.items()
    return f"{amount:,} {unit}"
