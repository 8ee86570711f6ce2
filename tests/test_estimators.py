"""The WS-RAM and VAR estimators against exact enumeration (Ba et al. 2015, eqs. 5, 8, 14-17).

A toy with three discrete actions: the prior ``p(a) = softmax(theta_p)``, the likelihood
``p(y|a) = softmax(theta_y[a])[y]``, the inference network ``q(a) = softmax(eta)``. Every
``M``-tuple of actions is enumerated with its probability under the proposal ``r``, so the
expected gradient and its variance are exact sums, not Monte-Carlo estimates.
"""

import itertools

import pytest
import torch

from lit_draw import losses

ACTIONS = 3


def toy(seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "theta_p": torch.randn(ACTIONS, generator=gen, dtype=torch.float64).requires_grad_(),
        "theta_y": torch.randn(ACTIONS, 2, generator=gen, dtype=torch.float64).requires_grad_(),
        "eta": torch.randn(ACTIONS, generator=gen, dtype=torch.float64).requires_grad_(),
    }


def enumerate_estimator(params, runs: int, proposal: str, control_variates: bool, estimator: str = "wake_sleep"):
    """Every ``M``-tuple's gradient ``g_b`` and probability ``P_b``: ``(E[g], E||g - E g||^2)`` per network."""
    tuples = torch.tensor(list(itertools.product(range(ACTIONS), repeat=runs))).T  # [M, B]
    log_p_table = params["theta_p"].log_softmax(0)
    log_q_table = params["eta"].log_softmax(0)
    log_r_table = {
        "p": log_p_table,
        "q": log_q_table,
        "tempered_q": (params["eta"] / 2.0).log_softmax(0),  # q at temperature 2
    }[proposal].detach()
    log_p, log_r = log_p_table[tuples], log_r_table[tuples]  # [M, B]
    log_likelihood = params["theta_y"].log_softmax(1)[:, 0][tuples]  # [M, B], label y = 0
    prob = log_r.sum(0).exp()  # [B] probability of the tuple under r
    if estimator == "variational":
        surrogate = losses.variational_surrogate(log_likelihood, log_p, control_variates)
    else:
        log_q = log_q_table[tuples] if proposal != "p" else None
        surrogate = losses.wake_sleep_surrogate(log_likelihood, log_p, log_r, log_q, control_variates)
    total = surrogate.prediction if surrogate.inference is None else surrogate.prediction + surrogate.inference
    per_tuple = total.sum(0)  # [B]
    names = ["theta_p", "theta_y", "eta"]
    grads = torch.autograd.grad(
        per_tuple,
        [params[n] for n in names],
        torch.eye(per_tuple.numel(), dtype=torch.float64),
        is_grads_batched=True,
        allow_unused=True,
    )
    out = {}
    for name, g in zip(names, grads, strict=True):
        if g is None:
            continue
        g = g.flatten(1)  # [B, P]
        mean = (prob[:, None] * g).sum(0)
        out[name] = (mean, (prob * ((g - mean) ** 2).sum(1)).sum())
    return out


@pytest.mark.parametrize("runs", [1, 2, 4])
@pytest.mark.parametrize("proposal", ["q", "p", "tempered_q"])
def test_wake_sleep_control_variates_leave_the_expected_gradient_exactly_unchanged(runs, proposal):
    params = toy()
    plain = enumerate_estimator(params, runs, proposal, control_variates=False)
    with_cv = enumerate_estimator(params, runs, proposal, control_variates=True)
    assert plain.keys() == with_cv.keys()
    for name in plain:
        torch.testing.assert_close(with_cv[name][0], plain[name][0], atol=1e-9, rtol=0)


@pytest.mark.parametrize("runs", [2, 4])
@pytest.mark.parametrize("proposal", ["q", "p"])
def test_wake_sleep_control_variates_lower_the_variance_of_both_networks(runs, proposal):
    params = toy(3)  # a control variate lowers the variance when it correlates with the gradient: not for every toy
    plain = enumerate_estimator(params, runs, proposal, control_variates=False)
    with_cv = enumerate_estimator(params, runs, proposal, control_variates=True)
    for name in ("theta_p", "eta"):  # the score-function terms: the prior and the inference network
        if name in plain:
            assert with_cv[name][1] < plain[name][1], name
    torch.testing.assert_close(with_cv["theta_y"][1], plain["theta_y"][1])  # no score term: untouched


def test_at_one_sample_from_q_the_prior_still_gets_a_score_gradient():
    """The old, self-normalised control variate made ``w - v = 0`` at ``M = 1``: no signal at all."""
    params = toy()
    plain = enumerate_estimator(params, 1, "q", control_variates=True)
    _, variance = plain["theta_p"]
    assert variance > 1e-3


def test_the_importance_sampled_gradient_tends_to_the_exact_one():
    params = toy()
    exact = torch.autograd.grad(
        torch.logsumexp(params["theta_p"].log_softmax(0) + params["theta_y"].log_softmax(1)[:, 0], 0),
        params["theta_p"],
    )[0]
    errors = [
        (enumerate_estimator(params, runs, "q", control_variates=True)["theta_p"][0] + exact).abs().max()
        for runs in (1, 2, 4, 5)
    ]  # the surrogate is a loss: its gradient is minus the estimate
    assert all(later < earlier for earlier, later in itertools.pairwise(errors))
    assert errors[-1] < errors[0] / 3


@pytest.mark.parametrize("runs", [1, 2, 4])
def test_var_leave_one_out_baseline_is_unbiased_and_lowers_the_variance(runs):
    params = toy(1)
    plain = enumerate_estimator(params, runs, "p", control_variates=False, estimator="variational")
    with_cv = enumerate_estimator(params, runs, "p", control_variates=True, estimator="variational")
    for name in plain:
        torch.testing.assert_close(with_cv[name][0], plain[name][0], atol=1e-9, rtol=0)
    # E[grad F] = sum_a grad(p(a) log p(y|a)): VAR's estimate of it is exact in expectation for every M
    log_p, ll = params["theta_p"].log_softmax(0), params["theta_y"].log_softmax(1)[:, 0]
    exact = torch.autograd.grad((log_p.exp() * ll).sum(), params["theta_p"])[0]
    torch.testing.assert_close(-plain["theta_p"][0], exact, atol=1e-9, rtol=0)
    if runs > 1:
        assert with_cv["theta_p"][1] < plain["theta_p"][1]


def test_the_inference_network_fits_the_untempered_q():
    """Rollouts drawn at temperature 2: the wake-q gradient is that of ``log q`` itself (eq. 14)."""
    params = toy()
    # the exact wake-q direction: -grad KL(post || q) = sum_a post(a) grad log q(a)
    log_joint = params["theta_p"].log_softmax(0) + params["theta_y"].log_softmax(1)[:, 0]
    posterior = log_joint.softmax(0).detach()
    exact = torch.autograd.grad((posterior * params["eta"].log_softmax(0)).sum(), params["eta"])[0]
    errors = [
        (enumerate_estimator(params, runs, "tempered_q", control_variates=True)["eta"][0] + exact).abs().max()
        for runs in (1, 2, 4, 5)
    ]
    assert all(later < earlier for earlier, later in itertools.pairwise(errors))
    assert errors[-1] < errors[0] / 3
