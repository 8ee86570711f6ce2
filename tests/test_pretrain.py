"""DRAM's pre-training and TensorFlow-faithful options (issue 31): the write head and its
reconstruction loss, TensorFlow 0.x's initialisation and forget-gate bias, per-tensor gradient
clipping, training only named groups, and a classification fit started from a pre-trained net."""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Trainer
from torch import nn

from lit_draw import losses
from lit_draw.cli import main
from lit_draw.errors import ConfigError
from lit_draw.models import DRAWClassifier
from lit_draw.models.init import set_forget_bias_, uniform_unit_scaling_
from lit_draw.module import AttentionClassifier, clip_by_norm_
from lit_draw.objectives import CrossEntropy, Reconstruction


def tiny_net(**options) -> DRAWClassifier:
    return DRAWClassifier(canvas_size=12, read_n=3, glimpses=2, enc_size=6, z_size=3, dec_size=5, hidden=4, **options)


def test_tf_initialisation_is_uniform_unit_scaling_with_zero_biases():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(300, 200), nn.LSTMCell(40, 60))
    uniform_unit_scaling_(net)
    linear, cell = net
    bound = math.sqrt(3 / 300)
    assert linear.weight.abs().max() <= bound and linear.weight.abs().max() > 0.99 * bound
    assert linear.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.02)  # U(-b, b): std b / sqrt(3)
    cell_bound = math.sqrt(3 / (40 + 60))  # TensorFlow's one W_0 of [input + hidden, 4 hidden]
    for weight in (cell.weight_ih, cell.weight_hh):
        assert cell_bound * 0.99 < weight.abs().max() <= cell_bound
    assert not linear.bias.any() and not cell.bias_ih.any() and not cell.bias_hh.any()


def test_forget_bias_sets_the_forget_gates_total_bias_and_nothing_else():
    cell = nn.LSTMCell(3, 4)
    before = (cell.bias_ih + cell.bias_hh).detach().clone()
    set_forget_bias_(cell, 1.0)
    total = (cell.bias_ih + cell.bias_hh).detach()
    assert torch.equal(total[4:8], torch.ones(4))  # gate order i, f, g, o
    assert torch.equal(total[:4], before[:4]) and torch.equal(total[8:], before[8:])
    # one step from a zero state: f = sigmoid(1) wherever the input is zero, as TensorFlow's forget_bias=1.0
    with torch.no_grad():
        cell.weight_ih.zero_(), cell.weight_hh.zero_(), cell.bias_ih.zero_(), cell.bias_hh.zero_()
    set_forget_bias_(cell, 1.0)
    h, c = cell(torch.zeros(1, 3), (torch.zeros(1, 4), torch.ones(1, 4)))
    assert torch.allclose(c, torch.full((1, 4), torch.sigmoid(torch.tensor(1.0)).item()))


def test_draw_built_with_tf_options_and_reinitialised_groups():
    torch.manual_seed(0)
    net = tiny_net(init="tf", forget_bias=1.0, write=True)
    assert torch.equal((net.decoder.bias_ih + net.decoder.bias_hh)[5:10], torch.ones(5))
    assert not net.window.linear.bias.any()
    kept = {k: v.clone() for k, v in net.state_dict().items()}
    net.reinitialize(["classifier"])
    changed = {k for k, v in net.state_dict().items() if not torch.equal(v, kept[k])}
    assert changed == {"classifier.0.weight", "classifier.2.weight"}  # tf init: the biases are drawn as zero again
    with pytest.raises(
        ValueError, match=r"^DRAWClassifier.reinitialize groups must be one of window, .*write, got 'halting'$"
    ):
        net.reinitialize(["halting"])
    with pytest.raises(ValueError, match=r"^DRAWClassifier.init must be one of torch, tf, got 'keras'$"):
        tiny_net(init="keras")


