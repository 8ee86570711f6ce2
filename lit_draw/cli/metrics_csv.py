"""Every scalar a run logs, a second time in a plain CSV file beside its W&B run, and the reader for it.

W&B's own record of a run (``run-<id>.wandb``) is a binary format W&B does not document. So every
scalar that reaches the loggers (all that the module and the callbacks ``log``) is also written by
Lightning's ``CSVLogger`` into the W&B run's folder::

    wandb/offline-run-<time>-<id>/csv/metrics.csv      (online runs: wandb/run-<time>-<id>/...)
    wandb/offline-run-<time>-<id>/csv/hparams.yaml

One row per logging call, one column per key (empty where a row lacks it), ``step`` the trainer's
global step (what W&B shows as ``trainer/global_step``) and ``epoch``. Rich media (plots, tables,
images) stay W&B's: they are files under the run's ``files/media/``.

A resumed fit continues its W&B run in a new folder with the same id, so its rows are in a second
file; :func:`run_folders` lists a run's folders oldest first and :func:`read_metrics` reads them in
that order. A fit killed after its last checkpoint logs the steps since then again when it resumes:
:func:`read_metrics` keeps the newest value of each key at each step (:func:`newest_per_step`).
"""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterable
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger, WandbLogger

from lit_draw.errors import ConfigError

#: The folder, inside a W&B run's folder, that holds ``metrics.csv``.
CSV_FOLDER = "csv"
METRICS_FILE = "metrics.csv"


class WandbRunCSV(CSVLogger):
    """Lightning's ``CSVLogger`` writing into the folder of ``wandb_logger``'s run (see the module docstring).

    The folder is known once the W&B run has started; Lightning starts a ``WandbLogger``'s run
    before any other logger's, and this logger opens its file at its first use after that.

    Args:
        wandb_logger: the run's W&B logger.
    """

    def __init__(self, wandb_logger: WandbLogger) -> None:
        super().__init__(save_dir=".", name="", version=CSV_FOLDER)
        self.wandb_logger = wandb_logger

    @property
    def save_dir(self) -> str:
        """The W&B run's folder (``wandb/offline-run-<time>-<id>``)."""
        return str(Path(self.wandb_logger.experiment.dir).parent)


def run_folders(directory: str | Path) -> list[Path]:
    """The W&B run folders under ``directory`` (a ``wandb`` folder, or a folder holding ``wandb/``),
    oldest first (their names start with the start time; folders started within the same second
    are ordered by when their ``metrics.csv`` was last written)."""
    directory = Path(directory)
    if (directory / "wandb").is_dir():
        directory = directory / "wandb"
    folders = [p for p in directory.glob("*run-*") if p.is_dir() and not p.is_symlink()]

    def started(folder: Path) -> tuple[str, float]:
        time = re.search(r"run-(\d{8}_\d{6})-", folder.name)
        path = folder / CSV_FOLDER / METRICS_FILE
        return time.group(1) if time else "", path.stat().st_mtime if path.is_file() else 0.0

    return sorted(folders, key=started)


def read_metrics(folders: str | Path | Iterable[str | Path]) -> list[dict[str, float]]:
    """The rows of ``metrics.csv`` of one W&B run folder, or of several in the order given.

    Returns:
        One dict per logging call, key -> value; ``step`` and ``epoch`` as ints; a key logged again
        at the same step (a resume after a kill logs the steps since the checkpoint again) only in
        its newest row (:func:`newest_per_step`). A folder without ``csv/metrics.csv`` adds no rows.
    """
    folders = [folders] if isinstance(folders, (str, Path)) else list(folders)
    paths = [Path(folder) / CSV_FOLDER / METRICS_FILE for folder in folders]
    return newest_per_step([row for path in paths if path.is_file() for row in read_rows(path)])


def newest_per_step(rows: list[dict[str, float]]) -> list[dict[str, float]]:
    """``rows`` in their order, each key at each ``step`` kept only in the last row that has it;
    a row left with no key but ``step`` and ``epoch`` is dropped. Rows without a step are kept whole."""
    seen: set[tuple[int, str]] = set()
    kept = []
    for row in reversed(rows):
        if "step" not in row:
            kept.append(row)
            continue
        step = row["step"]
        newer = {key: value for key, value in row.items() if key in ("step", "epoch") or (step, key) not in seen}
        seen.update((step, key) for key in row if key not in ("step", "epoch"))
        if len(newer) < len(row) and not newer.keys() - {"step", "epoch"}:
            continue
        kept.append(newer)
    return kept[::-1]


def read_rows(path: str | Path) -> list[dict[str, float]]:
    """The rows of one metrics file (``metrics.csv``, or one :func:`write_rows` wrote; ``.gz``
    compressed when its name says so), as :func:`read_metrics` gives them."""
    path = Path(path)
    try:
        with gzip.open(path, "rt", newline="") if path.suffix == ".gz" else path.open(newline="") as file:
            reader = csv.DictReader(file)
            rows = [_row(path, reader.line_num, line) for line in reader]
    except UnicodeDecodeError as error:
        raise ConfigError(f"metrics file {path}: not a CSV text file (byte {error.start} is not UTF-8)") from error
    except (EOFError, OSError, zlib.error) as error:  # gzip: truncated, or not gzip at all
        if path.suffix != ".gz":
            raise
        raise ConfigError(
            f"metrics file {path}: a truncated or corrupt gzip file ({' '.join(str(error).split())})"
        ) from error
    except csv.Error as error:
        raise ConfigError(f"metrics file {path}: not a CSV file ({error})") from error
    return rows


def _row(path: Path, line_number: int, line: dict[str | None, str | list[str] | None]) -> dict[str, float]:
    """One CSV line as a row of numbers, or a :class:`ConfigError` naming the file, line and column."""
    row = {}
    for key, value in line.items():
        if value in ("", None):
            continue
        try:
            if key is None or isinstance(value, list):
                raise ValueError
            row[key] = float(value)
        except ValueError:
            column = "a value past the header's columns" if key is None else f"column {key}"
            raise ConfigError(
                f"metrics file {path}: line {line_number}, {column}: not a number, got {value!r}"
            ) from None
    for key in ("step", "epoch"):
        if key in row:
            row[key] = int(row[key])
    return row


def write_rows(path: str | Path, rows: list[dict[str, float]]) -> None:
    """Write ``rows`` (as :func:`read_metrics` gives them) as one CSV file, a column per key in the
    order keys first appear, ``gzip`` compressed when ``path`` ends in ``.gz``; :func:`read_rows`
    reads them back as they were. The file is replaced whole (written beside it, then renamed)."""
    path = Path(path)
    keys = list(dict.fromkeys(key for row in rows for key in row))
    partial = path.with_name(path.name + ".part")
    # mtime=0: the same rows give the same bytes, so a file kept in git changes only when they do
    with (
        partial.open("wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if path.suffix == ".gz" else raw as out,
    ):
        text = io.TextIOWrapper(out, encoding="utf-8", newline="")
        writer = csv.DictWriter(text, fieldnames=keys)
        writer.writeheader()
        writer.writerows({key: repr(value) for key, value in row.items()} for row in rows)
        text.flush()
        text.detach()
    partial.replace(path)


def values(rows: list[dict[str, float]], key: str) -> list[float]:
    """The value of ``key`` in every row that has it, in logging order."""
    return [row[key] for row in rows if key in row]
