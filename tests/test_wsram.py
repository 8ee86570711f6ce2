"""WS-RAM and VAR: the estimators on an enumerable problem, the model's trace, the CLI end to end."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from lit_draw import losses
from lit_draw.cli import main
from lit_draw.cli.metrics_csv import read_metrics, run_folders, values
from lit_draw.models import WSRAM
from lit_draw.models.attention import loc_to_pixels
from lit_draw.module import AttentionClassifier
from lit_draw.objectives import Variational, WakeSleep

CONFIGS = Path(__file__).parents[1] / "configs"


def tiny_wsram(**options) -> WSRAM:
    sizes = dict(
        canvas_size=24,
        patch=4,
        zooms=[1, 2],
        glimpses=2,
        samples=3,
        coarse_size=4,
        what_hidden=8,
        where_hidden=8,
        glimpse_size=16,
        state_size=16,
        hidden=8,
    )
    return WSRAM(**{**sizes, **options})


# ----------------------------------------------------------------------------- weights and ESS


def test_weights_are_a_distribution_and_ess_lies_between_one_and_m():
    torch.manual_seed(0)
    log_w = torch.randn(6, 50) * torch.logspace(-2, 3, 50)  # from near-equal to degenerate, [M, B]
    w = losses.normalized_weights(log_w)
    assert (w >= 0).all()
    torch.testing.assert_close(w.sum(0), torch.ones(50))
    ess = losses.effective_sample_size(w)
    assert (ess >= 1 - 1e-5).all() and (ess <= 6 + 1e-5).all()
    equal = losses.normalized_weights(torch.full((6, 1), -1e4))  # equal, and far below exp's range
    torch.testing.assert_close(equal, torch.full((6, 1), 1 / 6))
    torch.testing.assert_close(losses.effective_sample_size(equal), torch.tensor([6.0]))
    one_hot = losses.normalized_weights(torch.tensor([[0.0], [-1e4], [-1e4]]))
    torch.testing.assert_close(losses.effective_sample_size(one_hot), torch.tensor([1.0]))


def test_importance_log_weights_are_eq_11_in_log_space():
    ll, log_p, log_q = torch.tensor([[-1.0], [-2.0]]), torch.tensor([[-3.0], [-0.5]]), torch.tensor([[-2.0], [-1.5]])
    log_w = losses.importance_log_weights(ll, log_p, log_q)
    torch.testing.assert_close(log_w, torch.tensor([[-2.0], [-1.0]]))
    s = losses.wake_sleep_surrogate(ll, log_p, log_q)
    torch.testing.assert_close(s.bound, torch.log((torch.exp(torch.tensor([-2.0, -1.0]))).mean())[None])


def test_with_q_equal_p_and_equal_weights_wake_sleep_equals_var():
    """Equal likelihoods and q = p: weights are 1/M and, with control variates, both estimators
    reduce to 1/M sum_m grad log p(y|a_m); without, their likelihood parts agree."""
    torch.manual_seed(0)
    theta = torch.randn(4, 3, requires_grad=True)  # a stand-in for both networks' parameters

    def gradient(estimator, control_variates: bool) -> torch.Tensor:
        log_p = theta.sum(1, keepdim=True).expand(4, 3) * torch.linspace(0.5, 2, 4)[:, None]  # [M, B]
        ll = (theta[0, 0] ** 2 - 2.0).expand(4, 3)  # the same log p(y|a) everywhere, [M, B]
        if estimator == "var":
            surrogate = losses.variational_surrogate(ll, log_p, control_variates)
        else:
            surrogate = losses.wake_sleep_surrogate(ll, log_p, log_p.detach(), control_variates=control_variates)
            assert surrogate.inference is None
            torch.testing.assert_close(surrogate.ess, torch.full((3,), 4.0))
            torch.testing.assert_close(surrogate.bound, ll[0].detach())  # log mean p(y|a) = ll
        return torch.autograd.grad(surrogate.loss(), theta)[0]

    torch.testing.assert_close(gradient("ws", True), gradient("var", True))
    # without control variates the likelihood parts agree; the score terms are weighted by
    # 1/M (WS) and by ll/M (VAR)
    log_p = theta.sum(1, keepdim=True).expand(4, 3) * torch.linspace(0.5, 2, 4)[:, None]
    score = torch.autograd.grad(-log_p.mean(), theta)[0]
    ll = theta[0, 0].item() ** 2 - 2.0
    torch.testing.assert_close(gradient("ws", False) - score, gradient("var", False) - ll * score)


# ----------------------------------------------------------------------------- enumerable problem
# One categorical action a in {0..K-1}: prior p(a) = softmax(theta), likelihood
# p(y|a) = softmax(phi[a])[y], proposal q(a) = softmax(eta). log p(y) = logsumexp_a(...) and its
# gradient are exact; R replicas of the problem (the batch) give R independent estimates.

K, C, Y, R = 4, 3, 0, 4000
THETA = torch.tensor([0.5, -0.3, 0.1, 0.8])
PHI = torch.tensor([[1.2, -0.8, 0.3], [-1.5, 0.9, 0.2], [0.4, 0.4, -1.0], [-0.2, -1.7, 1.1]])
ETA = torch.tensor([-0.2, 0.4, 0.3, -0.5])


def exact_gradients() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``grad log p(y)`` w.r.t. theta and phi, and ``grad_eta sum_a p(a|y) log q(a)`` (-KL's)."""
    theta, phi, eta = (v.clone().requires_grad_() for v in (THETA, PHI, ETA))
    joint = theta.log_softmax(0) + phi.log_softmax(1)[:, Y]  # [K]
    g_theta, g_phi = torch.autograd.grad(torch.logsumexp(joint, 0), (theta, phi))
    posterior = joint.softmax(0).detach()
    (g_eta,) = torch.autograd.grad((posterior * eta.log_softmax(0)).sum(), eta)
    return g_theta, g_phi, g_eta


