"""``CanvasMNIST``: translated / cluttered MNIST canvases as a LightningDataModule.

Every step of every stage receives ``(canvas, label, box)``: ``canvas`` float32 ``[B, 1, H, W]``
in ``[0, 1]``, ``label`` int64 ``[B]``, ``box`` float32 ``[B, 4]`` (the digit's ink box
``(x_min, y_min, x_max, y_max)`` in canvas pixels).

* Training canvases are drawn afresh for every batch on the batch's device: the train loader
  yields int64 index batches ``[B]`` only, and :meth:`CanvasMNIST.on_after_batch_transfer`
  turns them into canvases with :func:`~lit_draw.data.canvas.make_canvases`. The digits' order and
  each batch's canvases are functions of ``seed``, the process's rank and the batch's place in the
  run (:class:`_TrainOrder`), and the loader's place is saved in every checkpoint: a resumed fit
  trains on the batches an unbroken one would have, in the same order, on the same canvases.
* Validation and test canvases are fixed: generated once on CPU from ``seed`` (one random stream
  each), stored as uint8, identical across runs, models and machines. Their loaders yield
  ``(canvas_uint8, label, box)`` and :meth:`CanvasMNIST.on_after_batch_transfer` rescales the
  canvas to float.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from pathlib import Path

import torch
from lightning.pytorch import LightningDataModule
from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler
from torch import Tensor
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset
from tqdm.auto import tqdm

from lit_draw.data.canvas import DIGIT_SIZE, ink_boxes, make_canvases
from lit_draw.data.mnist import ensure_mnist, load_mnist
from lit_draw.seeding import stream_seed
from lit_draw.validation import (
    NonNegativeFloat,
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    conforms,
    require,
    restricted,
)

MNIST_TRAIN = 60_000
MNIST_TEST = 10_000
_CHUNK = 1000

# the ranges of CanvasMNIST's fields, named in --help by their bounds (IntAtLeast28, IntFrom1To28, ...)
CanvasSize = restricted(f"IntAtLeast{DIGIT_SIZE}", int, (">=", DIGIT_SIZE))
ClutterSize = restricted(f"IntFrom1To{DIGIT_SIZE}", int, (">=", 1), ("<=", DIGIT_SIZE))
ValSize = restricted(f"IntFrom1To{MNIST_TRAIN - 1}", int, (">=", 1), ("<=", MNIST_TRAIN - 1))
TestSize = restricted(f"IntFrom1To{MNIST_TEST}", int, (">=", 1), ("<=", MNIST_TEST))


def _require(ok: bool, message: str, value: object) -> None:
    """:func:`lit_draw.validation.require` for ``CanvasMNIST``, ``message`` as ``"<field> must be <rule>"``."""
    field, rule = message.split(" must be ", 1)
    require("CanvasMNIST", field, ok, rule, value)


class _Pool:
    """One split: digits uint8 ``[N, 28, 28]``, labels int64 ``[N]``, ink boxes ``[N, 4]``."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels, self.boxes = images, labels, ink_boxes(images)

    def __len__(self) -> int:
        return len(self.labels)

    def to(self, device: torch.device) -> _Pool:
        pool = _Pool.__new__(_Pool)
        pool.images, pool.labels, pool.boxes = (t.to(device) for t in (self.images, self.labels, self.boxes))
        return pool


