"""RAM: its trace, the REINFORCE estimator, learning where to look, and the CLI configs."""

import math
from pathlib import Path

import pytest
import torch

from lit_draw.cli.metrics_csv import read_metrics, run_folders
from lit_draw.losses import classification_reward, reinforce_loss
from lit_draw.models import RAM
from lit_draw.models.attention import loc_to_pixels
from lit_draw.module import AttentionClassifier
from lit_draw.objectives import Reinforce

CONFIGS = Path(__file__).parents[1] / "configs"
RAM_KEYS = {"train/reward", "train/baseline_mse", "train/reinforce_loss", "train/advantage_std", "train/loss"}


def tiny_ram(**options) -> RAM:
    sizes = dict(
        canvas_size=16,
        patch=4,
        scales=2,
        glimpses=3,
        core_size=16,
        what_hidden=8,
        where_hidden=8,
        glimpse_size=16,
        hidden=8,
    )
    return RAM(**{**sizes, **options})


# ------------------------------------------------------------------------------------ the trace


def test_ram_trace_shapes_and_what_each_core_fills():
    torch.manual_seed(0)
    images = torch.rand(5, 1, 16, 16)
    rnn = tiny_ram()(images, return_glimpses=True, return_gates=True)
    assert rnn.logits.shape == (3, 5, 10) and rnn.center.shape == (3, 5, 2)
    for field in (rnn.log_pi, rnn.baseline, rnn.entropy):
        assert field.shape == (3, 5)
    torch.testing.assert_close(rnn.size, torch.full((3, 5), 4.0))
    assert rnn.n_scales == 2 and rnn.glimpses.shape == (3, 5, 2, 4, 4)
    assert set(rnn.cells) == {"core"} and rnn.gates is None and rnn.mc_logits is None  # ReLU: no gates
    # the paper's uniform start: l_1 ~ U[-1, 1]^2, density 1/4 everywhere
    torch.testing.assert_close(rnn.log_pi[0], torch.full((5,), -math.log(4)))
    lstm = tiny_ram(cell="lstm")(images, return_gates=True)
    assert lstm.cells["core"].shape == (3, 5, 16) and lstm.glimpses is None
    assert set(lstm.gates) == {"core/input", "core/forget", "core/output"}
    assert lstm.gates["core/forget"].shape == (3, 5, 16)


def test_the_action_network_is_the_papers_linear_softmax_by_default():
    model = RAM(canvas_size=16, patch=4, core_size=16, glimpse_size=16)
    assert isinstance(model.classifier, torch.nn.Linear)  # Mnih et al. 2014: softmax(W h_t)
    assert (model.classifier.in_features, model.classifier.out_features) == (16, 10)
    deeper = tiny_ram(hidden=8)
    assert len(deeper.classifier) == 3
    layers = (torch.nn.Linear, torch.nn.ReLU, torch.nn.Linear)
    assert [isinstance(m, t) for m, t in zip(deeper.classifier, layers, strict=True)] == [True] * 3


def test_centers_are_the_clamped_locations_in_pixels_and_stay_on_the_canvas():
    torch.manual_seed(0)
    model = tiny_ram(std=5.0, start="learned")  # a wide policy: most draws fall off [-1, 1]
    trace = model(torch.rand(64, 1, 16, 16))
    lo, hi = loc_to_pixels(torch.tensor([-1.0, 1.0]), 16, 16).tolist()
    assert trace.center.min() == lo and trace.center.max() == hi
    assert ((trace.center == lo) | (trace.center == hi)).float().mean() > 0.5


def test_the_sampled_location_is_data_only_reinforce_trains_the_policy():
    torch.manual_seed(0)
    model = tiny_ram(start="learned")
    trace = model(torch.rand(4, 1, 16, 16))
    trace.logits.sum().backward()
    assert model.start.grad is None and model.locator.weight.grad is None
    assert model.baseliner.weight.grad is None
    model.zero_grad()
    module = AttentionClassifier(model, Reinforce())
    module.objective(model(torch.rand(4, 1, 16, 16)), torch.randint(0, 10, (4,)))["loss"].backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_entropy_bonus_widens_a_learned_policy():
    images, labels = torch.rand(4, 1, 16, 16), torch.randint(0, 10, (4,))
    grads = []
    for bonus in (0.0, 0.5):
        torch.manual_seed(0)
        model = tiny_ram(learn_std=True)
        module = AttentionClassifier(model, Reinforce(entropy_bonus=bonus))
        module.objective(model(images), labels)["loss"].backward()
        grads.append(model.log_std.grad)
    # entropy = sum over the T - 1 Gaussian draws (the start is uniform) of sum_i (log sigma_i + const)
    torch.testing.assert_close(grads[1] - grads[0], torch.full((2,), -0.5 * 2))