def test_the_default_initialisation_draws_what_it_always_drew():
    """``init="torch"`` without a forget bias adds no draw: every earlier seed builds the same net."""
    torch.manual_seed(3)
    plain = tiny_net()
    torch.manual_seed(3)
    explicit = tiny_net(init="torch", forget_bias=None)
    assert all(
        torch.equal(a, b) for a, b in zip(plain.state_dict().values(), explicit.state_dict().values(), strict=True)
    )


def test_reconstruction_loss_is_the_summed_binary_cross_entropy_by_hand():
    logits = torch.tensor([[[0.0, 2.0], [-1.0, 3.0]]])  # [1, 2, 2]
    images = torch.tensor([[[[0.0, 1.0], [0.5, 0.25]]]])  # [1, 1, 2, 2]
    s = torch.sigmoid(logits[0]).flatten().tolist()
    x = [0.0, 1.0, 0.5, 0.25]
    by_hand = -sum(t * math.log(o) + (1 - t) * math.log(1 - o) for t, o in zip(x, s, strict=True))
    assert losses.reconstruction_loss(logits, images).item() == pytest.approx(by_hand, rel=1e-6)
    # the mean over canvases of each canvas's sum
    two = losses.reconstruction_loss(torch.cat([logits, torch.zeros_like(logits)]), torch.cat([images, images]))
    assert two.item() == pytest.approx((by_hand + 4 * math.log(2)) / 2, rel=1e-6)


def test_reconstruction_trains_the_write_head_and_needs_one():
    with pytest.raises(
        ValueError, match=r"^Reconstruction.net must be a net with a write head .*got 'DRAWClassifier'$"
    ):
        AttentionClassifier(tiny_net(), Reconstruction())
    torch.manual_seed(0)
    net = tiny_net(write=True)
    images = torch.rand(4, 1, 12, 12)
    terms = Reconstruction().to(images.device)
    module = AttentionClassifier(net, terms)
    loss = module.objective(net(images), torch.zeros(4, dtype=torch.long), 0, images=images)["loss"]
    loss.backward()
    assert net.write.weight.grad.abs().sum() > 0 and net.window.linear.weight.grad is not None
    assert all(p.grad is None for p in net.classifier.parameters())  # the classifier is not trained


def _attached(module: AttentionClassifier, clip: float) -> AttentionClassifier:
    module.trainer = Trainer(
        gradient_clip_val=clip, logger=False, enable_checkpointing=False, enable_progress_bar=False
    )
    return module


def test_per_tensor_clipping_clips_each_gradient_to_the_norm_on_its_own():
    """TensorFlow's ``clip_by_norm`` per variable: ``g * 5 / max(||g||, 5)``, by hand."""
    module = _attached(AttentionClassifier(tiny_net(), CrossEntropy("last"), clip_per_tensor=True), 5.0)
    params = list(module.parameters())
    for i, p in enumerate(params):
        p.grad = torch.full_like(p, float(i + 1))  # norms sqrt(numel) * (i + 1): some above 5, some below
    norms = [math.sqrt(p.numel()) * (i + 1) for i, p in enumerate(params)]
    assert min(norms) < 5 < max(norms)
    optimizer = torch.optim.SGD(params, lr=0.1)
    module.configure_gradient_clipping(optimizer, 5.0, "norm")
    for i, (p, norm) in enumerate(zip(params, norms, strict=True)):
        expected = (i + 1) * 5 / max(norm, 5)
        assert torch.allclose(p.grad, torch.full_like(p, expected), rtol=1e-6), p.shape
    grad = torch.tensor([3.0, 4.0])
    clip_by_norm_(grad, 1.0)
    assert torch.allclose(grad, torch.tensor([0.6, 0.8]))


def test_global_clipping_is_unchanged_without_per_tensor():
    module = _attached(AttentionClassifier(tiny_net(), CrossEntropy("last")), 5.0)
    params = list(module.parameters())
    for p in params:
        p.grad = torch.ones_like(p)
    total = math.sqrt(sum(p.numel() for p in params))
    module.configure_gradient_clipping(torch.optim.SGD(params, lr=0.1), 5.0, "norm")
    assert torch.allclose(params[0].grad, torch.full_like(params[0], 5 / total), rtol=1e-4)


