"""Training objectives: per-glimpse loss weightings (and, beside them, the estimators for
stochastic attention).

The All-Step / Last-Step study scores either only the final glimpse (``last``) or the mean over
glimpses (``all``). Any per-glimpse weighting ``w_t >= 0`` with ``sum_t w_t = 1`` generalises both:
``loss = sum_t w_t * CE(logits_t, y)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F
from torch import Tensor

from lit_draw.validation import one_of

#: the named per-glimpse weightings (see :func:`glimpse_weights`)
Weighting = Literal["last", "all", "linear", "exponential"]
WEIGHTINGS: tuple[str, ...] = get_args(Weighting)


def glimpse_weights(weighting: str | Sequence[float], num_glimpses: int, gamma: float = 0.9) -> Tensor:
    """Per-glimpse loss weights ``w_t``, normalised to sum to 1.

    Args:
        weighting: ``"last"`` (Last-Step: only ``t = T``), ``"all"`` (All-Step: uniform),
            ``"linear"`` (``w_t`` proportional to ``t``), ``"exponential"`` (``w_t`` proportional to
            ``gamma ** (T - t)``), or an explicit list of ``T`` non-negative weights.
        num_glimpses: ``T``.
        gamma: decay of the exponential weighting, in ``(0, 1]``.

    Returns:
        ``[T]`` float tensor.

    Raises:
        ValueError: naming the field and what it allows.
    """
    t = torch.arange(1, num_glimpses + 1, dtype=torch.float64)
    if isinstance(weighting, str):
        if weighting == "last":
            w = (t == num_glimpses).double()
        elif weighting == "all":
            w = torch.ones_like(t)
        elif weighting == "linear":
            w = t
        elif weighting == "exponential":
            if not 0 < gamma <= 1:
                raise ValueError(f"gamma must be in (0, 1] for the exponential weighting, got {gamma}")
            w = gamma ** (num_glimpses - t)
        else:
            raise ValueError(
                f"weighting must be {one_of(WEIGHTINGS)} or a list of {num_glimpses} "
                f"non-negative weights (one per glimpse), got {weighting!r}"
            )
    else:
        w = torch.tensor([float(v) for v in weighting], dtype=torch.float64)
        if w.numel() != num_glimpses:
            raise ValueError(
                f"weighting as a list needs one weight per glimpse: {num_glimpses} values, got {w.numel()}"
            )
        if not torch.isfinite(w).all():
            raise ValueError(f"weighting values must be finite, got {list(weighting)}")
        if (w < 0).any():
            raise ValueError(f"weighting values must be non-negative, got {list(weighting)}")
        if w.sum() == 0:
            raise ValueError(f"weighting values must not all be zero, got {list(weighting)}")
    return (w / w.sum()).float()


def per_glimpse_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy at every glimpse.

    Args:
        logits: ``[T, B, C]``.
        labels: ``[B]`` class indices.

    Returns:
        ``[T]`` mean cross-entropy over the batch at each glimpse.
    """
    steps, batch, classes = logits.shape
    ce = F.cross_entropy(logits.reshape(steps * batch, classes).float(), labels.repeat(steps), reduction="none")
    return ce.view(steps, batch).mean(1)


