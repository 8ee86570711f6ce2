"""Learned halting: the halting distribution, PonderNet's loss and DT-RAM's stop action against exact
references (hand computation, enumeration), the head in every net, the objectives' refusals, the
evaluation's halt_acc / halt_glimpses, the predictions file, and the shipped checkpoints unchanged.

The DT-RAM toy: ``T = 3`` glimpses, two locations per glimpse drawn from
``pi_t(l_t | l_{t-1}) = softmax(theta_loc[t, l_{t-1}])``, a stop after glimpse ``t`` with probability
``lambda_t = sigmoid(theta_stop[t, l_t])`` (``lambda_T = 1``), and a fixed table of whether the answer
after glimpse ``t`` is right. All ``2^3 x 3`` (locations, stop) trajectories are enumerated with
their probabilities, so ``E[grad]`` of the estimator and ``grad E[R]`` are exact sums.
"""

from __future__ import annotations

import importlib
import itertools
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
import yaml
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, TensorDataset

from lit_draw import losses
from lit_draw.callbacks.halting import HaltingCounts
from lit_draw.cli.predictions import PredictionFile
from lit_draw.models import RAM, WSRAM, DRAWClassifier
from lit_draw.models.halting import HaltingHead
from lit_draw.module import AttentionClassifier
from lit_draw.objectives import CrossEntropy, PonderNet, Reinforce, ReinforceHalting
from tests.conftest import write_logged_run

ROOT = Path(__file__).parents[1]


def tiny_draw(halting: bool = True, glimpses: int = 3) -> DRAWClassifier:
    return DRAWClassifier(
        canvas_size=16, read_n=3, glimpses=glimpses, enc_size=8, z_size=4, dec_size=8, hidden=8, halting=halting
    )


def tiny_ram(halting: bool = True, **options) -> RAM:
    return RAM(
        canvas_size=16,
        patch=4,
        glimpses=3,
        core_size=8,
        what_hidden=8,
        where_hidden=8,
        glimpse_size=8,
        halting=halting,
        **options,
    )


# ---------------------------------------------------------------- the halting distribution


def test_halting_distribution_matches_the_hand_computed_one():
    lambdas = torch.tensor([[0.5, 0.1], [0.2, 0.0], [0.3, 0.9]], dtype=torch.float64)  # [T = 3, B = 2]
    expected = torch.tensor(
        [
            [0.5, 0.1],
            [0.5 * 0.2, 0.9 * 0.0],
            [0.5 * 0.8, 0.9 * 1.0],  # the last glimpse takes the remaining mass, whatever lambda_T says
        ],
        dtype=torch.float64,
    )
    torch.testing.assert_close(losses.halting_distribution(lambdas), expected, atol=1e-15, rtol=0)