class _TrainOrder(DistributedSampler):
    """The order of the training digits: one endless stream, a fresh permutation of the ``size``
    digits per pass (seeded from ``seed`` and the pass alone), dealt round-robin to the
    ``replicas`` processes: process ``rank`` takes the stream's items ``rank, rank + replicas, ...``.

    An epoch is ``ceil(size / replicas)`` items of the process's share (``len()``). An iterator
    starts at ``trained``, the number of the process's items trained so far (counted by
    :meth:`CanvasMNIST.on_after_batch_transfer` as batches reach the model, and read when the first
    item is fetched), and ends at the end of that epoch: where the last epoch ended, or where a
    resumed run's checkpoint was saved, however far the loader had fetched ahead, to the same epoch
    end. A resumed epoch is therefore shorter than ``len()`` says; Lightning counts the batches
    already trained into it. (An epoch cut short by ``limit_train_batches`` leaves the rest of its
    items to the next.)

    A :class:`DistributedSampler` so that Lightning leaves it in place under DDP (it shares none of
    that class's order: no padding, no ``set_epoch``).
    """

    def __init__(self, size: int, seed: int, rank: int = 0, replicas: int = 1, trained: int = 0) -> None:
        super().__init__(range(size), num_replicas=replicas, rank=rank, shuffle=True)
        self.size, self.order_seed, self.trained = size, seed, trained

    def __len__(self) -> int:
        return math.ceil(self.size / self.num_replicas)

    def __iter__(self) -> Iterator[int]:
        epoch = len(self)
        items = torch.arange(self.trained, (self.trained // epoch + 1) * epoch)  # this process's, to the epoch's end
        places = self.rank + self.num_replicas * items  # [N]: where they are in the stream
        passes = places // self.size
        digits = torch.empty_like(places)
        for p in passes.unique().tolist():
            generator = torch.Generator().manual_seed(stream_seed(self.order_seed, "order", 0, p))
            permutation = torch.randperm(self.size, generator=generator)
            mine = passes == p
            digits[mine] = permutation[places[mine] % self.size]
        yield from digits.tolist()


class _TrainLoader(DataLoader):
    """The training loader; it resumes where a checkpoint left it. Lightning's fit loop saves
    :meth:`state_dict` in every checkpoint and gives it back to :meth:`load_state_dict` before a
    resumed fit's first batch (its stateful-loader interface)."""

    sampler: _TrainOrder

    def state_dict(self) -> dict[str, int]:
        return {"trained": self.sampler.trained}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.sampler.trained = state["trained"]


class CanvasMNIST(LightningDataModule):
    """MNIST digits placed on larger canvases, optionally scaled, distorted, cluttered and noisy.

    Args:
        root: data root holding ``MNIST/raw``; ``None`` means ``$LIT_DRAW_DATA`` or
            ``~/.cache/lit_draw``. Fetched on first use (see :mod:`lit_draw.data.mnist`).
        canvas_size: canvas side in pixels, an int >= 28 (60 is translated MNIST of Mnih et al.).
        translate: place each digit uniformly at random fully inside the canvas (an unscaled,
            undistorted digit at an integer offset, as DeepMind's ``mnist_cluttered``); ``False``
            centres it.
        translate_curriculum: training canvases (per process) over which the placement of the
            training digits widens linearly from the centre to the whole canvas (the canvas
            generator's ``spread`` goes from 0 to 1), an int >= 0; 0 (the default) places them
            anywhere from the first update. Validation and test canvases are always placed
            anywhere. A departure from every paper here, for the study's plateau (see
            docs/study_plateau.md); it needs ``translate``.
        translate_hold: training canvases (per process) placed at the centre before the curriculum
            starts widening, an int >= 0 (0: it widens from the first); needs ``translate_curriculum``.
        scale: ``(lo, hi)`` range of the per-digit scale (1.0 = 28 pixels), with
            ``0 < lo <= hi`` and ``hi * 28 <= canvas_size``.
        clutter: number of clutter fragments per canvas, an int >= 0; each is a random crop of
            another digit from the same split, added at a random integer spot (the sum clamped to 1).
        clutter_size: side of a clutter fragment in pixels, an int in ``[1, 28]``.
        noise_std: standard deviation of additive Gaussian pixel noise, >= 0.
        distortion: random-affine strength >= 0: rotation up to ``30 * distortion`` degrees,
            shear and log-anisotropic scale up to ``0.3 * distortion`` (0 = none).
        batch_size: canvases per training batch, an int >= 1.
        eval_batch_size: canvases per validation / test / predict batch, an int >= 1; ``None``
            means ``batch_size``. Set it when training with small batches (the study trains with
            batch 1): evaluating the fixed sets one canvas at a time costs far more than training.
        num_workers: DataLoader worker processes, an int >= 0 (the loaders only move indices or
            stored uint8 canvases, so 0 is usually fastest).
        seed: seed of the train/val split, of the fixed validation and test canvases and of the
            training canvases' generator (mixed with the global rank), an int >= 0.
        val_size: training digits held out for validation, an int in ``[1, 59999]``.
        train_size: use only the first ``train_size`` digits of the training split (``None``:
            all); for cheap tests and smoke runs.
        test_size: use only the first ``test_size`` test digits (``None``: all 10000).
    """

    num_classes = 10

    def __init__(
        self,
        root: str | None = None,
        canvas_size: CanvasSize = 60,
        translate: bool = True,
        translate_curriculum: NonNegativeInt = 0,
        translate_hold: NonNegativeInt = 0,
        scale: tuple[PositiveFloat, PositiveFloat] = (1.0, 1.0),
        clutter: NonNegativeInt = 0,
        clutter_size: ClutterSize = 8,
        noise_std: NonNegativeFloat = 0.0,
        distortion: NonNegativeFloat = 0.0,
        batch_size: PositiveInt = 128,
        eval_batch_size: PositiveInt | None = None,
        num_workers: NonNegativeInt = 0,
        seed: NonNegativeInt = 0,
        val_size: ValSize = 5000,
        train_size: PositiveInt | None = None,
        test_size: TestSize | None = None,
    ) -> None:
        super().__init__()
        _require(
            root is None or isinstance(root, (str, Path)),
            "root must be a path string or None",
            root,
        )
        _require(
            conforms(CanvasSize, canvas_size),
            "canvas_size must be an int >= 28",
            canvas_size,
        )
        _require(isinstance(translate, bool), "translate must be a bool", translate)
        _require(
            conforms(NonNegativeInt, translate_curriculum) and (translate or translate_curriculum == 0),
            "translate_curriculum must be an int >= 0, and 0 unless translate is true",
            translate_curriculum,
        )
        _require(
            conforms(NonNegativeInt, translate_hold) and (translate_curriculum > 0 or translate_hold == 0),
            "translate_hold must be an int >= 0, and 0 unless translate_curriculum is set",
            translate_hold,
        )
        _require(
            isinstance(scale, (tuple, list))
            and len(scale) == 2
            and all(conforms(PositiveFloat, s) for s in scale)
            and scale[0] <= scale[1]
            and scale[1] * DIGIT_SIZE <= canvas_size,
            f"scale must be a pair (lo, hi) with 0 < lo <= hi and hi * 28 <= {canvas_size} (canvas_size)",
            scale,
        )
        _require(conforms(NonNegativeInt, clutter), "clutter must be an int >= 0", clutter)
        _require(
            conforms(ClutterSize, clutter_size),
            "clutter_size must be an int in [1, 28]",
            clutter_size,
        )
        _require(conforms(NonNegativeFloat, noise_std), "noise_std must be a number >= 0", noise_std)
        _require(conforms(NonNegativeFloat, distortion), "distortion must be a number >= 0", distortion)
        _require(conforms(PositiveInt, batch_size), "batch_size must be an int >= 1", batch_size)
        _require(
            eval_batch_size is None or conforms(PositiveInt, eval_batch_size),
            "eval_batch_size must be None or an int >= 1",
            eval_batch_size,
        )
        _require(
            conforms(NonNegativeInt, num_workers),
            "num_workers must be an int >= 0",
            num_workers,
        )
        _require(conforms(NonNegativeInt, seed), "seed must be an int >= 0", seed)
        _require(
            conforms(ValSize, val_size),
            f"val_size must be an int in [1, {MNIST_TRAIN - 1}]",
            val_size,
        )
        _require(
            train_size is None or (conforms(PositiveInt, train_size) and train_size <= MNIST_TRAIN - val_size),
            f"train_size must be None or an int in [1, {MNIST_TRAIN - val_size}] (60000 - val_size)",
            train_size,
        )
        _require(
            test_size is None or conforms(TestSize, test_size),
            f"test_size must be None or an int in [1, {MNIST_TEST}]",
            test_size,
        )
        self.save_hyperparameters(logger=False)  # the CLI logs the whole resolved config
        self.root = root
        self.canvas_size = canvas_size
        self.translate = translate
        self.translate_curriculum = translate_curriculum
        self.translate_hold = translate_hold
        self.scale = (float(scale[0]), float(scale[1]))
        self.clutter = clutter
        self.clutter_size = clutter_size
        self.noise_std = float(noise_std)
        self.distortion = float(distortion)
        self.batch_size = batch_size
        self.eval_batch_size = batch_size if eval_batch_size is None else eval_batch_size
        self.num_workers = num_workers
        self.seed = seed
        self.val_size = val_size
        self.train_size = train_size
        self.test_size = test_size
        self._pools: dict[str, _Pool] = {}
        self._fixed: dict[str, tuple[Tensor, Tensor, Tensor]] = {}  # canvas uint8, label, box
        self._train_on_device: dict[torch.device, tuple[_Pool, torch.Generator]] = {}
        self._order: _TrainOrder | None = None  # the training loader's, once it is made

    # ----------------------------------------------------------------- digits and canvases

    def _pool(self, split: str) -> _Pool:
        """The digits of ``split`` in {"train", "val", "test"}, loaded once."""
        if split not in self._pools:
            if split == "test":
                images, labels = load_mnist(self.root, train=False)
                self._pools["test"] = _Pool(images[: self.test_size], labels[: self.test_size])
            else:
                images, labels = load_mnist(self.root, train=True)
                split_gen = torch.Generator().manual_seed(stream_seed(self.seed, "split"))
                perm = torch.randperm(MNIST_TRAIN, generator=split_gen)
                val_idx, train_idx = perm[: self.val_size], perm[self.val_size :][: self.train_size]
                self._pools["val"] = _Pool(images[val_idx], labels[val_idx])
                self._pools["train"] = _Pool(images[train_idx], labels[train_idx])
        return self._pools[split]

    def _generate(
        self, pool: _Pool, idx: Tensor, generator: torch.Generator, spread: float = 1.0
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Canvases for the digits ``idx`` (int64 ``[B]``) of ``pool`` (on ``idx``'s device),
        placed within ``spread`` of the room around the centre (see ``make_canvases``).

        Returns:
            ``canvas`` float32 ``[B, 1, H, W]``, ``label`` int64 ``[B]``,
            ``box`` float32 ``[B, 4]``.
        """
        sources = None
        if self.clutter > 0:
            # Other digits of the pool: draw from N - 1 and skip the canvas's own digit.
            n = len(pool)
            shape = (idx.shape[0], self.clutter)  # [B, K]
            other = torch.randint(0, max(n - 1, 1), shape, generator=generator, device=idx.device)
            if n > 1:
                other = other + (other >= idx[:, None]).long()
            sources = pool.images[other].float() / 255  # [B, K, 28, 28]
        canvas, box = make_canvases(
            pool.images[idx].float() / 255,
            pool.boxes[idx],
            sources,
            canvas_size=self.canvas_size,
            translate=self.translate,
            spread=spread,
            scale=self.scale,
            clutter_size=self.clutter_size,
            noise_std=self.noise_std,
            distortion=self.distortion,
            generator=generator,
        )
        return canvas, pool.labels[idx], box

    def _fixed_set(self, stage: str) -> tuple[Tensor, Tensor, Tensor]:
        """The fixed ``stage`` set, generated once on CPU in chunks: uint8 canvas, label, box."""
        if stage not in self._fixed:
            pool = self._pool(stage)
            generator = torch.Generator().manual_seed(stream_seed(self.seed, stage))
            batches = torch.arange(len(pool)).split(_CHUNK)
            progress = tqdm(
                batches,
                desc=f"Generating the fixed {stage} canvases",
                unit="chunk",
                leave=False,
                disable=len(batches) < 3 or not sys.stderr.isatty(),  # a log file gets no redrawn bar
            )
            chunks = [self._generate(pool, i, generator) for i in progress]
            canvas, labels, boxes = (torch.cat(parts) for parts in zip(*chunks, strict=True))
            quantised = canvas.mul(255).round().to(torch.uint8)  # [N, 1, H, W]
            self._fixed[stage] = (quantised, labels, boxes)
        return self._fixed[stage]

    def fixed_canvases(self, stage: str) -> tuple[Tensor, Tensor, Tensor]:
        """The whole fixed validation or test set (built on first use).

        Args:
            stage: ``"val"`` or ``"test"``.

        Returns:
            ``canvas`` float32 ``[N, 1, H, W]`` in ``[0, 1]``, ``label`` int64 ``[N]``,
            ``box`` float32 ``[N, 4]``, on CPU.
        """
        if stage not in ("val", "test"):
            raise ValueError(f"stage must be 'val' or 'test', got {stage!r}")
        canvas, label, box = self._fixed_set(stage)
        return canvas.float() / 255, label, box

    def placed_canvases(self, spread: float, count: int, seed: int = 0) -> tuple[Tensor, Tensor, Tensor]:
        """The first ``count`` validation digits on canvases whose placement uses ``spread`` of the
        room around the centre (0: centred, 1: anywhere, as the fixed sets): how a net does at each
        stage of a placement curriculum (``translate_curriculum``). Drawn afresh from ``seed``.

        Returns:
            ``canvas`` float32 ``[count, 1, H, W]``, ``label`` int64 ``[count]``, ``box`` float32 ``[count, 4]``.
        """
        _require(0 <= spread <= 1, "spread must be a number in [0, 1]", spread)
        pool = self._pool("val")
        _require(0 < count <= len(pool), f"count must be an int in [1, {len(pool)}] (val_size)", count)
        generator = torch.Generator().manual_seed(stream_seed(seed, "placed"))
        return self._generate(pool, torch.arange(count), generator, spread)

    def _train_state(self, device: torch.device) -> tuple[_Pool, torch.Generator]:
        """Training digits on ``device`` and that device's canvas generator (created once)."""
        if device not in self._train_on_device:
            self._train_on_device[device] = (self._pool("train").to(device), torch.Generator(device=device))
        return self._train_on_device[device]

    def spread(self, trained: int) -> float:
        """The placement spread of a training batch after ``trained`` canvases of this process:
        ``clamp((trained - translate_hold) / translate_curriculum, 0, 1)``, 1 without a curriculum."""
        if self.translate_curriculum == 0:
            return 1.0
        return min(1.0, max(0.0, (trained - self.translate_hold) / self.translate_curriculum))

    def _rank(self) -> tuple[int, int]:
        """This process's global rank and the number of processes (``0, 1`` outside a Trainer)."""
        return getattr(self.trainer, "global_rank", 0), getattr(self.trainer, "world_size", 1)

    # ----------------------------------------------------------------- Lightning hooks

    def prepare_data(self) -> None:
        """Fetch and verify MNIST (Lightning calls this on one process only)."""
        ensure_mnist(self.root)

    def setup(self, stage: str) -> None:
        """Load the digits (and build the fixed canvases) that ``stage`` needs."""
        if stage == "fit":
            self._pool("train")
            self._fixed_set("val")
        elif stage == "validate":
            self._fixed_set("val")
        else:  # "test", "predict"
            self._fixed_set("test")

    def _eval_loader(self, stage: str) -> DataLoader:
        """The fixed ``stage`` set in order; split across processes under DDP without padding.

        Lightning's own distributed sampler pads every process to the same length with repeated
        samples, which would be counted twice; :class:`UnrepeatedDistributedSampler` gives
        process ``r`` of ``R`` samples ``r, r + R, ...``, so the metrics summed over processes are
        those of one process over the whole set.
        """
        dataset = TensorDataset(*self._fixed_set(stage))
        sampler = None
        rank, replicas = self._rank()
        if replicas > 1:
            if len(dataset) < replicas:  # a process with no batch would hang the others
                size = "val_size" if stage == "val" else "test_size"
                raise ValueError(f"{size} ({len(dataset)}) must be at least the number of processes ({replicas})")
            sampler = UnrepeatedDistributedSampler(dataset, num_replicas=replicas, rank=rank, shuffle=False)
        return DataLoader(
            dataset,
            batch_size=self.eval_batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        """Int64 index batches ``[B]`` into the training digits, in :class:`_TrainOrder`'s order
        (each process its own share under DDP); resumable from a checkpoint."""
        rank, replicas = self._rank()
        size = len(self._pool("train"))
        trained = 0 if self._order is None else self._order.trained  # a reloaded loader goes on
        self._order = _TrainOrder(size, self.seed, rank, replicas, trained)
        return _TrainLoader(
            torch.arange(size),
            batch_size=self.batch_size,
            sampler=self._order,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def val_dataloader(self) -> DataLoader:
        """The fixed validation set as ``(canvas_uint8 [B, 1, H, W], label [B], box [B, 4])``."""
        return self._eval_loader("val")

    def test_dataloader(self) -> DataLoader:
        """The fixed test set as ``(canvas_uint8 [B, 1, H, W], label [B], box [B, 4])``."""
        return self._eval_loader("test")

    def predict_dataloader(self) -> DataLoader:
        """Same as :meth:`test_dataloader`."""
        return self.test_dataloader()

    def on_after_batch_transfer(
        self, batch: Tensor | list[Tensor], dataloader_idx: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Turn a loader batch, already on its device, into ``(canvas, label, box)``.

        A bare tensor is a training index batch (int64 ``[B]``): fresh canvases are generated on
        its device, from a generator seeded by ``seed``, the process's rank (DDP ranks draw
        different canvases) and the number of digits this process trained before the batch (its
        place in the run; counted here, where a batch reaches the model, for :class:`_TrainOrder`),
        placed within :meth:`spread` of that place. Anything else is a fixed-set batch
        ``(canvas_uint8, label, box)`` whose canvas is rescaled
        to float32 in ``[0, 1]``.

        Returns:
            ``canvas`` float32 ``[B, 1, H, W]``, ``label`` int64 ``[B]``,
            ``box`` float32 ``[B, 4]``.
        """
        if isinstance(batch, Tensor):
            pool, generator = self._train_state(batch.device)
            trained = 0 if self._order is None else self._order.trained
            generator.manual_seed(stream_seed(self.seed, "train", self._rank()[0], trained))
            if self._order is not None:
                self._order.trained += len(batch)
            return self._generate(pool, batch, generator, self.spread(trained))
        canvas, label, box = batch
        return canvas.float() / 255, label, box