def estimates(runs: int, estimator: str, proposal: str, control_variates: bool, seed: int = 0):
    """R per-replica estimates ``[R, ...]`` of the gradients above (eta's is None without q)."""
    torch.manual_seed(seed)
    theta = THETA.expand(R, K).clone().requires_grad_()
    phi = PHI.expand(R, K, C).clone().requires_grad_()
    eta = ETA.expand(R, K).clone().requires_grad_()
    proposal_logits = eta if proposal == "q" else theta
    a = torch.distributions.Categorical(logits=proposal_logits.detach()).sample((runs,))  # [M, R]
    rows = torch.arange(R)
    log_p = theta.log_softmax(1)[rows, a]  # [M, R]
    ll = phi.log_softmax(2)[rows, a, Y]  # [M, R]
    log_q = proposal_logits.log_softmax(1)[rows, a]
    if estimator == "variational":
        surrogate = losses.variational_surrogate(ll, log_p, control_variates)
    else:
        surrogate = losses.wake_sleep_surrogate(
            ll, log_p, log_q.detach(), log_q if proposal == "q" else None, control_variates=control_variates
        )
    grads = torch.autograd.grad(surrogate.loss() * R, (theta, phi, eta), allow_unused=True)  # per replica
    return [None if g is None else -g for g in grads]


def bias(estimate: torch.Tensor, exact: torch.Tensor) -> float:
    return (estimate.mean(0) - exact).norm().item()


def spread(estimate: torch.Tensor) -> float:
    return estimate.var(0).sum().item()


@pytest.mark.parametrize("proposal", ["p", "q"])
@pytest.mark.parametrize("control_variates", [False, True])
def test_importance_sampled_gradient_approaches_the_exact_one_as_m_grows(proposal, control_variates):
    exact = exact_gradients()
    errors = {m: [] for m in (2, 10, 50)}
    for m in errors:
        g_theta, g_phi, g_eta = estimates(m, "wake_sleep", proposal, control_variates)
        errors[m] = [bias(g_theta, exact[0]), bias(g_phi, exact[1])]
        if proposal == "q":
            errors[m].append(bias(g_eta, exact[2]))
    for e2, e10, e50, target in zip(
        errors[2], errors[10], errors[50], exact[: len(errors[2])], strict=True
    ):  # eta: q only
        assert e50 < e10 < e2  # self-normalised importance sampling: bias O(1/M)
        assert e2 > 0.2 * target.norm()  # M = 2 is visibly off, so the test can see convergence
        assert e50 < 0.06 * target.norm()