def test_deterministic_eval_follows_the_policy_mean_from_the_centre():
    torch.manual_seed(0)
    model = tiny_ram(deterministic_eval=True).eval()
    images = torch.rand(3, 1, 16, 16)
    first, second = model(images), model(images)
    torch.testing.assert_close(first.logits, second.logits, rtol=0, atol=0)
    torch.testing.assert_close(first.center[0], torch.full((3, 2), 7.5))  # the canvas centre
    model.train()
    assert not torch.equal(model(images).center, model(images).center)


def test_mean_policy_is_the_deterministic_evaluation_in_one_run_whatever_the_options():
    torch.manual_seed(0)
    images = torch.rand(3, 1, 16, 16)
    model = tiny_ram(mc_samples=4).eval()
    reference = tiny_ram(deterministic_eval=True).eval()  # the option's code path
    reference.load_state_dict(model.state_dict())
    trace = model(images, mean_policy=True)
    assert trace.mc_logits is None  # one run: every run would be the same
    torch.testing.assert_close(trace.logits, reference(images).logits, rtol=0, atol=0)
    torch.testing.assert_close(trace.center, reference(images).center, rtol=0, atol=0)
    # each glimpse is read at the policy's mean (clamped to the canvas), also in training mode
    expected = loc_to_pixels(trace.loc_mean.clamp(-1, 1), 16, 16)
    torch.testing.assert_close(trace.center, expected)
    torch.testing.assert_close(model.train()(images, mean_policy=True).logits, trace.logits, rtol=0, atol=0)


def test_the_trace_holds_the_location_policy_mean_and_std():
    torch.manual_seed(0)
    trace = tiny_ram(std=0.1)(torch.rand(5, 1, 16, 16))
    assert trace.loc_mean.shape == trace.loc_std.shape == (3, 5, 2) and trace.zoom_logits is None
    # the uniform start U[-1, 1]^2: mean 0, std 1/sqrt(3); then the Gaussian policy's own
    torch.testing.assert_close(trace.loc_mean[0], torch.zeros(5, 2))
    torch.testing.assert_close(trace.loc_std[0], torch.full((5, 2), 3**-0.5))
    torch.testing.assert_close(trace.loc_std[1:], torch.full((2, 5, 2), 0.1))
    assert trace.loc_mean.requires_grad


def test_validation_scores_single_sample_monte_carlo_and_mean_policy(tmp_path):
    from lightning.pytorch import Trainer
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(0)
    images, labels = torch.rand(12, 1, 16, 16), torch.randint(0, 10, (12,))
    net = tiny_ram(mc_samples=3)
    module = AttentionClassifier(net, Reinforce())
    trainer = Trainer(default_root_dir=tmp_path, logger=False, enable_progress_bar=False, enable_model_summary=False)
    loader = DataLoader(TensorDataset(images, labels, torch.zeros(12, 4)), batch_size=4)
    metrics = trainer.validate(module, loader)[0]
    assert {"val/acc", "val/acc_mc", "val/acc_mean_policy"} <= metrics.keys()
    with torch.no_grad():
        mean_policy = net.eval()(images, mean_policy=True).logits[-1].argmax(-1)
    assert metrics["val/acc_mean_policy"] == pytest.approx((mean_policy == labels).float().mean().item())


def test_monte_carlo_logits_are_the_log_mean_softmax_of_the_runs():
    torch.manual_seed(0)
    images = torch.rand(2, 1, 16, 16)
    model = tiny_ram(mc_samples=3).eval()
    torch.manual_seed(1)
    trace = model(images)
    # the same draws, as one single-sample run over the three copies of the batch
    single = tiny_ram(mc_samples=1).eval()
    single.load_state_dict(model.state_dict())
    torch.manual_seed(1)
    runs = single(images.repeat(3, 1, 1, 1)).logits.view(3, 3, 2, 10)  # [T, M, B, C]
    expected = runs.softmax(-1).mean(1).log()
    torch.testing.assert_close(trace.mc_logits, expected)
    torch.testing.assert_close(trace.logits, runs[:, 0], rtol=0, atol=0)
    assert not torch.allclose(runs[:, 0], runs[:, 1])
    assert model.train()(images).mc_logits is None  # training is always single-sample


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"cell": "gru"}, "RAM.cell must be one of relu, lstm, got 'gru'"),
        ({"hidden": -1}, "RAM.hidden must be an int >= 0"),
        ({"start": "centre"}, "RAM.start must be one of random, learned, got 'centre'"),
        ({"std": 0.0}, "RAM.std must be > 0"),
        ({"std": True}, "RAM.std must be > 0, got True"),  # a bool is not a number here
        ({"glimpses": 0}, "RAM.glimpses must be a positive int"),
        ({"mc_samples": 0}, "RAM.mc_samples must be a positive int"),
    ],
)
def test_bad_options_name_the_field(options, message):
    with pytest.raises(ValueError, match=message):
        RAM(**options)


