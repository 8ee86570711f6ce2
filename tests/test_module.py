"""The LightningModule on its own: per-glimpse metrics and objectives through a real Trainer."""

from __future__ import annotations

import warnings

import pytest
import torch
from lightning.pytorch import Trainer
from lightning.pytorch.plugins.precision import MixedPrecision
from torch.utils.data import DataLoader, TensorDataset

from lit_draw.cli.checks import unclippable
from lit_draw.metrics import PerGlimpseAccuracy
from lit_draw.models import DRAWClassifier
from lit_draw.module import AttentionClassifier
from lit_draw.objectives import CrossEntropy, Reinforce, Variational, WakeSleep


def _loader(n: int = 8, size: int = 16) -> DataLoader:
    torch.manual_seed(0)
    data = TensorDataset(torch.rand(n, 1, size, size), torch.randint(0, 10, (n,)), torch.zeros(n, 4))
    return DataLoader(data, batch_size=4)


def test_per_glimpse_accuracy_counts_every_glimpse():
    metric = PerGlimpseAccuracy(3)
    logits = torch.zeros(3, 4, 2)
    logits[0, :, 1] = 1  # glimpse 1 predicts class 1 everywhere
    logits[1, :2, 1] = 1  # glimpse 2 predicts class 1 for the first two
    labels = torch.tensor([1, 1, 0, 0])
    metric.update(logits, labels)
    torch.testing.assert_close(metric.compute(), torch.tensor([0.5, 1.0, 0.5]))


@pytest.mark.slow
@pytest.mark.parametrize("glimpses", [1, 3])
def test_validation_logs_accuracy_after_every_glimpse(glimpses: int, tmp_path):
    net = DRAWClassifier(canvas_size=16, read_n=3, glimpses=glimpses, enc_size=8, z_size=4, dec_size=8, hidden=8)
    model = AttentionClassifier(net, CrossEntropy(weighting="last"))
    trainer = Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_steps=2,
    )
    trainer.fit(model, _loader(), _loader())
    metrics = trainer.callback_metrics
    keys = [f"val/acc_glimpse_{t}" for t in range(1, glimpses + 1)]
    assert all(0.0 <= metrics[k] <= 1.0 for k in keys)
    assert f"val/acc_glimpse_{glimpses + 1}" not in metrics
    assert metrics["val/acc"] == metrics[keys[-1]]


@pytest.mark.parametrize(
    ("objective", "options", "message"),
    [
        (
            CrossEntropy,
            dict(weighting="first"),
            r"^CrossEntropy.weighting must be one of last, all, linear, exponential or a "
            r"list of T non-negative weights \(T: the net's glimpses\), got 'first'$",
        ),
        (
            Reinforce,
            dict(entropy_bonus=-0.1),
            r"Reinforce.entropy_bonus must be a finite number >= 0 \(0: off\), got -0.1",
        ),
        (Reinforce, dict(reward="sometimes"), r"Reinforce.reward must be one of final, weighted, got 'sometimes'"),
        (
            WakeSleep,
            dict(grad_variance_every=-1),
            r"WakeSleep.grad_variance_every must be an int >= 0 \(0: never\), got -1",
        ),
        (Variational, dict(control_variates="yes"), r"Variational.control_variates must be true or false, got 'yes'"),
        (WakeSleep, dict(entropy_bonus=float("nan")), r"WakeSleep.entropy_bonus must be a finite number >= 0"),
    ],
)
def test_bad_objective_options_name_the_class_and_field(objective, options, message):
    with pytest.raises(ValueError, match=message):
        objective(**options)


def test_a_list_weighting_must_have_one_weight_per_glimpse_of_the_net():
    net = DRAWClassifier(canvas_size=16, read_n=3, glimpses=3, enc_size=8, z_size=4, dec_size=8, hidden=8)
    with pytest.raises(ValueError, match="one weight per glimpse: 3 values, got 2"):
        AttentionClassifier(net, CrossEntropy(weighting=[0.5, 0.5]))
    module = AttentionClassifier(net, CrossEntropy(weighting=[0, 1, 3]))
    torch.testing.assert_close(module.objective.weights, torch.tensor([0.0, 0.25, 0.75]))


def test_hparams_from_python_hold_no_live_modules():
    net = DRAWClassifier(canvas_size=16, read_n=3, glimpses=1, enc_size=8, z_size=4, dec_size=8, hidden=8)
    module = AttentionClassifier(net, CrossEntropy())
    assert "net" not in module.hparams and "objective" not in module.hparams
    optimizer = module.configure_optimizers()  # the study's Adam when no CLI optimizer is given
    assert isinstance(optimizer, torch.optim.Adam) and optimizer.defaults["betas"] == (0.5, 0.999)


class _FusedAdam(AttentionClassifier):
    """Fused Adam, recording the gradients' norm right after clipping."""

    norms: list[float]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=1e-3, fused=True)

    def configure_gradient_clipping(self, optimizer, gradient_clip_val=None, gradient_clip_algorithm=None) -> None:
        super().configure_gradient_clipping(optimizer, gradient_clip_val, gradient_clip_algorithm)
        grads = [p.grad.norm() for p in self.parameters() if p.grad is not None]
        self.__dict__.setdefault("norms", []).append(torch.linalg.vector_norm(torch.stack(grads)).item())


@pytest.mark.parametrize("algorithm", ["norm", "value"])
def test_bf16_mixed_clips_the_gradients_of_a_fused_optimizer(algorithm: str, tmp_path):
    net = DRAWClassifier(canvas_size=16, read_n=3, glimpses=2, enc_size=8, z_size=4, dec_size=8, hidden=8)
    clip = 1e-3  # far below the gradients' norm, so every step clips
    trainer = Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        max_steps=2,
        precision="bf16-mixed",
        gradient_clip_val=clip,
        gradient_clip_algorithm=algorithm,
    )
    model = _FusedAdam(net, CrossEntropy(weighting="all"))
    trainer.fit(model, _loader())
    assert len(model.norms) == 2
    if algorithm == "norm":
        assert model.norms == pytest.approx([clip, clip], rel=1e-3)
    else:
        count = sum(p.numel() for p in net.parameters())
        assert all(0 < n <= clip * count**0.5 * (1 + 1e-6) for n in model.norms)


def test_clipping_under_a_gradient_scaler_with_a_fused_optimizer_is_named_before_the_run():
    params = [torch.nn.Parameter(torch.zeros(2))]
    fused, plain = torch.optim.Adam(params, fused=True), torch.optim.Adam(params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the scaler warns that CUDA is missing, and stays a scaler
        scaled = MixedPrecision("16-mixed", "cuda", scaler=torch.amp.GradScaler("cuda"))
    problem = unclippable(scaled, 5.0, [fused])
    assert problem is not None and problem.startswith("trainer.precision=16-mixed scales the gradients")
    assert "--optimizer.init_args.fused=false" in problem
    assert unclippable(scaled, 5.0, [plain]) is None
    assert unclippable(scaled, None, [fused]) is None
    assert unclippable(MixedPrecision("bf16-mixed", "cpu"), 5.0, [fused]) is None
