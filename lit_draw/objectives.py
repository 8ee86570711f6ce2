"""Training objectives, one class per family, chosen in YAML by ``class_path``.

Each objective owns its hyperparameters, checks them when it is built, checks at start-up that it
fits the net (:meth:`Objective.bind`), and maps ``(trace, labels)`` to ``{"loss": scalar, ...logged
terms}``. The maths lives in :mod:`lit_draw.losses`; this file only wires it to a :class:`Trace`.

=================  ===========================================  ==========================
objective          estimator                                    fits (``net.trace_kind``)
=================  ===========================================  ==========================
``CrossEntropy``   per-glimpse weighted cross-entropy           ``differentiable`` (DRAW)
``Reinforce``      cross-entropy + REINFORCE + learned baseline  ``policy`` (RAM)
``WakeSleep``      reweighted wake-sleep (WS-RAM)               ``rollouts`` (WSRAM)
``Variational``    the variational bound (VAR)                  ``rollouts`` (WSRAM)
``PonderNet``      learned halting: PonderNet's loss            ``differentiable`` + halting head
``ReinforceHalting``  learned halting: DT-RAM's stop action     ``policy`` + halting head
``Reconstruction`` the canvas's binary cross-entropy (DRAM)     ``differentiable`` + write head
=================  ===========================================  ==========================

An objective that learns halting (``learns_halting``) needs a net built with the halting head
(``halting: true``), and every other objective refuses one (it would leave the head untrained).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from lit_draw import losses
from lit_draw.losses import Reward, Weighting
from lit_draw.models.net import RolloutNet, Writing, require_net
from lit_draw.models.trace import Trace
from lit_draw.validation import (
    IntAtLeast2,
    NonNegativeFloat,
    NonNegativeInt,
    OpenUnitInterval,
    conforms,
    one_of,
    require,
)


class Objective(nn.Module):
    """A per-glimpse weighting ``w_t`` and the estimator that turns a trace into a loss.

    Args:
        weighting: ``last``, ``all``, ``linear``, ``exponential`` or a list of ``T`` non-negative
            weights (see :func:`lit_draw.losses.glimpse_weights`).
        gamma: decay of the ``exponential`` weighting, in ``(0, 1]``.
    """

    #: the ``trace_kind`` of the nets this objective can train
    fits: ClassVar[str] = ""
    #: trains the net's halting head (:mod:`lit_draw.models.halting`); the others refuse a net with one
    learns_halting: ClassVar[bool] = False
    #: the key under ``train/`` of the accuracy of the training trace's ``logits``
    train_accuracy_key: str = "acc"
    #: scores the canvases themselves (``forward(..., images=...)``), not only the labels
    reads_images: ClassVar[bool] = False
    #: trains the classifier (the objectives a refusal suggests); a pre-training objective does not
    classifies: ClassVar[bool] = True
    weights: Tensor

    def __init__(self, weighting: Weighting | list[NonNegativeFloat] = "all", gamma: float = 0.9) -> None:
        super().__init__()
        if isinstance(weighting, str):  # the net's glimpses T are known only at bind()
            require(
                type(self).__name__,
                "weighting",
                weighting in losses.WEIGHTINGS,
                f"{one_of(losses.WEIGHTINGS)} or a list of T non-negative weights (T: the net's glimpses)",
                weighting,
            )
        losses.glimpse_weights(weighting, 1 if isinstance(weighting, str) else len(weighting), gamma)  # checks
        self.weighting = weighting
        self.gamma = gamma
        self.register_buffer("weights", torch.ones(1), persistent=False)  # sized to the net by bind()

    def bind(self, net: nn.Module) -> None:
        """Check that ``net`` is one this objective can train and size the weights to its glimpses.

        Raises:
            ValueError: ``net`` is no :class:`~lit_draw.models.net.AttentionNet`, or one of another
                kind: naming both classes and the objectives that fit ``net``.
        """
        require_net(f"model.objective {type(self).__name__}'s net", net)
        kind = net.trace_kind
        if kind != self.fits:
            fitting = [cls.__name__ for cls in OBJECTIVES if cls.fits == kind and cls.classifies]
            raise ValueError(
                f"model.objective {type(self).__name__} trains nets whose trace is '{self.fits}', but "
                f"{type(net).__name__} gives '{kind}': use model.objective "
                f"{' or '.join(f'lit_draw.objectives.{name}' for name in fitting) or '(none fits)'}"
            )
        has_head = net.halting is not None
        if has_head != self.learns_halting:
            fitting = [
                cls.__name__
                for cls in OBJECTIVES
                if cls.fits == kind and cls.learns_halting == has_head and cls.classifies
            ]
            raise ValueError(
                f"model.objective {type(self).__name__} "
                + (
                    "learns halting, but the net has no halting head: set model.net.init_args.halting=true"
                    if self.learns_halting
                    else "does not train the net's halting head: set model.net.init_args.halting=false"
                )
                + f", or use model.objective {' or '.join(f'lit_draw.objectives.{name}' for name in fitting) or '(none fits)'}"
            )
        self.weights = losses.glimpse_weights(self.weighting, net.glimpses, self.gamma).to(self.weights.device)

    def forward(self, trace: Trace, labels: Tensor, step: int = 0) -> dict[str, Tensor]:
        """``trace`` of a training batch, ``labels [B]``, the optimiser ``step`` -> ``{"loss", ...}``."""
        raise NotImplementedError

    def eval_loss(self, trace: Trace, labels: Tensor, images: Tensor) -> Tensor:
        """``val/loss`` and ``test/loss`` of one batch: the weighted cross-entropy (every objective
        is compared on it), unless the objective scores something else than the labels."""
        return losses.weighted_cross_entropy(trace.logits, labels, self.weights)


class CrossEntropy(Objective):
    """``sum_t w_t CE(logits_t, y)``: the All-Step (``all``) / Last-Step (``last``) losses and
    every weighting between them, for a differentiable attention model (DRAW)."""

    fits = "differentiable"

    def forward(self, trace: Trace, labels: Tensor, step: int = 0) -> dict[str, Tensor]:
        return {"loss": losses.weighted_cross_entropy(trace.logits, labels, self.weights)}


class Reinforce(Objective):
    """RAM's hybrid loss (Mnih et al. 2014, sec. 3.2 and 4): the weighted cross-entropy of the
    action network, REINFORCE for the location network (eq. 2, with the learned baseline ``b_t``),
    the baseline's squared error, minus an optional entropy bonus.

    Args:
        weighting, gamma: see :class:`Objective` (the paper: ``last``).
        reward: ``final`` (1 when the last prediction is right, as in the paper) or ``weighted``
            (every glimpse rewarded by its loss weight; :func:`lit_draw.losses.classification_reward`).
        entropy_bonus: weight of the location policy's entropy subtracted from the loss (0: off; it
            only changes a policy whose std is learned).
    """

    fits = "policy"

    def __init__(
        self,
        weighting: Weighting | list[NonNegativeFloat] = "last",
        gamma: float = 0.9,
        reward: Reward = "final",
        entropy_bonus: NonNegativeFloat = 0.0,
    ) -> None:
        super().__init__(weighting, gamma)
        require("Reinforce", "reward", reward in losses.REWARDS, one_of(losses.REWARDS), reward)
        require_bonus("Reinforce", entropy_bonus)
        self.reward = reward
        self.entropy_bonus = entropy_bonus

    def forward(self, trace: Trace, labels: Tensor, step: int = 0) -> dict[str, Tensor]:
        cross_entropy = losses.weighted_cross_entropy(trace.logits, labels, self.weights)
        reward = losses.classification_reward(trace.logits, labels, self.weights if self.reward == "weighted" else None)
        terms = losses.reinforce_loss(trace.log_pi, reward, trace.baseline)
        terms["entropy"] = trace.entropy.sum(0).mean()
        loss = cross_entropy + terms["reinforce_loss"] + terms["baseline_mse"] - self.entropy_bonus * terms["entropy"]
        return {"loss": loss, "cross_entropy": cross_entropy, **terms}


class _Rollouts(Objective):
    """Shared by the estimators that weight ``M`` rollouts per canvas (Ba et al. 2015).

    Args:
        weighting, gamma: score ``log p(y|a, I) = sum_t w_t log p_t(y|a, I)``; the paper's is ``last``.
            With another weighting the logged objective is not a bound on ``log p(y|I)`` and is
            logged as ``weighted_objective`` instead of ``bound``.
        control_variates: subtract the estimator's control variates (they change only the variance).
        entropy_bonus: weight of the attention policy p's entropy subtracted from the loss (sec. 4.5).
        coverage_bonus: weight of the coverage of p subtracted from the loss (sec. 4.5, the
            regulariser "encouraging viewing all image locations"; 0: off): the entropy of p's
            marginal over the batch's rollouts on a ``coverage_cells x coverage_cells`` grid of the
            canvas and the zooms, summed over glimpses (:func:`lit_draw.losses.coverage_entropy`).
        coverage_cells: grid cells per side for ``coverage_bonus``, ``>= 2``.
        grad_variance_every: log ``grad_variance`` (the spread of the ``M`` single-rollout gradient
            estimates of all of the net's parameters, the paper's Figure 2 middle) every this many
            steps (0: never), on the steps Lightning logs: a multiple of ``trainer.log_every_n_steps``.
    """

    fits = "rollouts"

    def __init__(
        self,
        weighting: Weighting | list[NonNegativeFloat] = "last",
        gamma: float = 0.9,
        control_variates: bool = True,
        entropy_bonus: NonNegativeFloat = 0.0,
        grad_variance_every: NonNegativeInt = 50,
        coverage_bonus: NonNegativeFloat = 0.0,
        coverage_cells: IntAtLeast2 = 4,
    ) -> None:
        super().__init__(weighting, gamma)
        name = type(self).__name__
        require(name, "control_variates", isinstance(control_variates, bool), "true or false", control_variates)
        require_bonus(name, entropy_bonus)
        require(
            name,
            "coverage_bonus",
            conforms(NonNegativeFloat, coverage_bonus, finite=True),
            "a finite number >= 0 (0: off)",
            coverage_bonus,
        )
        require(name, "coverage_cells", conforms(IntAtLeast2, coverage_cells), "an int >= 2", coverage_cells)
        require(
            name,
            "grad_variance_every",
            conforms(NonNegativeInt, grad_variance_every),
            "an int >= 0 (0: never)",
            grad_variance_every,
        )
        self.control_variates = control_variates
        self.entropy_bonus = entropy_bonus
        self.grad_variance_every = grad_variance_every
        self.coverage_bonus = coverage_bonus
        self.coverage_cells = coverage_cells
        self._params: list[nn.Parameter] = []
        self.bound_key = "bound" if weighting == "last" else "weighted_objective"

    def bind(self, net: nn.Module) -> None:
        super().bind(net)
        self._params = [p for p in net.parameters() if p.requires_grad]
        # a list with all its mass on the last glimpse is the paper's likelihood too
        self.bound_key = "bound" if self.weights[-1].item() == 1.0 else "weighted_objective"

    def surrogate(self, trace: Trace, log_likelihood: Tensor) -> losses.RolloutSurrogate:
        raise NotImplementedError

    def forward(self, trace: Trace, labels: Tensor, step: int = 0) -> dict[str, Tensor]:
        """Logged: the bound (or the weighted objective), ``ess`` (in ``[1, M]``), ``log_likelihood``
        (mean ``log p(y|a_m)``), ``entropy`` of p, ``coverage`` of p (when ``coverage_bonus > 0``)
        and, every ``grad_variance_every`` steps, ``grad_variance``."""
        log_likelihood = losses.rollout_log_likelihood(trace.sample_logits, labels, self.weights)  # [M, B]
        surrogate = self.surrogate(trace, log_likelihood)
        terms = {
            self.bound_key: surrogate.bound.mean(),
            "ess": surrogate.ess.mean(),
            "log_likelihood": log_likelihood.detach().mean(),
            "entropy": trace.entropy.sum(0).mean(),
        }
        loss = surrogate.loss() - self.entropy_bonus * terms["entropy"]
        if self.coverage_bonus:
            terms["coverage"] = losses.coverage_entropy(
                trace.loc_mean, trace.loc_std, trace.zoom_logits, self.coverage_cells
            ).sum()
            loss = loss - self.coverage_bonus * terms["coverage"]
        every = self.grad_variance_every
        if every and log_likelihood.shape[0] > 1 and (step + 1) % every == 0 and self._params:
            terms["grad_variance"] = losses.rollout_gradient_variance(surrogate.per_rollout(), self._params)
        return {"loss": loss, **terms}


class WakeSleep(_Rollouts):
    """WS-RAM's reweighted wake-sleep estimator (Ba et al. 2015, eqs. 7-8 and 14-17): rollouts from
    the net's proposal (its inference network q, or the prior p; tempered when the net says so),
    importance-weighted; q is trained towards the posterior. See
    :func:`lit_draw.losses.wake_sleep_surrogate`. Args: see :class:`_Rollouts`."""

    def bind(self, net: nn.Module) -> None:
        super().bind(net)
        require_net("model.objective WakeSleep's net", net, RolloutNet)
        # with an inference network the training rollouts are q's, and q sees the label
        self.train_accuracy_key = "acc_q" if net.inference is not None else "acc"

    def surrogate(self, trace: Trace, log_likelihood: Tensor) -> losses.RolloutSurrogate:
        return losses.wake_sleep_surrogate(
            log_likelihood, trace.log_p_actions, trace.log_proposal_actions, trace.log_q_actions, self.control_variates
        )


class Variational(_Rollouts):
    """VAR, the variational baseline (Ba et al. 2015, eqs. 3-5): rollouts from the prior p,
    weighted equally, with a leave-one-out control variate. See
    :func:`lit_draw.losses.variational_surrogate`. Args: see :class:`_Rollouts`."""

    def bind(self, net: nn.Module) -> None:
        super().bind(net)
        require_net("model.objective Variational's net", net, RolloutNet)
        has_q = net.inference is not None
        temperature = net.temperature
        if has_q or temperature != 1:
            raise ValueError(
                "model.objective Variational draws its rollouts from the prior p: the net needs "
                f"inference_network=false and temperature=1, got inference_network={has_q}, temperature={temperature}"
            )

    def surrogate(self, trace: Trace, log_likelihood: Tensor) -> losses.RolloutSurrogate:
        return losses.variational_surrogate(log_likelihood, trace.log_p_actions, self.control_variates)


class PonderNet(Objective):
    """Learned halting for a differentiable attention model (DRAW with ``halting: true``): PonderNet's
    ``sum_t p_t CE_t + beta KL(p || truncated geometric(prior_halt))`` (Banino et al. 2021, sec. 2.2;
    :func:`lit_draw.losses.ponder_loss`). ``p`` is a learned per-canvas glimpse weighting; All-Step
    and Last-Step are two fixed ones. ``val/loss`` stays the All-Step cross-entropy.

    Args:
        beta: weight of the KL term, ``>= 0`` (0: no prior; PonderNet used 0.01).
        prior_halt: ``lambda_p`` of the geometric prior, in ``(0, 1)``: its mean stop is about
            ``1 / prior_halt`` glimpses. (1 would put all the prior's mass on glimpse 1, where the KL
            of any ``p`` with mass elsewhere is infinite.)
    """

    fits = "differentiable"
    learns_halting = True

    def __init__(self, beta: NonNegativeFloat = 0.01, prior_halt: OpenUnitInterval = 0.2) -> None:
        super().__init__("all")
        require("PonderNet", "beta", conforms(NonNegativeFloat, beta, finite=True), "a finite number >= 0", beta)
        require("PonderNet", "prior_halt", conforms(OpenUnitInterval, prior_halt), "in (0, 1)", prior_halt)
        self.beta = beta
        self.prior_halt = prior_halt

    def forward(self, trace: Trace, labels: Tensor, step: int = 0) -> dict[str, Tensor]:
        return losses.ponder_loss(trace.logits, labels, trace.lambdas, self.prior_halt, self.beta)


class ReinforceHalting(Objective):
    """Learned halting for RAM (``halting: true``): DT-RAM's Bernoulli stop action (Li et al. 2017,
    sec. 3) trained with REINFORCE beside the location policy, with the same learned baseline, for
    the reward ``1[right where it stopped] - step_cost * glimpses used``
    (:func:`lit_draw.losses.halting_reinforce_loss`); the action network is trained by the weighted
    cross-entropy, on every glimpse by default, since any glimpse may be the one that answers.

    Args:
        weighting, gamma: the action network's per-glimpse cross-entropy weighting (see :class:`Objective`).
        step_cost: the price of one glimpse in units of the reward for a right answer, ``>= 0``.
        entropy_bonus: weight of the location policy's entropy subtracted from the loss (see :class:`Reinforce`).
    """

    fits = "policy"
    learns_halting = True

    def __init__(
        self,
        weighting: Weighting | list[NonNegativeFloat] = "all",
        gamma: float = 0.9,
        step_cost: NonNegativeFloat = 0.01,
        entropy_bonus: NonNegativeFloat = 0.0,
    ) -> None:
        super().__init__(weighting, gamma)
        require(
            "ReinforceHalting",
            "step_cost",
            conforms(NonNegativeFloat, step_cost, finite=True),
            "a finite number >= 0",
            step_cost,
        )
        require_bonus("ReinforceHalting", entropy_bonus)
        self.step_cost = step_cost
        self.entropy_bonus = entropy_bonus

    def forward(self, trace: Trace, labels: Tensor, step: int = 0) -> dict[str, Tensor]:
        cross_entropy = losses.weighted_cross_entropy(trace.logits, labels, self.weights)
        right = trace.logits.detach().argmax(-1) == labels  # [T, B]
        terms = losses.halting_reinforce_loss(
            trace.log_pi, trace.lambdas, trace.halt, right, trace.baseline, self.step_cost
        )
        terms["entropy"] = trace.entropy.sum(0).mean()
        loss = cross_entropy + terms["reinforce_loss"] + terms["baseline_mse"] - self.entropy_bonus * terms["entropy"]
        return {"loss": loss, "cross_entropy": cross_entropy, **terms}


class Reconstruction(Objective):
    """Pre-training on pixel reconstruction, as jlindsey15/DRAM (the code the study modified) did
    before classifying: the binary cross-entropy of the canvas drawn by the write head from the final
    decoder state (:func:`lit_draw.losses.reconstruction_loss`), for a DRAW classifier built with
    ``write: true``. The classifier is not trained; ``val/loss`` and ``test/loss`` are this loss
    (nats per canvas), and the accuracies stay at chance. Start a classification fit from it with
    ``--init_from`` (and ``model.trainable`` / ``--reinit`` for DRAM's ``rigid_pretrain`` variants).
    """

    fits = "differentiable"
    reads_images = True
    classifies = False

    def __init__(self) -> None:
        super().__init__("last")

    def bind(self, net: nn.Module) -> None:
        super().bind(net)
        require(
            "Reconstruction",
            "net",
            isinstance(net, Writing) and net.write is not None,
            "a net with a write head (model.net.init_args.write: true)",
            type(net).__name__,
        )

    def forward(self, trace: Trace, labels: Tensor, step: int = 0, images: Tensor | None = None) -> dict[str, Tensor]:
        return {"loss": losses.reconstruction_loss(trace.canvas, images)}

    def eval_loss(self, trace: Trace, labels: Tensor, images: Tensor) -> Tensor:
        return losses.reconstruction_loss(trace.canvas, images)


OBJECTIVES: tuple[type[Objective], ...] = (
    CrossEntropy,
    Reinforce,
    WakeSleep,
    Variational,
    PonderNet,
    ReinforceHalting,
    Reconstruction,
)


def require_bonus(owner: str, entropy_bonus: float) -> None:
    require(
        owner,
        "entropy_bonus",
        conforms(NonNegativeFloat, entropy_bonus, finite=True),
        "a finite number >= 0 (0: off)",
        entropy_bonus,
    )