def test_halting_distribution_sums_to_one_for_any_input_including_exact_zeros_and_ones():
    gen = torch.Generator().manual_seed(0)
    lambdas = torch.rand(7, 1000, generator=gen)
    lambdas[:, :300] = torch.randint(0, 2, (7, 300), generator=gen).float()  # exactly 0 or 1
    lambdas[:, 300:400] = 0.0
    lambdas[:, 400:500] = 1.0
    p = losses.halting_distribution(lambdas)
    assert torch.isfinite(p).all() and (p >= 0).all()
    assert (p.sum(0) - 1).abs().max() <= 1e-6
    # with only 0s and 1s every canvas stops at its first 1 (or the last glimpse), exactly
    hard = p[:, :500]
    assert torch.equal(hard.sum(0), torch.ones(500)) and set(hard.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(p[:, 300:400], F.one_hot(torch.full((100,), 6), 7).T.float())
    assert torch.equal(p[:, 400:500], F.one_hot(torch.zeros(100, dtype=torch.long), 7).T.float())


def test_truncated_geometric_is_the_halting_distribution_of_a_constant_lambda():
    torch.testing.assert_close(losses.truncated_geometric(0.5, 3), torch.tensor([0.5, 0.25, 0.25], dtype=torch.float64))
    torch.testing.assert_close(losses.truncated_geometric(0.2, 1), torch.tensor([1.0], dtype=torch.float64))


# ---------------------------------------------------------------- PonderNet


def test_ponder_loss_matches_a_hand_computation():
    torch.manual_seed(0)
    steps, batch, classes, prior, beta = 3, 2, 4, 0.3, 0.05
    logits = torch.randn(steps, batch, classes, dtype=torch.float64)
    labels = torch.tensor([1, 3])
    lambdas = torch.tensor([[0.2, 0.7], [0.4, 0.1], [1.0, 1.0]], dtype=torch.float64)
    q = [prior, (1 - prior) * prior, (1 - prior) ** 2]
    expected_ce, kl, glimpses = 0.0, 0.0, 0.0
    for b in range(batch):
        survive = 1.0
        for t in range(steps):
            p = survive * (lambdas[t, b].item() if t < steps - 1 else 1.0)
            survive *= 1 - lambdas[t, b].item()
            ce = -logits[t, b].log_softmax(-1)[labels[b]].item()
            expected_ce += p * ce / batch
            kl += p * math.log(p / q[t]) / batch
            glimpses += (t + 1) * p / batch
    terms = losses.ponder_loss(logits, labels, lambdas, prior, beta)
    assert terms["expected_cross_entropy"].item() == pytest.approx(expected_ce, rel=1e-6)
    assert terms["halting_kl"].item() == pytest.approx(kl, rel=1e-6)
    assert terms["expected_glimpses"].item() == pytest.approx(glimpses, rel=1e-6)
    assert terms["loss"].item() == pytest.approx(expected_ce + beta * kl, rel=1e-6)


def test_ponder_loss_with_a_certain_stop_is_finite_and_gives_the_lambdas_a_gradient():
    logits = torch.randn(3, 2, 5)
    raw = torch.tensor([[1.0, 0.0], [0.3, 0.6], [1.0, 1.0]], requires_grad=True)  # canvas 0 stops at glimpse 1 for sure
    terms = losses.ponder_loss(logits, torch.tensor([0, 1]), raw, 0.2, 0.01)
    terms["loss"].backward()
    assert torch.isfinite(terms["loss"]) and torch.isfinite(raw.grad).all()


# ---------------------------------------------------------------- DT-RAM's stop action

STEPS, LOCATIONS = 3, 2


def toy(seed: int) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "theta_loc": torch.randn(STEPS, LOCATIONS, LOCATIONS, generator=gen, dtype=torch.float64).requires_grad_(),
        "theta_stop": torch.randn(STEPS, LOCATIONS, generator=gen, dtype=torch.float64).requires_grad_(),
        # whether the answer after glimpse t is right, given (l_{t-1}, l_t)
        "right": torch.randint(0, 2, (STEPS, LOCATIONS, LOCATIONS), generator=gen).bool(),
    }


