"""Shared fixtures.

Two data roots: the quick tier (tests not marked ``slow``) runs on :func:`synthetic_mnist_root`,
generated digits in MNIST's IDX files (``tests/synthetic_mnist.py``), read by the real loader; the
slow tests keep the real MNIST (:func:`mnist_root`). A quick test has no network and an empty
``$LIT_DRAW_DATA`` (:func:`hermetic`), and one that asks for the real MNIST is refused at collection.
"""

from __future__ import annotations

import csv
import errno
import socket
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from lit_draw.data.mnist import default_root, ensure_mnist
from tests.synthetic_mnist import write_synthetic_mnist


@pytest.fixture(scope="session")
def mnist_root() -> Path:
    """The real MNIST data root (``$LIT_DRAW_DATA`` or ``~/.cache/lit_draw``), fetched once: for
    slow tests only (see :func:`real_data_users`)."""
    root = default_root()
    ensure_mnist(root)
    return root


@pytest.fixture(scope="session")
def synthetic_mnist_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root of generated digits in MNIST's four IDX files, counts and layout, with the
    ``MD5SUMS`` that makes the loader check them against their own md5s (never a download); verified
    once, so each test reads them as a cached real root is read."""
    root = write_synthetic_mnist(tmp_path_factory.mktemp("synthetic_mnist"))
    ensure_mnist(root)
    return root


def real_data_users(items: list[pytest.Item]) -> list[str]:
    """The ids of the quick tests (not marked ``slow``) among ``items`` that use the real MNIST
    (``mnist_root``, directly or through another fixture)."""
    return [
        item.nodeid
        for item in items
        if "mnist_root" in getattr(item, "fixturenames", ()) and item.get_closest_marker("slow") is None
    ]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    users = real_data_users(items)
    if users:
        raise pytest.UsageError(
            "quick tests must run without the real MNIST: use synthetic_mnist_root, or mark the test slow: "
            + ", ".join(users)
        )


def _loopback(family: int, address: object) -> bool:
    if family == getattr(socket, "AF_UNIX", None):
        return True
    host = address[0] if isinstance(address, tuple) else address
    return host in ("localhost", "::1") or str(host).startswith("127.")


@pytest.fixture(autouse=True)
def hermetic(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[object]]:
    """A quick test runs with ``$LIT_DRAW_DATA`` an empty folder and no network: a connection to
    anything but this machine fails (``OSError``, as an unreachable network), and the test fails
    after it whatever it caught. Yields the addresses tried. Slow tests are left as they are."""
    attempts: list[object] = []
    if request.node.get_closest_marker("slow") is not None:
        yield attempts
        return
    monkeypatch.setenv("LIT_DRAW_DATA", str(tmp_path_factory.mktemp("no_data")))
    for name in ("connect", "connect_ex"):
        original = getattr(socket.socket, name)

        def guarded(self: socket.socket, address: object, _original: Callable = original) -> object:
            if not _loopback(self.family, address):
                attempts.append(address)
                raise OSError(errno.ENETUNREACH, f"quick tests have no network (tried to reach {address})")
            return _original(self, address)

        monkeypatch.setattr(socket.socket, name, guarded)
    yield attempts
    assert not attempts, f"a quick test tried to reach the network: {attempts}"


@pytest.fixture(autouse=True, scope="session")
def one_thread():
    """Test tensors are tiny: intra-op threads only wait on each other (on a loaded 2-core machine
    a 2 s test took 40 s with two threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


CONFIGS = Path(__file__).parents[1] / "configs"


def tiny_draw_args(root: Path, *, canvas: int, glimpses: int, read_n: int, width: int, **data: int) -> list[str]:
    """CLI arguments for a quickstart DRAW classifier small enough to train in seconds.

    ``data`` sets further ``--data.*`` values (sizes of the splits, batch size).
    """
    return [
        "--config",
        str(CONFIGS / "quickstart.yaml"),
        f"--data.root={root}",
        f"--data.canvas_size={canvas}",
        *(f"--data.{key}={value}" for key, value in data.items()),
        f"--model.net.init_args.glimpses={glimpses}",
        f"--model.net.init_args.read_n={read_n}",
        f"--model.net.init_args.enc_size={width}",
        f"--model.net.init_args.dec_size={width}",
        f"--model.net.init_args.hidden={width}",
        "--trainer.default_root_dir=run",
        "--trainer.enable_progress_bar=false",
    ]


@pytest.fixture
def offline_in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Run the test inside ``tmp_path`` with W&B offline, its runs under ``tmp_path/wandb``; returns ``tmp_path``."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    return tmp_path


@pytest.fixture
def tiny_fit(mnist_root: Path, offline_in_tmp: Path) -> Callable[..., list[str]]:
    """Factory of CLI arguments for a DRAW classifier that fits in seconds on real MNIST (so for
    slow tests), run inside ``tmp_path`` (W&B offline there, checkpoints under ``run/``), without
    analysis callbacks or model summary. Keywords: the net's ``canvas``, ``glimpses``, ``read_n``,
    ``width``; the rest set ``--data.*`` (split sizes, batch size)."""

    def make(*, canvas: int = 28, glimpses: int = 2, read_n: int = 3, width: int = 8, **data: int) -> list[str]:
        args = tiny_draw_args(mnist_root, canvas=canvas, glimpses=glimpses, read_n=read_n, width=width, **data)
        return [*args, "--trainer.callbacks=[]", "--trainer.enable_model_summary=false"]

    return make


def write_logged_run(folder: Path, rows: list[dict[str, float]]) -> None:
    """A W&B run folder whose ``csv/metrics.csv`` holds ``rows``, as
    :class:`~lit_draw.cli.metrics_csv.WandbRunCSV` writes it."""
    path = folder / "csv" / "metrics.csv"
    path.parent.mkdir(parents=True)
    with path.open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=sorted({key for row in rows for key in row}))
        writer.writeheader()
        writer.writerows(rows)