def test_control_variates_reduce_the_variance_of_the_score_terms():
    for proposal in ("p", "q"):
        plain = estimates(5, "wake_sleep", proposal, control_variates=False)
        controlled = estimates(5, "wake_sleep", proposal, control_variates=True)
        assert spread(controlled[0]) < 0.5 * spread(plain[0])  # the prior's score term
        if proposal == "q":
            assert spread(controlled[2]) < 0.5 * spread(plain[2])  # the inference network's
        assert spread(controlled[1]) == pytest.approx(spread(plain[1]))  # the likelihood term: untouched
    plain = estimates(5, "variational", "p", control_variates=False)
    controlled = estimates(5, "variational", "p", control_variates=True)
    assert spread(controlled[0]) < 0.7 * spread(plain[0])
    exact = exact_gradients()
    # VAR's estimator is unbiased for its own objective F = E_p[log p(y|a)], not for log p(y):
    f_theta = THETA.softmax(0) * (PHI.log_softmax(1)[:, Y] - (THETA.softmax(0) * PHI.log_softmax(1)[:, Y]).sum())
    assert bias(controlled[0], f_theta) < 0.02 and bias(controlled[0], exact[0]) > 0.05


def test_gradient_variance_is_the_spread_of_the_single_rollout_estimates():
    torch.manual_seed(0)
    weight = torch.randn(3, 2, requires_grad=True)
    bias_ = torch.randn(3, requires_grad=True)
    per_rollout = (weight.sum(1) * bias_ + torch.tensor([0.0, 1.0, 2.0]) * bias_**2).sin()  # [M = 3]
    reference = torch.stack(
        [
            torch.cat(
                [g.flatten() for g in torch.autograd.grad(3 * per_rollout[m], (weight, bias_), retain_graph=True)]
            )
            for m in range(3)
        ]
    )  # [M, P]
    value = losses.rollout_gradient_variance(per_rollout, [weight, bias_])
    torch.testing.assert_close(value, reference.var(0).mean())
    per_rollout.sum().backward()  # the graph is still there for the training step


# ----------------------------------------------------------------------------- the model


def test_training_trace_has_m_rollouts_and_each_network_gets_its_own_gradient():
    torch.manual_seed(0)
    model = tiny_wsram(cell="lstm").train()
    images, labels = torch.rand(5, 1, 24, 24), torch.randint(0, 10, (5,))
    trace = model(images, labels, return_glimpses=True, return_gates=True)
    assert set(trace.cells) == {"lower", "upper"} and trace.cells["upper"].shape == (2, 5, 16)
    assert trace.logits.shape == (2, 5, 10) and trace.sample_logits.shape == (2, 3, 5, 10)
    assert trace.log_p_actions.shape == (3, 5) and trace.log_q_actions.shape == (3, 5)
    assert trace.log_proposal_actions.shape == (3, 5) and not trace.log_proposal_actions.requires_grad
    assert trace.center.shape == (2, 5, 2) and trace.entropy.shape == (2, 5)
    assert set(trace.size.unique().tolist()) <= {4.0, 8.0}
    assert trace.glimpses.shape == (2, 5, 1, 4, 4) and "upper/forget" in trace.gates
    assert trace.log_pi is None  # RAM's REINFORCE does not fire on this trace
    torch.testing.assert_close(trace.logits.exp().sum(-1), torch.ones(2, 5))  # log of a mean distribution
    # the inference network's density trains only the inference network
    trace.log_q_actions.sum().backward(retain_graph=True)
    assert model.inference.policy.mean.weight.grad is not None and model.prior.mean.weight.grad is None
    assert model.lower.weight_ih.grad is None
    model.zero_grad()
    trace.log_p_actions.sum().backward()
    assert model.inference.policy.mean.weight.grad is None and model.prior.mean.weight.grad is not None