def trajectories(params):
    """Every (l_1..l_T, stop) as a batch: log_pi, lambdas [T, B], halt [B], right [T, B] and the probability [B]."""
    rows = [(locs, halt) for locs in itertools.product(range(LOCATIONS), repeat=STEPS) for halt in range(1, STEPS + 1)]
    locs = torch.tensor([r[0] for r in rows]).T  # [T, B]
    halt = torch.tensor([r[1] for r in rows])  # [B]
    prev = torch.cat([torch.zeros_like(locs[:1]), locs[:-1]])  # l_{t-1} (l_0 = 0)
    t = torch.arange(STEPS)[:, None]
    log_pi = params["theta_loc"].log_softmax(-1)[t, prev, locs]  # [T, B]
    lambdas = HaltingHead.trace_fields(torch.sigmoid(params["theta_stop"][t, locs]), sample=False)["lambdas"]
    right = params["right"][t, prev, locs]  # [T, B]
    prob = log_pi.sum(0).exp() * losses.halting_distribution(lambdas).gather(0, (halt - 1)[None])[0]  # [B]
    return log_pi, lambdas, halt, right, prob


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("baseline", [(0.0, 0.0, 0.0), (0.4, -0.3, 0.9)])
@pytest.mark.parametrize("step_cost", [0.0, 0.1])
def test_the_stop_action_estimator_is_the_exact_gradient_of_the_expected_reward(seed, baseline, step_cost):
    params = toy(seed)
    names = ["theta_loc", "theta_stop"]
    log_pi, lambdas, halt, right, prob = trajectories(params)
    assert prob.sum().item() == pytest.approx(1.0, abs=1e-12)
    reward = right.double().gather(0, (halt - 1)[None])[0] - step_cost * halt  # [B]
    exact = torch.autograd.grad(-(prob * reward).sum(), [params[n] for n in names], retain_graph=True)  # -grad E[R]
    b = torch.tensor(baseline, dtype=torch.float64)[:, None].expand_as(log_pi)
    expected = [torch.zeros_like(params[n]) for n in names]
    for i in range(len(halt)):  # each trajectory's estimate, weighted by its probability
        terms = losses.halting_reinforce_loss(
            log_pi[:, i : i + 1],
            lambdas[:, i : i + 1],
            halt[i : i + 1],
            right[:, i : i + 1],
            b[:, i : i + 1],
            step_cost,
        )
        grads = torch.autograd.grad(terms["reinforce_loss"], [params[n] for n in names], retain_graph=True)
        for total, g in zip(expected, grads, strict=True):
            total += prob[i].detach() * g
        assert terms["reward"].item() == pytest.approx(reward[i].item())
    for name, e, x in zip(names, expected, exact, strict=True):
        torch.testing.assert_close(e, x, atol=1e-12, rtol=0, msg=name)


def test_stop_log_prob_sums_to_the_log_halting_probability_and_has_no_nan_at_zero_and_one():
    # [T = 3, B = 3]; every decision taken has a probability > 0 (a sampled stop never goes on past lambda = 1)
    raw = torch.tensor([[0.0, 0.3, 0.0], [0.6, 1.0, 0.2], [1.0, 1.0, 1.0]], requires_grad=True)
    halt = torch.tensor([2, 2, 3])
    log_stop = losses.stop_log_prob(raw, halt)
    p = losses.halting_distribution(raw.detach())
    torch.testing.assert_close(log_stop.sum(0).exp(), p.gather(0, (halt - 1)[None])[0])
    assert (log_stop[2, :2] == 0).all()  # no decision after the stop
    log_stop.sum().backward()
    assert torch.isfinite(raw.grad).all()


def test_halting_reinforce_loss_trains_the_baseline_on_the_glimpses_up_to_the_stop():
    log_pi = torch.zeros(3, 2)
    lambdas = torch.tensor([[0.5, 0.5], [0.5, 0.5], [1.0, 1.0]])
    right = torch.tensor([[True, False], [False, False], [False, True]])
    baseline = torch.tensor([[0.5, 0.0], [9.0, 0.0], [9.0, 0.0]])
    terms = losses.halting_reinforce_loss(log_pi, lambdas, torch.tensor([1, 3]), right, baseline, 0.1)
    # canvas 0: R = 1 - 0.1, one glimpse; canvas 1: R = 1 - 0.3, three glimpses; the 9s are after canvas 0's stop
    assert terms["reward"].item() == pytest.approx((0.9 + 0.7) / 2)
    assert terms["baseline_mse"].item() == pytest.approx((0.4**2 + 3 * 0.7**2) / 4)
    assert terms["glimpses"].item() == 2.0


# ---------------------------------------------------------------- the head in the nets


def test_the_head_stops_at_the_first_lambda_of_one_half_and_the_last_glimpse_always_halts():
    lambdas = torch.tensor([[0.2, 0.5, 0.1], [0.7, 0.9, 0.4], [0.0, 0.0, 0.3]])
    fields = HaltingHead.trace_fields(lambdas, sample=False)
    assert torch.equal(fields["lambdas"][-1], torch.ones(3))
    assert fields["halt"].tolist() == [2, 1, 3]