def test_module_rejects_an_unknown_reward():
    with pytest.raises(ValueError, match="Reinforce.reward must be one of final, weighted, got 'last'"):
        Reinforce(reward="last")


# ----------------------------------------------------------------------------- the estimator


def test_final_and_weighted_rewards():
    labels = torch.tensor([0, 1])
    zero, one = [5.0, 0.0], [0.0, 5.0]  # logits predicting class 0 / class 1
    logits = torch.tensor([[zero, zero], [one, one], [zero, zero]])  # [T=3, B=2, C=2]
    torch.testing.assert_close(classification_reward(logits, labels), torch.tensor([1.0, 0.0]))
    weighted = classification_reward(logits, labels, torch.tensor([0.2, 0.3, 0.5]))
    # right at t: sample 0 -> (1, 0, 1), sample 1 -> (0, 1, 0); R_t sums w_s * right_s for s >= t
    torch.testing.assert_close(weighted, torch.tensor([[0.7, 0.3], [0.5, 0.3], [0.5, 0.0]]))


def _per_sample_estimates(use_baseline: bool) -> tuple[torch.Tensor, float]:
    """Score-function estimates of d E[R] / d mu_1 for ``l_t ~ N(mu_t, sigma^2)``, ``t = 1, 2``, and
    ``R = 1[l_1 + l_2 > 0]``: exactly ``phi(z) / (sigma sqrt 2)`` with ``z = (mu_1 + mu_2) / (sigma sqrt 2)``."""
    generator = torch.Generator().manual_seed(0)
    n, sigma = 200_000, 0.5
    mu = torch.tensor([[0.1], [0.2]]).expand(2, n).clone().requires_grad_()  # [T, B], one leaf per draw
    l = mu.detach() + sigma * torch.randn(2, n, generator=generator)
    log_pi = torch.distributions.Normal(mu, sigma).log_prob(l)  # [T, B]
    reward = (l.sum(0) > 0).float()  # [B]
    z = 0.3 / (sigma * math.sqrt(2))
    baseline = torch.full((2, n), 0.5 * (1 + math.erf(z / math.sqrt(2)))) if use_baseline else None  # E[R]
    reinforce_loss(log_pi, reward, baseline)["reinforce_loss"].backward()
    exact = math.exp(-z * z / 2) / math.sqrt(2 * math.pi) / (sigma * math.sqrt(2))
    return -n * mu.grad[0], exact  # [B] one estimate per draw


@pytest.mark.parametrize("use_baseline", [False, True])
def test_reinforce_estimate_matches_the_closed_form_gradient(use_baseline):
    estimates, exact = _per_sample_estimates(use_baseline)
    standard_error = estimates.std().item() / math.sqrt(estimates.numel())
    assert abs(estimates.mean().item() - exact) < 4 * standard_error
    assert standard_error < 0.02 * exact  # the test has the power to see a wrong gradient


def test_the_baseline_lowers_the_variance_and_is_trained_by_its_own_error():
    assert _per_sample_estimates(True)[0].std() < 0.8 * _per_sample_estimates(False)[0].std()
    log_pi = torch.randn(2, 4, requires_grad=True)
    baseline = torch.full((2, 4), 0.5, requires_grad=True)
    terms = reinforce_loss(log_pi, torch.tensor([1.0, 0.0, 1.0, 1.0]), baseline)
    terms["reinforce_loss"].backward(retain_graph=True)
    assert baseline.grad is None  # the advantage is detached
    torch.testing.assert_close(log_pi.grad, -torch.tensor([[0.5, -0.5, 0.5, 0.5]] * 2) / 4)
    terms["baseline_mse"].backward()
    torch.testing.assert_close(terms["baseline_mse"], torch.tensor(0.25))
    torch.testing.assert_close(baseline.grad, torch.tensor([[-1.0, 1.0, -1.0, -1.0]] * 2) / 8)
    torch.testing.assert_close(terms["reward"], torch.tensor(0.75))
    torch.testing.assert_close(terms["advantage_std"], torch.tensor([0.5, -0.5, 0.5, 0.5] * 2).std())