def test_the_papers_relu_layers_are_the_default_and_have_no_gates():
    model = tiny_wsram()
    assert isinstance(model.lower, torch.nn.RNNCell) and model.lower.nonlinearity == "relu"
    trace = model.train()(torch.rand(2, 1, 24, 24), torch.tensor([1, 2]), return_gates=True)
    assert trace.gates is None and set(trace.cells) == {"lower", "upper"}
    assert (trace.cells["lower"] >= 0).all()  # a ReLU layer's state


def test_without_q_training_and_evaluation_sample_from_the_prior():
    torch.manual_seed(0)
    images, labels = torch.rand(2, 1, 24, 24), torch.tensor([1, 2])
    prior = tiny_wsram(inference_network=False).train()(images, labels)
    assert prior.log_q_actions is None
    torch.testing.assert_close(prior.log_proposal_actions, prior.log_p_actions.detach())
    ws = tiny_wsram(inference_network=False, temperature=2.0).train()
    trace = ws(images, labels)
    assert trace.log_q_actions is None and not trace.log_proposal_actions.requires_grad
    assert not torch.equal(trace.log_proposal_actions, trace.log_p_actions.detach())  # the tempered proposal
    evaluated = tiny_wsram().eval()(images, labels)
    assert evaluated.log_q_actions is None and evaluated.log_proposal_actions is None
    assert evaluated.sample_logits.shape == (2, 3, 2, 10)
    expected = torch.logsumexp(evaluated.sample_logits.log_softmax(-1), 1) - torch.log(torch.tensor(3.0))
    torch.testing.assert_close(evaluated.logits, expected)


def test_module_objective_logs_the_wake_sleep_terms():
    torch.manual_seed(0)
    module = AttentionClassifier(tiny_wsram(), WakeSleep(weighting="last", grad_variance_every=1))
    module.train()
    images, labels = torch.rand(4, 1, 24, 24), torch.randint(0, 10, (4,))
    terms = module.objective(module(images, labels), labels)
    assert {"loss", "bound", "ess", "log_likelihood", "entropy", "grad_variance"} <= set(terms)
    assert 1 <= terms["ess"] <= 3 and terms["bound"] < 0 and terms["grad_variance"] > 0
    terms["loss"].backward()
    assert all(p.grad is not None for p in module.net.parameters())


@pytest.mark.parametrize(
    "options, message",
    [
        (dict(zooms=[1, 3]), "WSRAM.zooms must be distinct powers of two"),
        (dict(cell="gru"), "WSRAM.cell must be one of relu, lstm, got 'gru'"),
        (dict(temperature=0.5), "WSRAM.temperature must be >= 1"),
        (dict(hidden=True), "WSRAM.hidden must be an int >= 0 \\(0: linear\\), got True"),  # a bool is not an int here
        (dict(std=0.01), "GlimpsePolicy.std must be in \\[0.02, 1\\]"),
        (dict(samples=0), "WSRAM.samples must be a positive int, got 0"),
    ],
)
def test_bad_options_name_the_field(options, message):
    with pytest.raises(ValueError, match=message):
        tiny_wsram(**options)


# ----------------------------------------------------------------------------- the CLI