def weighted_cross_entropy(logits: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """``sum_t w_t * CE(logits_t, y)``: ``logits [T, B, C]``, ``labels [B]``, ``weights [T]`` -> scalar."""
    return (weights.to(logits.device) * per_glimpse_cross_entropy(logits, labels)).sum()


def reconstruction_loss(canvas_logits: Tensor, images: Tensor) -> Tensor:
    """Binary cross-entropy of the reconstructed canvas, summed over pixels, mean over the batch:
    jlindsey15/DRAM's pre-training loss, ``-sum_p [x_p log s_p + (1 - x_p) log(1 - s_p)]`` with
    ``s = sigmoid(canvas_logits)`` (the DRAW paper's reconstruction term, Gregor et al. 2015, eq. 9,
    for a Bernoulli ``D(X | c_T)``).

    Args:
        canvas_logits: ``[B, H, W]``.
        images: ``[B, 1, H, W]`` or ``[B, H, W]`` target canvases in ``[0, 1]``.

    Returns:
        Scalar, nats per canvas.
    """
    target = images.reshape(canvas_logits.shape).to(canvas_logits.dtype)
    bce = F.binary_cross_entropy_with_logits(canvas_logits.float(), target.float(), reduction="none")
    return bce.flatten(1).sum(1).mean()


#: RAM's rewards (see :func:`classification_reward`)
Reward = Literal["final", "weighted"]
REWARDS: tuple[str, ...] = get_args(Reward)


def classification_reward(logits: Tensor, labels: Tensor, weights: Tensor | None = None) -> Tensor:
    """RAM's reward: 1 for a right prediction (Mnih et al. 2014, sec. 4).

    Args:
        logits: ``[T, B, C]``.
        labels: ``[B]``.
        weights: ``None`` for the paper's reward (the final prediction only), or ``[T]`` per-glimpse
            weights ``w_t``: every glimpse is rewarded ``w_t * 1[right at t]`` and the location
            drawn for glimpse ``t`` earns what follows it, ``R_t = sum_{s >= t} w_s * 1[right at s]``.

    Returns:
        ``[B]`` (``weights`` ``None``) or ``[T, B]`` float rewards, without gradient.
    """
    right = (logits.detach().argmax(-1) == labels).float()  # [T, B]
    if weights is None:
        return right[-1]
    per_glimpse = weights.to(right.device)[:, None] * right  # [T, B]
    return per_glimpse.flip(0).cumsum(0).flip(0)  # [T, B] reward-to-go


def reinforce_loss(log_pi: Tensor, reward: Tensor, baseline: Tensor | None = None) -> dict[str, Tensor]:
    """REINFORCE with a learned baseline (Williams 1992; Mnih et al. 2014, eq. 2 and sec. 4).

    ``reinforce_loss = -mean_b sum_t log pi(l_t) * (R_t - b_t)`` with the advantage detached, so its
    gradient is the score-function estimate of ``-grad E[R]``; ``baseline_mse = mean (b_t - R_t)^2``
    trains ``b_t`` towards the expected reward.

    Args:
        log_pi: ``[T, B]`` log-density of the sampled locations.
        reward: ``[B]`` (the same return for every step) or ``[T, B]``.
        baseline: ``[T, B]`` ``b_t``, or ``None`` for plain REINFORCE.

    Returns:
        ``{"reinforce_loss", "baseline_mse" (with a baseline), "advantage_std", "reward"}`` scalars;
        ``reward`` is the mean return of the first step.
    """
    reward = reward.detach().expand_as(log_pi)  # [T, B]
    advantage = reward if baseline is None else reward - baseline.detach()  # [T, B]
    terms = {
        "reinforce_loss": -(log_pi * advantage).sum(0).mean(),
        "advantage_std": advantage.std() if advantage.numel() > 1 else advantage.new_zeros(()),
        "reward": reward[0].mean(),
    }
    if baseline is not None:
        terms["baseline_mse"] = F.mse_loss(baseline, reward)
    return terms


# Wake-sleep estimators for rollouts weighted across M samples (Ba, Grosse, Salakhutdinov, Frey
# 2015). Rollout m of canvas b has ``ll [M, B] = log p(y | a_m, I)``, ``log_p [M, B] = log p(a_m | I)``,
# ``log_r [M, B]`` the log-density of the proposal r the rollouts were actually drawn from (q, p, or
# a tempered copy of either) and, with an inference network, ``log_q [M, B] = log q(a_m | y, I)``
# untempered. The surrogates are per rollout ``[M, B]``; the loss is their sum over M, mean over B,
# and its gradient is minus the paper's estimator (weights and learning signals are detached).


@dataclass
class RolloutSurrogate:
    """Per-rollout surrogate losses of one estimator and what to log about them.

    Attributes:
        prediction: ``[M, B]`` surrogate for the prediction network (``log p(y|a)`` and ``log p(a)``).
        inference: ``[M, B]`` surrogate for the inference network (``log q(a)``), or ``None``.
        bound: ``[B]`` the estimate of the log-likelihood bound being maximised (with the ``last``
            weighting; another weighting makes it a weighted objective, not a bound).
        ess: ``[B]`` effective sample size ``1 / sum_m w_m^2``, in ``[1, M]``.
    """

    prediction: Tensor
    inference: Tensor | None
    bound: Tensor
    ess: Tensor

    def per_rollout(self) -> Tensor:
        """``[M]``: each rollout's share of the loss (summed over the inference part, mean over B)."""
        total = self.prediction if self.inference is None else self.prediction + self.inference
        return total.mean(1)

    def loss(self) -> Tensor:
        return self.per_rollout().sum()


def rollout_log_likelihood(sample_logits: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """``log p(y | a_m, I) = sum_t w_t log softmax(logits_t)[y]`` for every rollout.

    With the ``last`` weighting this is the paper's likelihood (the prediction after the last
    glimpse); other weightings score the intermediate predictions too.

    Args:
        sample_logits: ``[T, M, B, C]``.
        labels: ``[B]``.
        weights: ``[T]`` glimpse weights (see :func:`glimpse_weights`).

    Returns:
        ``[M, B]``.
    """
    steps, runs, batch, _ = sample_logits.shape
    index = labels.view(1, 1, batch, 1).expand(steps, runs, batch, 1)
    log_py = sample_logits.float().log_softmax(-1).gather(-1, index)[..., 0]  # [T, M, B]
    return (weights.to(log_py)[:, None, None] * log_py).sum(0)


def importance_log_weights(log_likelihood: Tensor, log_p: Tensor, log_r: Tensor) -> Tensor:
    """``log w~_m = log p(a_m|I) + log p(y|a_m,I) - log r(a_m)`` (eq. 7), detached, ``[M, B]``.

    ``r`` is the density the rollouts were drawn from: ``q(a|y,I)`` in the paper's eq. 7, or its
    tempered copy when the proposal is tempered (sec. 4.5), so the weights stay exact.
    """
    return (log_p + log_likelihood - log_r).detach()


def normalized_weights(log_w: Tensor) -> Tensor:
    """``w_m = w~_m / sum_k w~_k`` from log-weights ``[M, B]``, computed as a softmax over M."""
    return log_w.softmax(0)


def effective_sample_size(weights: Tensor) -> Tensor:
    """``1 / sum_m w_m^2`` for normalised weights ``[M, B]``: ``[B]`` in ``[1, M]``."""
    return 1 / (weights**2).sum(0)


def density_ratio_control_variate(log_target: Tensor, log_r: Tensor) -> Tensor:
    """``c_m = (s(a_m) / r(a_m)) / M``, ``[M, B]``, detached: the weight of a zero-mean control variate.

    For any density ``s`` and ``a_m ~ r``, ``E_r[sum_m c_m grad log s(a_m)] = E_r[(s/r) grad log s]
    = E_s[grad log s] = sum_a grad s(a) = grad 1 = 0`` (the paper's eq. 15), *exactly*, for every
    ``M``: ``c_m`` depends on rollout ``m`` alone. (A ratio normalised over the ``M`` rollouts,
    ``(s_m/r_m) / sum_k (s_k/r_k)``, is not: its expectation moves the gradient for finite ``M``.)
    With ``r = s`` it is ``1/M``.
    """
    runs = log_target.shape[0]
    return ((log_target - log_r).detach().exp() / runs).to(log_target.dtype)


def wake_sleep_surrogate(
    log_likelihood: Tensor,
    log_p: Tensor,
    log_r: Tensor,
    log_q: Tensor | None = None,
    control_variates: bool = True,
) -> RolloutSurrogate:
    """Reweighted wake-sleep for attention (WS-RAM, the paper's eqs. 7-8, 14 and 15-17).

    Rollouts ``a_m`` are drawn from ``r`` (``q``, ``p``, or a tempered copy of either), weighted by
    ``w_m ∝ p(a_m|I) p(y|a_m,I) / r(a_m)`` (eq. 7, normalised over m).

    * Prediction network (eq. 8): ``sum_m w_m grad log p(y|a_m,I) + (w_m - c^p_m) grad log p(a_m|I)``,
      the self-normalised importance-sampling estimate of ``grad log p(y|I)``.
    * Inference network (eq. 14): ``sum_m (w_m - c^q_m) grad log q(a_m|y,I)``, the estimate of
      ``-grad KL(p(a|y,I) || q(a|y,I))``; ``q`` enters *untempered*: the wake-q step fits q itself
      to the posterior, whatever temperature the rollouts were drawn at.

    Control variates (eqs. 15-17): ``c^p_m = (p(a_m|I) / r(a_m)) / M`` and
    ``c^q_m = (q(a_m|y,I) / r(a_m)) / M`` (:func:`density_ratio_control_variate`; with ``r = q``,
    ``c^q_m = 1/M``; with ``r = p``, ``c^p_m = 1/M``). Read as reward baselines (eq. 18), ``w_m``
    is ``(p_m/r_m) / M`` times ``p(y|a_m,I) / p^(y|I)`` and the control variate is the same with
    that likelihood ratio replaced by its expectation, 1. Each has expectation exactly zero under
    ``r``, so the estimator's expectation is that of the plain importance-sampled one for every
    ``M``: the control variates add no bias (the paper's claim, sec. 4.4) and only change the
    variance (tested by enumeration in ``tests/test_estimators.py``).

    Args:
        log_likelihood: ``[M, B]`` ``log p(y|a_m,I)`` (carries the prediction network's gradient).
        log_p: ``[M, B]`` ``log p(a_m|I)`` (the prediction network's).
        log_r: ``[M, B]`` the log-density the rollouts were drawn from (detached here).
        log_q: ``[M, B]`` untempered ``log q(a_m|y,I)`` with the inference network's gradient, or
            ``None`` when there is no inference network.
        control_variates: subtract the control variates above.

    Returns:
        The surrogates (``inference`` is ``None`` without ``log_q``);
        ``bound = log (1/M sum_m w~_m)``, the importance-weighted lower bound on ``log p(y|I)``
        (in expectation, eq. 9).
    """
    runs = log_p.shape[0]
    log_r = log_r.detach()
    log_w = importance_log_weights(log_likelihood, log_p, log_r)  # [M, B]
    w = normalized_weights(log_w)  # [M, B]
    score_p = w - density_ratio_control_variate(log_p, log_r) if control_variates else w
    inference = None
    if log_q is not None:
        score_q = w - density_ratio_control_variate(log_q, log_r) if control_variates else w
        inference = -(score_q * log_q)
    return RolloutSurrogate(
        prediction=-(w * log_likelihood + score_p * log_p),
        inference=inference,
        bound=torch.logsumexp(log_w, 0) - math.log(runs),
        ess=effective_sample_size(w),
    )


def variational_surrogate(log_likelihood: Tensor, log_p: Tensor, control_variates: bool = True) -> RolloutSurrogate:
    """The variational (VAR) estimator, the paper's eqs. 3-5: rollouts from ``p``, weighted equally.

    Maximises ``F = E_p(a|I)[log p(y|a,I)] <= log p(y|I)`` with
    ``1/M sum_m [grad log p(y|a_m,I) + (log p(y|a_m,I) - b_m) grad log p(a_m|I)]``. Its control
    variate ``b_m`` is the mean log-likelihood of the *other* ``M - 1`` rollouts of the same
    canvas (leave-one-out: independent of rollout m, so ``E[b_m grad log p(a_m)] = 0`` exactly;
    0 when ``M = 1``). The paper's VAR baseline (Ba, Mnih, Kavukcuoglu 2015) learns ``b`` instead;
    the leave-one-out mean needs no extra network and is unbiased for every ``M``.

    Args:
        log_likelihood: ``[M, B]`` ``log p(y|a_m,I)``.
        log_p: ``[M, B]`` ``log p(a_m|I)``, rollouts drawn from ``p``.
        control_variates: subtract the leave-one-out baseline.

    Returns:
        The surrogates (no inference part); ``bound = F`` estimated as the mean over rollouts,
        ``ess = M``.
    """
    runs = log_p.shape[0]
    signal = log_likelihood.detach()  # [M, B]
    if control_variates and runs > 1:
        signal = signal - (signal.sum(0, keepdim=True) - signal) / (runs - 1)
    return RolloutSurrogate(
        prediction=-(log_likelihood + signal * log_p) / runs,
        inference=None,
        bound=log_likelihood.detach().mean(0),
        ess=torch.full_like(signal[0], float(runs)),
    )


def coverage_entropy(loc_mean: Tensor, loc_std: Tensor, zoom_logits: Tensor | None, cells: int) -> Tensor:
    """Entropy of where the attention policy looks *across* canvases: the exploration regulariser
    "encouraging viewing all image locations" of Ba et al. 2015, sec. 4.5 (their heuristic (2)).

    The paper names the heuristic and gives no formula. Our reading: the policy's *marginal* over the
    batch, ``pbar_t(c, k) = 1/N sum_n pi_t(c, k | h_n)``, should spread over the whole canvas, so the
    regulariser is its entropy ``H[pbar_t]``; maximal (``log(cells^2 K)``) when the glimpses of the
    batch fall evenly on every cell and zoom, 0 when every canvas is read at one cell and zoom. It is
    not the entropy bonus (heuristic (3)), ``1/N sum_n H[pi_t(. | h_n)]``: a policy that reads every
    canvas at a *different* but certain place has maximal coverage and zero entropy bonus.

    The canvas ``[-1, 1]^2`` is cut into ``cells x cells`` equal squares; a location off the canvas is
    read at its border (the retina clamps it), so the outer cells reach to infinity. With
    ``pi(l | h) = N(mu, diag sigma^2)`` a cell's mass is exact and differentiable,
    ``(Phi((b_x - mu_x)/sigma_x) - Phi((a_x - mu_x)/sigma_x)) (Phi((b_y - mu_y)/sigma_y) - ...)``,
    times the zoom's probability ``softmax(s)_k`` (the policy draws the two independently).

    Args:
        loc_mean: ``[T, N, 2]`` location means ``mu`` in ``[-1, 1]`` units, at ``N`` policy states.
        loc_std: ``[T, N, 2]`` location standard deviations ``sigma``.
        zoom_logits: ``[T, N, K]`` zoom logits, or ``None`` for a location-only policy.
        cells: grid cells per side, ``>= 2``.

    Returns:
        ``[T]`` ``H[pbar_t]`` in nats, with its gradient to ``mu``, ``sigma`` and the zoom logits.
    """
    inner = torch.linspace(-1, 1, cells + 1, dtype=loc_mean.dtype, device=loc_mean.device)[1:-1]  # [cells - 1]
    cdf = torch.special.ndtr((inner - loc_mean[..., None]) / loc_std[..., None])  # [T, N, 2, cells - 1]
    cdf = F.pad(F.pad(cdf, (1, 0), value=0.0), (0, 1), value=1.0)  # [T, N, 2, cells + 1]
    mass = cdf.diff(dim=-1)  # [T, N, 2, cells] per axis
    joint = (mass[..., 1, :, None] * mass[..., 0, None, :]).flatten(-2)  # [T, N, cells^2] (y, x)
    if zoom_logits is not None:
        joint = (joint[..., :, None] * zoom_logits.softmax(-1)[..., None, :]).flatten(-2)  # [T, N, cells^2 K]
    marginal = joint.mean(1)  # [T, cells^2 K]
    # a cell with no mass contributes 0; the clamp keeps its gradient finite (log 0 would give 0 * inf)
    return -(marginal * marginal.clamp_min(torch.finfo(marginal.dtype).tiny).log()).sum(-1)


def rollout_gradient_variance(per_rollout: Tensor, params: list[Tensor]) -> Tensor:
    """Spread of the M single-rollout gradient estimates, ``train/grad_variance``.

    ``g_m = M * grad(per_rollout[m])`` is the estimate the rollout ``m`` alone contributes (their mean
    is the gradient the optimiser gets). Returns ``1/P sum_p Var_m[g_m,p]``: the unbiased variance
    over rollouts, averaged over the ``P`` entries of ``params``. One batched backward pass
    (``M`` vector-Jacobian products); the graph is kept for the training backward.

    Args:
        per_rollout: ``[M]`` loss shares (:meth:`RolloutSurrogate.per_rollout`), ``M >= 2``.
        params: the parameter group (tensors requiring grad).

    Returns:
        A detached scalar.
    """
    runs = per_rollout.shape[0]
    grads = torch.autograd.grad(
        per_rollout,
        params,
        grad_outputs=torch.eye(runs, device=per_rollout.device) * runs,
        retain_graph=True,
        allow_unused=True,
        is_grads_batched=True,
    )
    flat = torch.cat([g.flatten(1) for g in grads if g is not None], 1)  # [M, P]
    return flat.var(0).mean().detach()


# Learned halting (the halting head of lit_draw.models.halting): where a canvas stops, PonderNet's
# objective for a differentiable model (DRAW) and DT-RAM's stop action for a policy (RAM). ``lambdas``
# ``[T, B]`` are the head's halting probabilities after each glimpse.


def halting_distribution(lambdas: Tensor) -> Tensor:
    """Where a canvas stops: ``p_t = lambda_t prod_{s<t} (1 - lambda_s)`` for ``t < T`` and
    ``p_T = prod_{s<T} (1 - lambda_s)``, the remaining mass (Banino et al. 2021, PonderNet, sec. 2.1).

    Each column sums to 1 whatever ``lambda_T`` is, and ``lambda`` of exactly 0 or 1 is fine (no
    ``log``, no division).

    Args:
        lambdas: ``[T, B]`` halting probabilities in ``[0, 1]``.

    Returns:
        ``[T, B]``.
    """
    survive = torch.cumprod(1 - lambdas, 0)  # [T, B] prod_{s<=t} (1 - lambda_s)
    before = torch.cat([torch.ones_like(survive[:1]), survive[:-1]])  # [T, B] prod_{s<t}
    return torch.cat([lambdas[:-1] * before[:-1], before[-1:]])


def truncated_geometric(prior_halt: float, num_glimpses: int) -> Tensor:
    """PonderNet's prior ``p_G(lambda_p)`` truncated at ``T``: ``q_t = lambda_p (1 - lambda_p)^(t-1)``
    for ``t < T``, the remaining mass ``(1 - lambda_p)^(T-1)`` at ``T``. ``[T]`` float64."""
    return halting_distribution(torch.full((num_glimpses, 1), float(prior_halt), dtype=torch.float64))[:, 0]


def ponder_loss(logits: Tensor, labels: Tensor, lambdas: Tensor, prior_halt: float, beta: float) -> dict[str, Tensor]:
    """PonderNet's objective (Banino et al. 2021, sec. 2.2), batch mean:
    ``L = sum_t p_t CE(logits_t, y) + beta KL(p || p_G(prior_halt))``, ``p`` the
    :func:`halting_distribution` of ``lambdas``.

    The first term is a learned per-canvas glimpse weighting: ``p = (0, ..., 0, 1)`` is Last-Step,
    ``p_t = 1/T`` All-Step. ``p`` stays differentiable, so the halting head learns with the classifier.

    Args:
        logits: ``[T, B, C]``.
        labels: ``[B]``.
        lambdas: ``[T, B]`` (with the head's gradient).
        prior_halt: ``lambda_p`` in ``(0, 1)``.
        beta: weight of the KL term, ``>= 0``.

    Returns:
        ``{"loss", "expected_cross_entropy", "halting_kl", "expected_glimpses"}`` scalars (the last
        is ``sum_t t p_t``, detached).
    """
    steps, batch, classes = logits.shape
    ce = F.cross_entropy(logits.reshape(steps * batch, classes).float(), labels.repeat(steps), reduction="none")
    p = halting_distribution(lambdas.float())  # [T, B]
    q = truncated_geometric(prior_halt, steps).to(p)[:, None]  # [T, 1]
    expected_ce = (p * ce.view(steps, batch)).sum(0).mean()
    # p log p is 0 at p = 0; the clamp keeps its gradient finite there (a saturated head gives p = 0 exactly)
    kl = (p * (p.clamp_min(torch.finfo(p.dtype).tiny).log() - q.log())).sum(0).mean()
    t = torch.arange(1, steps + 1, device=p.device, dtype=p.dtype)[:, None]
    return {
        "loss": expected_ce + beta * kl,
        "expected_cross_entropy": expected_ce,
        "halting_kl": kl,
        "expected_glimpses": (t * p).sum(0).mean().detach(),
    }


def stop_log_prob(lambdas: Tensor, halt: Tensor) -> Tensor:
    """``log`` of the stop decisions taken: continue (``log(1 - lambda_t)``) before glimpse ``halt``,
    stop (``log lambda_t``) at it, 0 after. ``lambdas [T, B]``, ``halt [B]`` in ``1..T`` -> ``[T, B]``.

    Summed over ``t`` it is ``log p_halt`` of :func:`halting_distribution`; 0 and 1 in ``lambdas``
    where no decision reads them give no ``nan``, in the value or the gradient.
    """
    t = torch.arange(1, lambdas.shape[0] + 1, device=lambdas.device)[:, None]  # [T, 1]
    go_on, stop = t < halt, t == halt  # [T, B]
    return torch.log1p(-torch.where(go_on, lambdas, 0)) + torch.log(torch.where(stop, lambdas, 1))


def halting_reinforce_loss(
    log_pi: Tensor, lambdas: Tensor, halt: Tensor, right: Tensor, baseline: Tensor, step_cost: float
) -> dict[str, Tensor]:
    """DT-RAM's stop action trained with REINFORCE beside the location policy (Li et al. 2017, sec. 3;
    Mnih et al. 2014, eq. 2, with the same learned baseline ``b_t``).

    A canvas stops after glimpse ``tau = halt`` and earns ``R = 1[right at tau] - step_cost * tau``.
    The actions that shaped ``R`` are the locations ``l_1..l_tau`` and the stop decisions
    ``1..tau``; those after the stop did not, and are left out (they would add only variance)::

        reinforce_loss = -mean_b sum_{t <= tau} (log pi(l_t) + log p(stop decision_t)) (R - b_t)
        baseline_mse   = mean over t <= tau of (b_t - R)^2

    Its gradient is the score-function estimate of ``-grad E[R]`` (checked by enumeration in
    ``tests/test_halting.py``).

    Args:
        log_pi: ``[T, B]`` log-density of the sampled locations.
        lambdas: ``[T, B]`` halting probabilities (with the head's gradient).
        halt: ``[B]`` the sampled stop, glimpses used in ``1..T``.
        right: ``[T, B]`` 1 where the prediction after glimpse ``t`` is right (no gradient).
        baseline: ``[T, B]`` ``b_t``.
        step_cost: the price of a glimpse, ``>= 0``.

    Returns:
        ``{"reinforce_loss", "baseline_mse", "advantage_std", "reward", "glimpses"}`` scalars
        (``reward``: mean ``R``; ``glimpses``: mean ``tau``).
    """
    steps = log_pi.shape[0]
    used = torch.arange(1, steps + 1, device=halt.device)[:, None] <= halt  # [T, B] decisions that shaped R
    reward = right.detach().to(baseline.dtype).gather(0, (halt - 1)[None])[0] - step_cost * halt  # [B]
    advantage = (reward - baseline.detach()) * used  # [T, B]
    score = (log_pi + stop_log_prob(lambdas, halt)) * used  # [T, B]
    count = used.sum()
    mean_advantage = advantage.sum() / count
    return {
        "reinforce_loss": -(score * advantage).sum(0).mean(),
        "baseline_mse": (((baseline - reward) * used) ** 2).sum() / count,
        "advantage_std": (((advantage - mean_advantage) * used) ** 2).sum().div(count).sqrt(),
        "reward": reward.mean(),
        "glimpses": halt.float().mean(),
    }