# ------------------------------------------------------------------------- learning to look


def _quadrant_task(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Four 6x6 glyphs, always in the top-left quadrant of a blank 16x16 canvas (jittered by 0-2 px)."""
    glyphs = torch.zeros(4, 6, 6)
    glyphs[0, 2:4, :] = 1  # horizontal bar
    glyphs[1, :, 2:4] = 1  # vertical bar
    glyphs[2] = torch.eye(6)  # diagonal
    glyphs[3, [0, -1], :] = glyphs[3, :, [0, -1]] = 1  # box
    placed = torch.zeros(4, 3, 3, 16, 16)  # [class, y offset, x offset, H, W]
    for y in range(3):
        for x in range(3):
            placed[:, y, x, y : y + 6, x : x + 6] = glyphs
    labels, y, x = torch.randint(0, 4, (n,), generator=generator), *torch.randint(0, 3, (2, n), generator=generator)
    return placed[labels, y, x][:, None], labels


def test_ram_learns_to_start_in_the_digits_quadrant():
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    model = RAM(
        canvas_size=16,
        patch=4,
        scales=1,
        glimpses=2,
        core_size=32,
        what_hidden=32,
        where_hidden=16,
        glimpse_size=32,
        hidden=32,
        num_classes=4,
        start="learned",
        std=0.2,
    )
    module = AttentionClassifier(model, Reinforce(weighting="all"))
    optimiser = torch.optim.Adam(module.parameters(), lr=3e-3)
    for _ in range(400):
        images, labels = _quadrant_task(64, generator)
        loss = module.objective(model(images), labels)["loss"]
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    start = torch.tanh(model.start)  # the mean first location; it starts at the centre (0, 0)
    assert (start < -0.1).all(), start  # the glyphs' centre is near (-0.5, -0.5)
    images, labels = _quadrant_task(512, generator)
    with torch.no_grad():
        accuracy = (model.eval()(images).logits[-1].argmax(-1) == labels).float().mean()
    assert accuracy > 0.6  # chance is 0.25


# ------------------------------------------------------------------------------------ the CLI


@pytest.mark.slow
@pytest.mark.parametrize("config", ["ram_mnist", "ram_translated60", "ram_cluttered60", "ram_cluttered100"])
def test_ram_configs_fit_and_test_through_the_cli(config, tmp_path, monkeypatch, mnist_root):
    from lit_draw.cli import main

    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.chdir(tmp_path)
    common = [
        "--config",
        str(CONFIGS / f"{config}.yaml"),
        f"--data.root={mnist_root}",
        "--data.train_size=16",
        "--data.val_size=16",
        "--data.test_size=16",
        "--data.batch_size=8",
        "--model.net.init_args.core_size=16",
        "--model.net.init_args.glimpse_size=16",
        "--model.net.init_args.what_hidden=8",
        "--model.net.init_args.where_hidden=8",
        "--model.net.init_args.hidden=8",
        "--model.net.init_args.mc_samples=2",
        f"--trainer.default_root_dir={tmp_path / 'run'}",
        "--trainer.enable_progress_bar=false",
    ]
    cli = main(
        [
            "fit",
            *common,
            "--trainer.max_epochs=1",
            "--trainer.limit_train_batches=2",
            "--trainer.limit_val_batches=1",
            "--trainer.log_every_n_steps=1",
        ]
    )
    checkpoint = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert checkpoint.is_file()
    main(["test", *common, "--trainer.limit_test_batches=1", f"--ckpt_path={checkpoint}"])
    runs = [set().union(*read_metrics(d)) for d in run_folders(tmp_path / "wandb")]  # the keys each run logged
    assert len(runs) == 2
    fit, test = sorted(runs, key=lambda keys: "test/acc" in keys)
    assert RAM_KEYS <= fit
    assert {"val/acc", "val/acc_mc", "val/acc_mean_policy", "val/acc_glimpse_1"} <= fit
    assert {"test/acc", "test/acc_mc", "test/acc_mean_policy"} <= test
    assert (
        cli.trainer.logger.experiment.config["model"]["net"]["class_path"] == "lit_draw.models.RAM"
    )  # W&B's run config