@pytest.mark.slow
@pytest.mark.parametrize("config", ["wsram_translated_scaled", "var_translated_scaled"])
def test_fit_logs_ess_and_gradient_variance_to_the_offline_run(config, mnist_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    cli = main(
        [
            "fit",
            "--config",
            str(CONFIGS / f"{config}.yaml"),
            f"--data.root={mnist_root}",
            "--data.canvas_size=48",
            "--data.batch_size=8",
            "--data.val_size=16",
            "--data.train_size=16",
            "--data.test_size=16",  # 2 steps: one epoch
            "--model.net.init_args.state_size=16",
            "--model.net.init_args.glimpse_size=16",
            "--model.net.init_args.what_hidden=8",
            "--model.net.init_args.where_hidden=8",
            "--model.net.init_args.hidden=8",
            "--model.net.init_args.glimpses=2",
            "--trainer.max_steps=2",
            "--trainer.limit_val_batches=1",
            "--trainer.log_every_n_steps=1",
            "--model.objective.init_args.grad_variance_every=1",
            "--trainer.enable_progress_bar=false",
            f"--trainer.default_root_dir={tmp_path / 'run'}",
        ]
    )
    logged = read_metrics(run_folders(tmp_path / "wandb")[-1])
    keys = set().union(*logged)
    assert {"train/ess", "train/grad_variance", "train/bound", "train/loss", "val/acc_glimpse_2"} <= keys
    # WS-RAM+q's training rollouts come from q, which sees the label: logged under their own name
    assert ("train/acc_q" in keys) == config.startswith("wsram") != ("train/acc" in keys)
    ess = values(logged, "train/ess")
    samples = cli.trainer.logger.experiment.config["model"]["net"]["init_args"]["samples"]  # W&B's run config
    assert all(1 <= e <= samples + 1e-4 for e in ess)
    if config.startswith("var"):
        assert ess == [pytest.approx(samples)] * len(ess)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()


# ----------------------------------------------------------------------------- exploration (sec. 4.5)


def test_the_entropy_bonus_reaches_the_attention_policy_p_not_q():
    torch.manual_seed(0)
    model = tiny_wsram().train()
    images, labels = torch.rand(4, 1, 24, 24), torch.randint(0, 10, (4,))
    model(images, labels).entropy.sum().backward()
    assert model.prior.log_std.bias.grad is not None and model.prior.log_std.bias.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.inference.parameters())


def test_tempered_rollouts_weight_by_the_tempered_density_and_fit_the_untempered_q():
    images, labels = torch.rand(4, 1, 24, 24), torch.randint(0, 10, (4,))
    torch.manual_seed(0)
    model = tiny_wsram(temperature=1.0).train()
    untempered = model(images, labels)
    torch.testing.assert_close(untempered.log_proposal_actions, untempered.log_q_actions.detach())
    model.temperature = 3.0
    tempered = model(images, labels)
    # the weights divide by the density sampled (q tempered: wider, so lower at typical draws)...
    assert not tempered.log_proposal_actions.requires_grad
    assert (tempered.log_proposal_actions != tempered.log_q_actions.detach()).all()
    # ...and the wake-q step fits q itself: its untempered density carries the gradient
    tempered.log_q_actions.sum().backward()
    assert model.inference.policy.mean.weight.grad is not None and model.prior.mean.weight.grad is None


def _phi(z: float) -> float:  # the standard normal CDF, by hand
    return 0.5 * (1 + math.erf(z / math.sqrt(2)))


def _h(*probs: float) -> float:
    return -sum(p * math.log(p) for p in probs if p > 0)


def test_coverage_is_the_entropy_of_the_batch_marginal_on_the_grid_by_hand():
    # one state: the marginal is the policy itself, a product of x, y and zoom: the entropies add.
    # cells = 2 cuts [-1, 1] at 0; mu_x = 0.5, sigma_x = 0.5: P(left) = Phi(-1); mu_y = 0: 1/2 each
    mean = torch.tensor([[[0.5, 0.0]]], dtype=torch.float64, requires_grad=True)  # [T=1, N=1, 2]
    std = torch.tensor([[[0.5, 1.0]]], dtype=torch.float64)
    zoom_logits = torch.tensor([[[0.0, math.log(3.0)]]], dtype=torch.float64)  # zooms 1/4, 3/4
    coverage = losses.coverage_entropy(mean, std, zoom_logits, cells=2)
    left = _phi(-1.0)
    assert coverage.item() == pytest.approx(_h(left, 1 - left) + math.log(2) + _h(0.25, 0.75), rel=1e-12)
    # d/dmu_x of -(p log p + (1-p) log(1-p)), p = Phi(-mu_x / sigma_x): (log p - log(1-p)) phi(1) / sigma_x
    coverage.sum().backward()
    phi = math.exp(-0.5) / math.sqrt(2 * math.pi)
    assert mean.grad[0, 0, 0].item() == pytest.approx((math.log(left) - math.log(1 - left)) * phi / 0.5, rel=1e-9)
    assert mean.grad[0, 0, 1].item() == pytest.approx(0.0, abs=1e-12)  # y at the cut: a maximum


