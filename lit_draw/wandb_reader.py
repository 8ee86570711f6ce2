"""Read an offline W&B run back from its files (for the tests and :mod:`lit_draw.figures`).

wandb 0.31 ships no reader for its ``.wandb`` log (the old ``wandb.sdk.internal.datastore`` is
gone), so this is a small one. The file is LevelDB-log framed: a 7-byte header
(``":W&B"``, magic ``0xBEE1``, version ``0``), then 32 KiB blocks of records, each with a 7-byte
header (CRC-32 of type byte + payload, 2-byte little-endian length, 1-byte type: FULL=1,
FIRST=2, MIDDLE=3, LAST=4); a block tail shorter than a header is zero padding. Each reassembled
payload is a ``wandb.proto.wandb_internal_pb2.Record``.

Values are decoded from ``value_json``; an item with a ``nested_key`` path ``[k0, k1, ...]`` is set
at ``row[k0][k1]...``, so a logged table reads as ``row["tab"] == {"_type": "table-file",
"path": "media/table/...", ...}``. ``wandb.plot.*`` charts logged under ``key`` appear in history
as ``f"{key}_table"`` and in ``config["_wandb"]["visualize"][key]``.

Usage::

    run = read_run(tmp_path / "wandb")
    assert "val/acc" in run.keys()
    columns, rows = run.table("val/early_exit_table")
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

_BLOCK = 32768
_HEADER = 7
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What an offline run logged.

    Attributes:
        directory: the run directory (``.../wandb/offline-run-*``).
        history: one dict per logged row (``wandb.log`` call), key -> decoded value.
        summary: the run summary after every update.
        config: the run config (``wandb.init(config=...)`` plus later updates).
        files: paths of every file under the run's ``files/`` directory.
    """

    directory: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)

    def keys(self) -> set[str]:
        """Every top-level key logged in any history row."""
        return {key for row in self.history for key in row}

    def values(self, key: str) -> list[Any]:
        """The value of ``key`` in every row that has it, in logging order."""
        return [row[key] for row in self.history if key in row]

    def charts(self) -> dict[str, Any]:
        """``wandb.plot.*`` charts by logged key (their data is the history key ``f"{key}_table"``)."""
        return self.config.get("_wandb", {}).get("visualize", {})

    def media_paths(self, value: dict[str, Any]) -> list[Path]:
        """The files of a logged media value (one image or table, or a list of images)."""
        names = value["filenames"] if "filenames" in value else [value["path"]]
        return [self.directory / "files" / name for name in names]

    def table(self, key: str, index: int = -1) -> tuple[list[str], list[list[Any]]]:
        """``(columns, rows)`` of the table logged under ``key`` (the last one by default)."""
        value = self.values(key)[index]
        if value.get("_type") != "table-file":
            raise ValueError(f"{key!r} is not a table, its _type is {value.get('_type')!r}")
        data = json.loads(self.media_paths(value)[0].read_text())
        return data["columns"], data["data"]


def read_run(path: str | Path) -> OfflineRun:
    """Read an offline run.

    Args:
        path: a run directory (holding ``run-*.wandb``), a ``wandb`` directory (its newest
            ``offline-run-*`` is read) or a directory holding ``wandb/``.
    """
    directory = _run_directory(Path(path))
    logs = sorted(directory.glob("run-*.wandb"))
    if len(logs) != 1:
        raise FileNotFoundError(f"expected one run-*.wandb in {directory}, found {len(logs)}")
    run = OfflineRun(directory)
    for record in _records(logs[0].read_bytes()):
        kind = record.WhichOneof("record_type")
        if kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                _set(row, item, json.loads(item.value_json))
            run.history.append(row)
        elif kind == "summary":
            for item in record.summary.update:
                _set(run.summary, item, json.loads(item.value_json))
            for item in record.summary.remove:
                _remove(run.summary, item)
        elif kind == "run":
            for item in record.run.config.update:
                _set(run.config, item, json.loads(item.value_json))
        elif kind == "config":
            for item in record.config.update:
                _set(run.config, item, json.loads(item.value_json))
            for item in record.config.remove:
                _remove(run.config, item)
    files = directory / "files"
    run.files = sorted(p for p in files.rglob("*") if p.is_file()) if files.is_dir() else []
    return run


def _run_directory(path: Path) -> Path:
    if any(path.glob("run-*.wandb")):
        return path
    if (path / "wandb").is_dir() and not any(path.glob("*run-*")):
        path = path / "wandb"
    runs = sorted(p for p in path.glob("*run-*") if p.is_dir() and any(p.glob("run-*.wandb")))
    if not runs:
        raise FileNotFoundError(f"no W&B run under {path}")
    # Directory names only resolve seconds; the newest run is the one whose log was written last.
    return max(runs, key=lambda p: max(log.stat().st_mtime_ns for log in p.glob("run-*.wandb")))


def _records(data: bytes) -> list[wandb_internal_pb2.Record]:
    """Reassemble and parse every record; a truncated tail (a run killed mid-write) is dropped."""
    ident, magic, version = struct.unpack("<4sHB", data[:_HEADER])
    if ident != b":W&B" or magic != 0xBEE1 or version != 0:
        raise ValueError(f"not a W&B log: header {data[:_HEADER]!r}")
    records, pending, i = [], b"", _HEADER
    while True:
        left = _BLOCK - i % _BLOCK
        if left < _HEADER:
            i += left
            continue
        if i + _HEADER > len(data):
            break
        crc, length, kind = struct.unpack("<IHB", data[i : i + _HEADER])
        payload = data[i + _HEADER : i + _HEADER + length]
        if kind == 0 or len(payload) < length:  # zero padding or truncated write
            break
        if zlib.crc32(payload, zlib.crc32(bytes([kind]))) & 0xFFFFFFFF != crc:
            raise ValueError(f"corrupt W&B log: bad checksum at byte {i}")
        i += _HEADER + length
        pending = payload if kind in (_FULL, _FIRST) else pending + payload
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def _path(item: Any) -> list[str]:
    return list(item.nested_key) or [item.key]


def _set(target: dict[str, Any], item: Any, value: Any) -> None:
    *parents, last = _path(item)
    for key in parents:
        target = target.setdefault(key, {})
    target[last] = value


def _remove(target: dict[str, Any], item: Any) -> None:
    *parents, last = _path(item)
    for key in parents:
        target = target.get(key, {})
    target.pop(last, None)