def test_trainable_names_the_nets_groups():
    module = AttentionClassifier(tiny_net(), CrossEntropy("last"), trainable=["classifier"])
    assert {n for n, p in module.named_parameters() if p.requires_grad} == {
        "net.classifier.0.weight",
        "net.classifier.0.bias",
        "net.classifier.2.weight",
        "net.classifier.2.bias",
    }
    with pytest.raises(
        ValueError,
        match=r"^AttentionClassifier.trainable must be a list of DRAWClassifier's groups "
        r"\(window, encoder, bottleneck, decoder, classifier\), got 'hidden1'$",
    ):
        AttentionClassifier(tiny_net(), CrossEntropy("last"), trainable=["hidden1"])


@pytest.mark.slow
def test_classification_from_a_pretrained_net_keeps_frozen_groups_bit_identical(
    tiny_fit: Callable[..., list[str]], tmp_path: Path
):
    """Pre-train on reconstruction (write head), then classify from it (the write head dropped),
    the classifier drawn afresh and trained alone: every other weight ends as pre-trained."""
    args = [*tiny_fit(batch_size=8, val_size=16, train_size=8000), "--trainer.limit_val_batches=0"]
    pretrain = [
        *args,
        "--model.net.init_args.write=true",
        "--model.net.init_args.init=tf",
        "--model.net.init_args.forget_bias=1.0",
        "--model.objective=lit_draw.objectives.Reconstruction",
        "--model.clip_per_tensor=true",
        "--trainer.gradient_clip_val=5",
        "--trainer.default_root_dir=pre",
    ]
    main(["fit", *pretrain, "--trainer.max_steps=3"])
    pretrained = torch.load(tmp_path / "pre" / "checkpoints" / "last.ckpt", weights_only=False)["state_dict"]
    assert any(k.startswith("net.write.") for k in pretrained)
    cli = main(
        [
            "fit",
            *args,
            "--init_from=pre/checkpoints/last.ckpt",
            "--reinit=[classifier]",
            "--model.trainable=[classifier]",
            "--trainer.max_steps=3",
        ]
    )
    trained = cli.model.state_dict()
    assert not any(k.startswith("net.write.") for k in trained)
    for key, value in trained.items():
        if key.startswith("net.classifier."):
            assert not torch.equal(value, pretrained[key]), key  # drawn afresh, then trained
        elif key in pretrained:
            assert torch.equal(value, pretrained[key]), key  # frozen, bit for bit
    # a net of another shape is refused before anything is built, naming the setting
    with pytest.raises(
        ConfigError, match=r"^--init_from pre/checkpoints/last.ckpt: the checkpoint's model.net.init_args.read_n is 3"
    ):
        main(["fit", *args, "--init_from=pre/checkpoints/last.ckpt", "--model.net.init_args.read_n=4"])
    with pytest.raises(ConfigError, match=r"^--reinit re-initialises groups after --init_from"):
        main(["fit", *args, "--reinit=[classifier]"])
    with pytest.raises(
        ConfigError, match=r"^model.clip_per_tensor clips to trainer.gradient_clip_val, which is not set"
    ):
        main(
            ["fit", *args, "--model.clip_per_tensor=true", "--trainer.gradient_clip_val=null", "--trainer.max_steps=1"]
        )
    refused = (
        r"^model.clip_per_tensor clips each gradient's norm; trainer.gradient_clip_algorithm must be norm, got 'value'$"
    )
    with pytest.raises(ConfigError, match=refused):
        main(
            [
                "fit",
                *args,
                "--model.clip_per_tensor=true",
                "--trainer.gradient_clip_algorithm=value",
                "--trainer.max_steps=1",
            ]
        )