def test_coverage_rewards_reading_canvases_at_different_places_where_entropy_cannot():
    # two canvases, each read with certainty (tiny std) at one cell of a 4 x 4 grid
    std = torch.full((1, 2, 2), 1e-3, dtype=torch.float64)
    apart = torch.tensor([[[-0.75, -0.75], [0.75, 0.25]]], dtype=torch.float64)  # two different cells
    together = torch.tensor([[[-0.75, -0.75], [-0.6, -0.9]]], dtype=torch.float64)  # the same cell
    assert losses.coverage_entropy(apart, std, None, cells=4).item() == pytest.approx(math.log(2), abs=1e-12)
    assert losses.coverage_entropy(together, std, None, cells=4).item() == pytest.approx(0.0, abs=1e-12)
    # off the canvas is read at the border: the outer cells reach to infinity
    beyond = torch.tensor([[[5.0, 5.0], [0.9, 0.9]]], dtype=torch.float64)
    assert losses.coverage_entropy(beyond, std, None, cells=4).item() == pytest.approx(0.0, abs=1e-12)
    # an even spread over every cell and zoom is the maximum, log(cells^2 K)
    wide = losses.coverage_entropy(torch.zeros(1, 1, 2), torch.full((1, 1, 2), 1e3), torch.zeros(1, 1, 3), cells=2)
    assert wide.item() == pytest.approx(math.log(4 * 3), abs=1e-5)
    # a cell with no mass at all (float32 underflow) leaves the gradient finite
    far = torch.tensor([[[-0.99, -0.99]]], requires_grad=True)
    losses.coverage_entropy(far, torch.full((1, 1, 2), 0.02), None, cells=8).sum().backward()
    assert torch.isfinite(far.grad).all()


def test_coverage_bonus_is_subtracted_from_the_loss_and_trains_the_prior_p_not_q():
    torch.manual_seed(0)
    model = tiny_wsram().train()
    images, labels = torch.rand(4, 1, 24, 24), torch.randint(0, 10, (4,))
    trace = model(images, labels)
    assert trace.loc_mean.shape == trace.loc_std.shape == (2, 3 * 4, 2) and trace.zoom_logits.shape == (2, 12, 2)
    plain = AttentionClassifier(model, WakeSleep(grad_variance_every=0)).objective(trace, labels)
    covered = AttentionClassifier(
        model, WakeSleep(grad_variance_every=0, coverage_bonus=0.5, coverage_cells=3)
    ).objective(trace, labels)
    assert "coverage" not in plain  # off by default: nothing computed, nothing logged
    expected = losses.coverage_entropy(trace.loc_mean, trace.loc_std, trace.zoom_logits, 3).sum()
    torch.testing.assert_close(covered["coverage"], expected)
    torch.testing.assert_close(covered["loss"], plain["loss"] - 0.5 * expected)
    covered["coverage"].backward()
    for layer in (model.prior.mean, model.prior.log_std, model.prior.zoom):
        assert layer.weight.grad is not None and layer.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in model.inference.parameters())
    assert model.classifier[0].weight.grad is None  # the classifier does not move where p looks