def test_the_sampled_stop_is_drawn_from_the_halting_distribution():
    torch.manual_seed(0)
    lambdas = torch.tensor([0.3, 0.5, 0.2, 1.0])[:, None].expand(4, 40000)
    halt = HaltingHead.stop(lambdas, sample=True)
    frequency = torch.bincount(halt - 1, minlength=4).double() / halt.numel()
    p = losses.halting_distribution(lambdas[:, :1].double())[:, 0]
    assert (frequency - p).abs().max() < 4 * math.sqrt(0.25 / halt.numel())  # four standard errors


@pytest.mark.parametrize("make", [tiny_draw, tiny_ram])
def test_a_net_with_the_head_returns_lambdas_and_where_each_canvas_stops(make):
    net = make(halting=True)
    trace = net(torch.rand(5, 1, 16, 16))
    assert trace.lambdas.shape == (3, 5) and torch.equal(trace.lambdas[-1], torch.ones(5))
    assert ((trace.lambdas[:-1] > 0) & (trace.lambdas[:-1] < 1)).all()
    assert trace.halt.dtype == torch.int64 and ((trace.halt >= 1) & (trace.halt <= 3)).all()
    without = make(halting=False)
    assert without(torch.rand(5, 1, 16, 16)).lambdas is None and without.halting is None
    assert set(net.state_dict()) - set(without.state_dict()) == {"halting.linear.weight", "halting.linear.bias"}


def test_ram_with_deterministic_eval_stops_at_the_first_lambda_of_one_half():
    net = tiny_ram(deterministic_eval=True).eval()
    trace = net(torch.rand(6, 1, 16, 16))
    assert torch.equal(trace.halt, HaltingHead.stop(trace.lambdas, sample=False))