@pytest.mark.parametrize("objective", [WakeSleep, Variational])
@pytest.mark.parametrize(
    "options, message",
    [
        (dict(coverage_bonus=-0.1), "{}.coverage_bonus must be a finite number >= 0 (0: off), got -0.1"),
        (dict(coverage_bonus=float("inf")), "{}.coverage_bonus must be a finite number >= 0 (0: off), got inf"),
        (dict(coverage_cells=1), "{}.coverage_cells must be an int >= 2, got 1"),
        (dict(coverage_cells=2.5), "{}.coverage_cells must be an int >= 2, got 2.5"),
    ],
)
def test_bad_coverage_options_are_refused_in_one_line(objective, options, message):
    with pytest.raises(ValueError) as error:
        objective(**options)
    assert str(error.value) == message.format(objective.__name__)


def test_mean_policy_takes_the_priors_most_probable_action_in_one_rollout():
    torch.manual_seed(0)
    model = tiny_wsram(zooms=[1, 2, 4], canvas_size=32)
    images, labels = torch.rand(3, 1, 32, 32), torch.randint(0, 10, (3,))
    for mode in (model.eval(), model.train()):  # in training too: no q, no sampling
        trace = mode(images, labels, mean_policy=True)
        assert trace.sample_logits.shape == (2, 1, 3, 10) and trace.log_q_actions is None
        assert trace.log_proposal_actions is None
        zoom = torch.tensor([1.0, 2.0, 4.0])[trace.zoom_logits.argmax(-1)]  # [T, B]
        torch.testing.assert_close(trace.size, 4 * zoom)
        torch.testing.assert_close(trace.center, loc_to_pixels(trace.loc_mean.clamp(-1, 1), 32, 32))
        again = mode(images, labels, mean_policy=True)
        torch.testing.assert_close(again.logits, trace.logits, rtol=0, atol=0)


def test_objectives_that_do_not_fit_the_net_are_refused_at_start_up():
    from lit_draw.models import DRAWClassifier
    from lit_draw.objectives import CrossEntropy, Reinforce

    draw = DRAWClassifier(canvas_size=16, read_n=3, glimpses=2, enc_size=8, z_size=4, dec_size=8, hidden=8)
    refused = "Reinforce trains nets whose trace is 'policy'.*use model.objective lit_draw.objectives.CrossEntropy"
    with pytest.raises(ValueError, match=refused):
        AttentionClassifier(draw, Reinforce())
    with pytest.raises(ValueError, match="CrossEntropy .*objectives.WakeSleep or lit_draw.objectives.Variational"):
        AttentionClassifier(tiny_wsram(), CrossEntropy())
    with pytest.raises(ValueError, match="Variational draws its rollouts from the prior"):
        AttentionClassifier(tiny_wsram(inference_network=True), Variational())
    AttentionClassifier(tiny_wsram(inference_network=False), Variational())


def test_a_weighting_other_than_last_logs_no_bound():
    torch.manual_seed(0)
    images, labels = torch.rand(4, 1, 24, 24), torch.randint(0, 10, (4,))
    for weighting, key in (("last", "bound"), ([0.0, 1.0], "bound"), ("all", "weighted_objective")):
        module = AttentionClassifier(tiny_wsram(), WakeSleep(weighting=weighting, grad_variance_every=0)).train()
        terms = module.objective(module(images, labels), labels)
        assert key in terms and ({"bound", "weighted_objective"} - {key}).isdisjoint(terms)


@pytest.mark.slow
def test_a_gradient_variance_period_lightning_would_never_log_is_refused(mnist_root, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    with pytest.raises(
        ValueError, match=r"grad_variance_every \(30\) must be a multiple of trainer.log_every_n_steps \(50\)"
    ):
        main(
            [
                "fit",
                "--config",
                str(CONFIGS / "wsram_translated_scaled.yaml"),
                f"--data.root={mnist_root}",
                "--data.canvas_size=48",
                "--data.train_size=16",
                "--data.val_size=16",
                "--data.batch_size=8",
                "--model.net.init_args.glimpses=1",
                "--model.objective.init_args.grad_variance_every=30",
                "--trainer.max_steps=1",
                "--trainer.log_every_n_steps=50",
                "--trainer.enable_progress_bar=false",
            ]
        )