@pytest.mark.parametrize("config", sorted((ROOT / "checkpoints").glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_checkpoint_loads_strictly_into_its_configs_net(config: Path):
    settings = yaml.safe_load(config.read_text())
    net_config = settings["model"]["net"]
    module, name = net_config["class_path"].rsplit(".", 1)
    init_args = {"canvas_size": settings["data"]["canvas_size"], **net_config.get("init_args", {})}
    net = getattr(importlib.import_module(module), name)(**init_args)
    # a head exactly where the config asks for one: the checkpoints shipped before halting have none
    assert (getattr(net, "halting", None) is not None) == init_args.get("halting", False)
    assert init_args.get("halting", False) == config.stem.endswith("_halting")
    state = torch.load(config.with_suffix(".ckpt"), map_location="cpu", weights_only=False)["state_dict"]
    net.load_state_dict({k.removeprefix("net."): v for k, v in state.items() if k.startswith("net.")}, strict=True)


# ---------------------------------------------------------------- objectives


@pytest.mark.parametrize(
    ("objective", "options", "message"),
    [
        (PonderNet, dict(beta=-0.1), r"PonderNet.beta must be a finite number >= 0, got -0.1"),
        (PonderNet, dict(beta=float("inf")), r"PonderNet.beta must be a finite number >= 0, got inf"),
        (PonderNet, dict(prior_halt=0.0), r"PonderNet.prior_halt must be in \(0, 1\), got 0.0"),
        (PonderNet, dict(prior_halt=1.0), r"PonderNet.prior_halt must be in \(0, 1\), got 1.0"),
        (PonderNet, dict(prior_halt=1.5), r"PonderNet.prior_halt must be in \(0, 1\), got 1.5"),
        (
            ReinforceHalting,
            dict(step_cost=-0.01),
            r"ReinforceHalting.step_cost must be a finite number >= 0, got -0.01",
        ),
        (ReinforceHalting, dict(entropy_bonus=-1.0), r"ReinforceHalting.entropy_bonus must be a finite number >= 0"),
    ],
)
def test_bad_halting_options_name_the_class_and_field(objective, options, message):
    with pytest.raises(ValueError, match=message):
        objective(**options)


@pytest.mark.parametrize(
    ("net", "objective", "message"),
    [
        (
            lambda: tiny_draw(halting=False),
            PonderNet,
            r"PonderNet learns halting, but the net has no halting head: set "
            r"model.net.init_args.halting=true, or use model.objective lit_draw.objectives.CrossEntropy$",
        ),
        (
            lambda: tiny_ram(halting=False),
            ReinforceHalting,
            r"ReinforceHalting learns halting, but the net has no halting head",
        ),
        (
            lambda: tiny_draw(halting=True),
            CrossEntropy,
            r"CrossEntropy does not train the net's halting head: set "
            r"model.net.init_args.halting=false, or use model.objective lit_draw.objectives.PonderNet$",
        ),
        (lambda: tiny_ram(halting=True), Reinforce, r"or use model.objective lit_draw.objectives.ReinforceHalting$"),
        (lambda: tiny_ram(halting=True), PonderNet, r"PonderNet trains nets whose trace is 'differentiable'"),
    ],
)
def test_halting_and_the_head_go_together(net, objective, message):
    with pytest.raises(ValueError, match=message):
        objective().bind(net())


@pytest.mark.parametrize(("make", "objective"), [(tiny_draw, PonderNet), (tiny_ram, ReinforceHalting)])
def test_a_halting_objective_trains_the_head(make, objective):
    net = make(halting=True)
    loss = objective()
    loss.bind(net)
    terms = loss(net(torch.rand(4, 1, 16, 16), torch.arange(4)), torch.arange(4))
    terms["loss"].backward()
    assert torch.isfinite(terms["loss"]) and net.halting.linear.weight.grad.abs().sum() > 0


def test_the_nets_refuse_a_halting_that_is_not_a_boolean():
    for make in (tiny_draw, tiny_ram):
        with pytest.raises(ValueError, match=r"\.halting must be true or false, got 'yes'"):
            make(halting="yes")


def test_wsram_has_no_halting_head_yet():
    assert getattr(WSRAM(canvas_size=16, patch=4, zooms=[1], glimpses=1, samples=1), "halting", None) is None


# ---------------------------------------------------------------- evaluation, callback and predictions


def test_validation_logs_accuracy_where_each_canvas_stops_and_the_glimpses_used(tmp_path):
    torch.manual_seed(0)
    images, labels = torch.rand(8, 1, 16, 16), torch.randint(0, 10, (8,))
    model = AttentionClassifier(tiny_draw(), PonderNet())
    with torch.no_grad():  # centre lambda_1 on 1/2 across the canvases, so that they stop at different glimpses
        head = model.net.halting.linear
        head.weight.normal_(0, 10.0)
        head.bias.zero_()
        head.bias -= torch.logit(model.net.eval()(images).lambdas[0]).median()
        trace = model.net(images)
    assert len(trace.halt.unique()) > 1
    right = trace.logits.argmax(-1).gather(0, (trace.halt - 1)[None])[0] == labels
    trainer = Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    data = DataLoader(TensorDataset(images, labels, torch.zeros(8, 4)), batch_size=3)
    (metrics,) = trainer.validate(model, data, verbose=False)
    assert metrics["val/halt_acc"] == pytest.approx(right.float().mean().item())
    assert metrics["val/halt_glimpses"] == pytest.approx(trace.halt.float().mean().item())


def test_halting_counts_sum_canvases_and_right_answers_per_halting_glimpse():
    counts = HaltingCounts(3)
    counts.update(torch.tensor([1, 3, 3, 1]), torch.tensor([True, False, True, True]))
    counts.update(torch.tensor([2]), torch.tensor([False]))
    count, correct = counts.compute()
    assert count.tolist() == [2, 1, 2] and correct.tolist() == [2, 0, 1]


def test_the_predictions_file_holds_each_canvass_halting_glimpse(tmp_path: Path):
    writer = PredictionFile(tmp_path)
    trainer = SimpleNamespace(global_rank=0, world_size=1)
    halts = [torch.tensor([1, 3, 2]), torch.tensor([2, 2])]
    for halt in halts:
        prediction = {"probs": torch.rand(3, len(halt), 10), "halt": halt}
        writer.write_on_batch_end(
            trainer, None, prediction, None, (None, torch.zeros(len(halt), dtype=torch.long), None), 0, 0
        )
    writer.on_predict_epoch_end(trainer, None)
    result = torch.load(writer.path, weights_only=True)
    assert torch.equal(result["halt"], torch.tensor([1, 3, 2, 2, 2])) and result["halt"].dtype == torch.int64


def test_the_viewer_shows_where_each_canvas_stopped():
    from lit_draw.viewer.build import checkpoint_view

    torch.manual_seed(0)
    canvases, labels = torch.rand(5, 1, 16, 16), torch.randint(0, 10, (5,))
    net = tiny_draw()
    view = checkpoint_view(net, canvases, labels, samples=2, batch_size=2)
    trace = net(canvases)
    assert [s["halt"] for s in view["samples"]] == trace.halt[:2].tolist()
    assert view["samples"][0]["lambdas"][-1] == 1.0
    right = trace.logits.argmax(-1).gather(0, (trace.halt - 1)[None])[0] == labels
    assert view["summary"]["halting"] == {
        "acc": pytest.approx(right.float().mean().item(), abs=1e-4),
        "glimpses": pytest.approx(trace.halt.float().mean().item(), abs=1e-3),
    }
    assert checkpoint_view(tiny_draw(halting=False), canvases, labels, samples=1)["summary"]["halting"] is None


# ---------------------------------------------------------------- the frontier figure


def test_glimpses_to_reach_interpolates_between_points_by_hand():
    from lit_draw.experiments.halting_frontier import glimpses_to_reach

    curve = [(4.0, 0.98), (1.0, 0.90), (2.0, 0.96)]
    assert glimpses_to_reach(curve, 0.97) == pytest.approx(3.0)  # halfway from (2, 0.96) to (4, 0.98)
    assert glimpses_to_reach(curve, 0.90) == 1.0
    assert glimpses_to_reach(curve, 0.99) is None
    # a run dominated by one with fewer glimpses is not on the frontier: the line still runs from
    # (2, 0.96) to (4, 0.98), not down to (3, 0.5) and up again
    assert glimpses_to_reach([*curve, (3.0, 0.5), (5.0, 0.97)], 0.97) == pytest.approx(3.0)


def test_the_frontier_reads_halting_points_and_the_threshold_curve_and_draws_them(tmp_path: Path):
    from lit_draw.experiments.halting_frontier import (
        Frontier,
        draw,
        halting_point,
        read_frontier,
        read_run,
        threshold_curve,
    )

    halting, all_step = tmp_path / "halting", tmp_path / "all_step"
    write_logged_run(halting / "wandb" / "offline-run-20250101_000000-fit", [{"step": 1, "train/loss": 2.0}])
    write_logged_run(  # the test run: newer, so it is the one read
        halting / "wandb" / "offline-run-20250101_000500-test",
        [
            {"step": 0, "test/halt_glimpses": 3.0, "test/halt_acc": 0.9},
            {"step": 0, "test/halt_glimpses": 2.5, "test/halt_acc": 0.95},
        ],
    )
    assert halting_point(read_run(halting)) == (2.5, 0.95)  # the last value logged
    assert halting_point(read_run(halting / "wandb" / "offline-run-20250101_000500-test")) == (
        2.5,
        0.95,
    )  # one run folder
    write_logged_run(
        all_step / "wandb" / "offline-run-20250101_000000-test",
        [
            {
                "test/early_exit/tau_0.9/acc": 0.97,
                "test/early_exit/tau_0.9/glimpses": 2.0,
                "test/early_exit/tau_0.5/acc": 0.93,
                "test/early_exit/tau_0.5/glimpses": 1.2,
                "test/acc": 0.98,
            }
        ],
    )
    assert threshold_curve(read_run(all_step)) == [(1.2, 0.93), (2.0, 0.97)]
    assert read_frontier("toy", all_step, [halting]) == Frontier(
        "toy", [(2.5, 0.95)], [(1.2, 0.93), (2.0, 0.97)], 0.98, names=["halting"]
    )
    with pytest.raises(KeyError, match="logged no test/halt_glimpses"):
        halting_point(read_run(all_step))
    out = tmp_path / "frontier.png"
    png, pdf = draw([read_frontier("toy", all_step, [halting])], out)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"


def test_the_frontier_table_gives_each_settings_crossings_and_every_halting_point():
    from lit_draw.experiments.halting_frontier import Frontier, frontier_table

    table = frontier_table(
        [Frontier("toy", [(2.0, 0.96), (4.0, 0.98)], [(1.0, 0.95), (3.0, 0.99)], 0.98, names=["a", "b"])]
    )
    # fixed-T 0.98, target 0.975: halting crosses at 2 + 2 * 0.015 / 0.02 = 3.5, the threshold at 1 + 2 * 0.025 / 0.04 = 2.25
    assert "| toy | 98.00% | 3.50 | 2.25 |" in table
    assert "| toy | a | 2.00 | 96.00% |" in table and "| toy | b | 4.00 | 98.00% |" in table


def test_halting_frontier_mistakes_are_one_line_errors_naming_the_run(tmp_path: Path):
    from lit_draw.__main__ import main
    from lit_draw.errors import LitDrawError

    run = tmp_path / "halting"
    write_logged_run(
        run / "wandb" / "offline-run-20250101_000000-fit",
        [{"step": 9, "val/acc": 0.9, "val/halt_acc": 0.9, "val/halt_glimpses": 2.0}],
    )
    write_logged_run(
        run / "wandb" / "offline-run-20250101_000500-test",
        [
            {
                "step": 0,
                "test/halt_glimpses": 2.0,
                "test/halt_acc": 0.9,
                "test/acc": 0.9,
                "test/early_exit/tau_0.9/acc": 0.9,
                "test/early_exit/tau_0.9/glimpses": 1.5,
            }
        ],
    )
    frontier = ["halting-frontier", "--title", "toy", "--out", str(tmp_path / "f.png")]
    cases = {
        (str(tmp_path / "nowhere"), str(run)): rf"^no W&B run folder under {tmp_path / 'nowhere'}$",
        (str(run), str(tmp_path / "all_step")): rf"^no W&B run folder under {tmp_path / 'all_step'}$",
    }
    for (all_step, halting), pattern in cases.items():
        with pytest.raises(LitDrawError, match=pattern):
            main([*frontier, "--all-step", all_step, "--halting", halting])
    # the run has metrics but no checkpoints folder: nothing to ship, said before any checkpoint is written
    with pytest.raises(LitDrawError, match=rf"^--ship toy_halting: {run}/checkpoints has no last.ckpt or config.yaml "):
        main([*frontier, "--all-step", str(run), "--halting", str(run), "--ship", "toy_halting"])
    assert not Path("checkpoints/toy_halting.ckpt").exists()


def test_the_run_shipped_is_chosen_on_validation_the_fewest_glimpses_within_half_a_point(tmp_path: Path):
    from lit_draw.experiments.halting_frontier import choose_on_validation

    all_step = tmp_path / "all_step"
    write_logged_run(
        all_step / "wandb" / "offline-run-20250101_000000-fit",
        [{"step": 9, "val/acc": 0.90}, {"step": 19, "val/acc": 0.96}],
    )
    runs = {}
    for name, acc, glimpses in (("late", 0.97, 6.0), ("early", 0.956, 3.0), ("earliest", 0.95, 2.0)):
        runs[name] = tmp_path / name
        write_logged_run(
            runs[name] / "wandb" / "offline-run-20250101_000000-fit",
            [{"step": 19, "val/halt_acc": acc, "val/halt_glimpses": glimpses}],
        )
        write_logged_run(
            runs[name] / "wandb" / "offline-run-20250101_000500-test",  # test values never choose
            [{"step": 0, "test/halt_acc": 1.0, "test/halt_glimpses": 1.0}],
        )
    assert choose_on_validation(all_step, list(runs.values())) == runs["early"]  # 0.956 >= 0.96 - 0.005; 0.95 is not
    assert choose_on_validation(all_step, [runs["earliest"]], margin=0.0) == runs["earliest"]  # none close: the best
