"""A halting head on a frozen All-Step net, against the confidence threshold on the same net: the
threshold stops against hand computation, the callback that sweeps them in one pass, the overlay that
trains the head alone (the rest bit for bit the All-Step net's), the threshold chosen on validation,
and ``halting-frontier --head`` on tiny fake metrics."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, TensorDataset

from lit_draw.__main__ import main as cli_main
from lit_draw.callbacks import EarlyExit, HaltingThresholds
from lit_draw.callbacks.halting_thresholds import ThresholdStopAccuracy, threshold_stops
from lit_draw.cli.metrics_csv import read_metrics, run_folders, values, write_rows
from lit_draw.errors import ConfigError, LitDrawError
from lit_draw.experiments import halting_frontier as hf
from lit_draw.models import DRAWClassifier
from lit_draw.models.trace import Trace
from lit_draw.module import AttentionClassifier
from lit_draw.objectives import CrossEntropy, PonderNet
from lit_draw.stopping import first_reaching
from tests.conftest import tiny_draw_args, write_logged_run

OVERLAY = Path(__file__).parents[1] / "configs" / "overlays" / "halting_head.yaml"

# three canvases, T = 3; the last lambda is 1 (the last glimpse always halts)
LAMBDAS = torch.tensor([[0.1, 0.5, 0.3], [0.6, 0.2, 0.3], [1.0, 1.0, 1.0]])  # [T, B]
# p = lambda_t prod_{s<t} (1 - lambda_s): (0.1, 0.54, 0.36), (0.5, 0.1, 0.4), (0.3, 0.21, 0.49);
# the mass so far: (0.1, 0.64, 1), (0.5, 0.6, 1), (0.3, 0.51, 1)
THRESHOLDS = torch.tensor([0.25, 0.5, 0.55])


def test_first_reaching_stops_at_the_first_glimpse_whose_score_reaches_each_threshold_else_the_last():
    scores = torch.tensor([[0.2, 0.9], [0.7, 0.1], [0.4, 0.3]])  # [T = 3, B = 2]: never reached stops at 3
    assert first_reaching(scores, torch.tensor([0.1, 0.5, 0.95])).tolist() == [[1, 1], [2, 1], [3, 3]]


def test_the_lambda_and_cumulative_stops_match_a_hand_computation():
    assert threshold_stops(LAMBDAS, THRESHOLDS, "lambda").tolist() == [[2, 1, 1], [2, 1, 3], [2, 3, 3]]
    assert threshold_stops(LAMBDAS, THRESHOLDS, "cumulative").tolist() == [[2, 1, 1], [2, 1, 2], [2, 2, 3]]
    # a threshold of 1 stops every canvas at the last glimpse under either rule; the head's own stop is lambda 0.5
    for rule in ("lambda", "cumulative"):
        assert threshold_stops(LAMBDAS, torch.tensor([1.0]), rule).tolist() == [[3, 3, 3]]
    assert threshold_stops(LAMBDAS, torch.tensor([0.5]), "lambda")[0].tolist() == [2, 1, 3]


def _trace(lambdas: torch.Tensor, predicted: list[list[int]]) -> Trace:
    """A trace whose class after glimpse ``t`` for canvas ``b`` is ``predicted[t][b]``."""
    logits = torch.nn.functional.one_hot(torch.tensor(predicted), 10).float() * 5  # [T, B, C]
    return Trace(logits=logits, center=torch.zeros(3, 3, 2), size=torch.ones(3, 3), lambdas=lambdas)


def test_the_threshold_metric_counts_right_answers_and_glimpses_where_each_canvas_stops():
    labels = torch.tensor([7, 7, 7])
    predicted = [[1, 7, 1], [7, 1, 7], [7, 7, 7]]  # canvas a right from glimpse 2, b at 1 and 3, c from 2
    metric = ThresholdStopAccuracy(["lambda", "cumulative"], THRESHOLDS.tolist())
    metric.update(_trace(LAMBDAS, predicted), labels, torch.zeros(3, 4))
    values_ = metric.compute()
    # lambda stops (2, 1, 1), (2, 1, 3), (2, 3, 3): right (1, 1, 0), (1, 1, 1), (1, 1, 1)
    # cumulative stops (2, 1, 1), (2, 1, 2), (2, 2, 3): right (1, 1, 0), (1, 1, 1), (1, 0, 1)
    torch.testing.assert_close(values_["accuracy"], torch.tensor([[2, 3, 3], [2, 3, 2]]) / 3)
    torch.testing.assert_close(values_["glimpses"], torch.tensor([[4, 6, 8], [4, 5, 7]]) / 3)


def test_the_callback_logs_every_rule_and_threshold_and_refuses_bad_input_in_one_line():
    logged = {}
    module = SimpleNamespace(log=lambda key, value, **_: logged.__setitem__(key, value))
    callback = HaltingThresholds(thresholds=[0.55, 0.25], rules=["cumulative"])
    values_ = {"accuracy": torch.tensor([[0.5, 0.25]]), "glimpses": torch.tensor([[1.5, 2.5]])}
    callback.report(SimpleNamespace(is_global_zero=True, loggers=[]), module, "val", values_)
    assert logged == {
        "val/halt_threshold/cumulative_0.25/acc": 0.5,  # thresholds sorted
        "val/halt_threshold/cumulative_0.25/glimpses": 1.5,
        "val/halt_threshold/cumulative_0.55/acc": 0.25,
        "val/halt_threshold/cumulative_0.55/glimpses": 2.5,
    }
    with pytest.raises(ValueError, match=r"^HaltingThresholds.thresholds must be a non-empty list of numbers in "):
        HaltingThresholds(thresholds=[0.5, 0])
    with pytest.raises(
        ValueError, match=r"^HaltingThresholds.rules must be a non-empty list, each one of lambda, cumulative, got"
    ):
        HaltingThresholds(rules=["median"])
    no_head = AttentionClassifier(
        DRAWClassifier(canvas_size=16, read_n=3, glimpses=2, enc_size=8, dec_size=8, hidden=8), CrossEntropy()
    )
    with pytest.raises(ConfigError, match=r"^HaltingThresholds needs a net with a halting head "):
        HaltingThresholds().setup(None, no_head, "fit")


def test_the_swept_threshold_of_one_half_is_the_nets_own_stop(tmp_path: Path):
    torch.manual_seed(0)
    images, labels = torch.rand(8, 1, 16, 16), torch.randint(0, 10, (8,))
    net = DRAWClassifier(canvas_size=16, read_n=3, glimpses=3, enc_size=8, z_size=4, dec_size=8, hidden=8, halting=True)
    with torch.no_grad():  # centre lambda_1 on 1/2 across the canvases, so that they stop at different glimpses
        net.halting.linear.weight.normal_(0, 10.0)
        net.halting.linear.bias.zero_()
        net.halting.linear.bias -= torch.logit(net.eval()(images).lambdas[0]).median()
    model = AttentionClassifier(net, PonderNet())
    trainer = Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[HaltingThresholds(thresholds=[0.5]), EarlyExit(taus=[1.0])],
    )
    data = DataLoader(TensorDataset(images, labels, torch.zeros(8, 4)), batch_size=3)
    (metrics,) = trainer.validate(model, data, verbose=False)
    assert len(net.eval()(images).halt.unique()) > 1
    assert metrics["val/halt_threshold/lambda_0.5/acc"] == pytest.approx(metrics["val/halt_acc"])
    assert metrics["val/halt_threshold/lambda_0.5/glimpses"] == pytest.approx(metrics["val/halt_glimpses"])
    assert metrics["val/early_exit/tau_1/glimpses"] == 3.0  # a confidence of 1 waits for the last glimpse


def test_the_overlay_trains_the_head_alone_on_a_frozen_all_step_net_bit_for_bit(
    synthetic_mnist_root: Path, offline_in_tmp: Path
):
    args = tiny_draw_args(
        synthetic_mnist_root, canvas=28, glimpses=3, read_n=3, width=8, batch_size=8, val_size=16, train_size=32
    )
    args += ["--data.test_size=16", "--trainer.enable_model_summary=false"]
    cli_main(["fit", *args, "--trainer.callbacks=[]", "--trainer.max_steps=2"])
    start = offline_in_tmp / "run" / "checkpoints" / "last.ckpt"
    all_step = torch.load(start, weights_only=False)["state_dict"]
    head = [
        "--config",
        str(OVERLAY),
        f"--init_from={start}",
        "--trainer.default_root_dir=head",
        "--trainer.max_steps=4",
    ]
    trained = cli_main(["fit", *args, *head]).model.state_dict()
    assert set(trained) - set(all_step) == {"net.halting.linear.weight", "net.halting.linear.bias"}
    for key, value in all_step.items():
        assert torch.equal(trained[key], value), key  # frozen, bit for bit
    # the head's bias starts at logit(1 / T) = log(1 / 2), then trains
    assert trained["net.halting.linear.bias"].item() != pytest.approx(math.log(1 / 2))
    (run,) = [p.parent for p in (offline_in_tmp / "head").glob("*/checkpoints/config.yaml")]
    test = ["test", "--config", str(run / "config.yaml"), "--ckpt_path", str(run / "last.ckpt")]
    with pytest.raises(ConfigError, match=r"^--init_from is for fit; .*add --init_from=null\)$"):
        cli_main(test)
    cli_main([*test, "--init_from=null"])
    rows = read_metrics(run_folders(offline_in_tmp)[-1])
    # the head's swept stops and the confidence threshold, on the same net in the same pass
    assert values(rows, "test/halt_threshold/lambda_0.5/glimpses") == pytest.approx(values(rows, "test/halt_glimpses"))
    assert values(rows, "test/halt_threshold/cumulative_0.0001/acc") and values(rows, "test/early_exit/tau_0.9999/acc")
    assert not list((offline_in_tmp / "head").glob("*/checkpoints/best-*.ckpt"))  # last.ckpt only


# ---------------------------------------------------------------- halting-frontier --head on fake metrics


def _curves(stage: str, curves: dict[str, dict[str, tuple[float, float]]]) -> dict[str, float]:
    prefixes = {rule: prefix for rule, (prefix, _) in hf.RULES.items()}
    row = {}
    for rule, points in curves.items():
        for threshold, (glimpses, accuracy) in points.items():
            row[f"{stage}/{prefixes[rule]}{threshold}/glimpses"] = glimpses
            row[f"{stage}/{prefixes[rule]}{threshold}/acc"] = accuracy
    return row


def _head_run(root: Path, val: dict, test: dict, val_acc: float = 0.98, test_acc: float = 0.98) -> Path:
    """A halting-head run as fit and test leave it: a fit folder with its config, the fit's W&B run
    (its validation values) and the test's after it."""
    (root / "abc" / "checkpoints").mkdir(parents=True)
    (root / "abc" / "checkpoints" / "config.yaml").write_text("seed_everything: 0\n")
    write_logged_run(
        root / "wandb" / "offline-run-20260101_000000-abc",
        [{"step": 9, "train/loss": 1.0}, {"step": 10, "val/acc": val_acc, **_curves("val", val)}],
    )
    write_logged_run(
        root / "wandb" / "offline-run-20260101_000500-def",
        [{"step": 10, "test/acc": test_acc, **_curves("test", test)}],
    )
    return root


# net "a": on validation lambda 0.1 is the fewest glimpses within half a point of val/acc 0.98 (0.976 >= 0.975);
# on test lambda 0.01 would be (0.976 at 1.5): the chosen threshold is validation's, and its test point is reported
VAL_A = {
    "confidence": {"0.5": (1.2, 0.95), "0.9": (1.6, 0.977), "0.99": (2.5, 0.98)},
    "lambda": {"0.01": (1.5, 0.97), "0.1": (2.0, 0.976), "0.5": (3.0, 0.98)},
    "cumulative": {"0.01": (1.4, 0.96), "0.1": (2.2, 0.976), "0.5": (3.1, 0.98)},
}
TEST_A = {
    "confidence": {"0.5": (1.0, 0.95), "0.9": (1.5, 0.97), "0.99": (2.0, 0.98)},
    "lambda": {"0.01": (1.5, 0.976), "0.1": (2.0, 0.978), "0.5": (3.0, 0.98)},
    "cumulative": {"0.01": (1.2, 0.94), "0.1": (2.0, 0.97), "0.5": (3.0, 0.98)},
}
TEST_B = {
    "confidence": {"0.5": (1.0, 0.94), "0.9": (1.5, 0.96), "0.99": (2.0, 0.97)},
    "lambda": {"0.01": (1.5, 0.97), "0.1": (2.0, 0.971), "0.5": (3.0, 0.97)},
    "cumulative": {"0.01": (1.2, 0.93), "0.1": (2.0, 0.96), "0.5": (3.0, 0.97)},
}


def test_each_rules_threshold_is_chosen_on_validation_and_scored_on_test(tmp_path: Path):
    net = hf.read_same_net(_head_run(tmp_path / "a", VAL_A, TEST_A))
    assert net.chosen == {"confidence": "0.9", "lambda": "0.1", "cumulative": "0.1"}
    assert net.operating("lambda") == (2.0, 0.978)  # not test's best (0.01: 0.976 at 1.5 glimpses)
    assert net.operating("confidence") == (1.5, 0.97)
    assert hf.choose({"x": (1.0, 0.9), "y": (2.0, 0.95)}, target=0.99) == "y"  # none close enough: the most accurate
    assert hf.choose({"x": (1.0, 0.99), "y": (1.0, 0.995), "z": (0.5, 0.9)}, target=0.99) == "y"


def test_accuracy_at_matched_glimpses_and_the_verdict_by_hand():
    curve = [(1.0, 0.90), (2.0, 0.96), (3.0, 0.5), (4.0, 0.98)]  # (3, 0.5) is dominated: not on the frontier
    assert hf.accuracy_at(curve, 1.5) == pytest.approx(0.93)
    assert hf.accuracy_at(curve, 3.0) == pytest.approx(0.97)  # halfway from (2, 0.96) to (4, 0.98)
    assert hf.accuracy_at(curve, 5.0) == 0.98 and hf.accuracy_at(curve, 0.5) is None
    assert hf.compare([-0.02, -0.01, -0.015]) == "behind"
    assert hf.compare([0.02, 0.01, 0.015]) == "ahead"
    assert hf.compare([0.02, -0.001, 0.015]) == "tie"  # not all of one sign
    assert hf.compare([0.001, 0.03]) == "tie"  # mean 0.0155 within its sd 0.0205


def test_halting_frontier_draws_the_same_nets_keeps_them_and_redraws_from_what_it_kept(tmp_path: Path):
    a = _head_run(tmp_path / "a", VAL_A, TEST_A)
    b = _head_run(tmp_path / "b", VAL_A, TEST_B, test_acc=0.97)
    ponder = tmp_path / "ponder"  # a separately trained halting run, kept as weightings --keep keeps one
    ponder.mkdir()
    (ponder / "config.yaml").write_text(
        "seed_everything: 3\nmodel:\n  objective:\n    class_path: lit_draw.objectives.PonderNet\n"
    )
    write_rows(ponder / "test_metrics.csv.gz", [{"test/halt_glimpses": 2.9, "test/halt_acc": 0.96}])
    recorded = tmp_path / "recorded.json"
    old = {
        "title": "old",
        "fixed_acc": 0.9,
        "threshold": [[1.0, 0.85], [2.0, 0.9]],
        "halting": [[3.0, 0.9]],
        "names": ["r"],
    }
    recorded.write_text(json.dumps({"about": "kept from an old figure.", "settings": [old]}))
    kept = tmp_path / "kept"
    args = ["halting-frontier", "--recorded", str(recorded), "--title", "toy", "--head", str(a), str(b)]
    args += ["--halting", str(ponder), "--keep", str(kept), "--out", str(tmp_path / "f.png")]
    png, pdf, md = cli_main(args)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and pdf.read_bytes()[:5] == b"%PDF-"
    table = md.read_text()
    assert f"Settings from `{recorded}` (old): kept from an old figure." in table
    assert "| old | 90.00% | 3.00 | 1.90 |" in table  # 1 + (0.895 - 0.85) / 0.05
    assert "| toy | 97.50% | not reached | 1.75 |" in table  # mean of the nets' confidence curves; 97.0% at 1.75
    assert "| toy | ponder (PonderNet, seed 3) | 2.90 | 96.00% |" in table
    # net a reaches 97.5% on confidence at 1.5 + 0.5 * 0.005 / 0.01 = 1.75, on lambda at 1.5 (0.976), cumulative 2.5
    assert "| a | 98.00% | 1.75 | 1.50 | 2.50 | 0.9: 1.50 glimpses, 97.00% | 0.1: 2.00 glimpses, 97.80% |" in table
    # at 1.5 glimpses lambda - confidence: a 0.976 - 0.97, b 0.97 - 0.96: ahead in both nets
    lines = {line.split(" | ")[0]: line for line in table.splitlines()}
    assert lines["| 1.5"].startswith("| 1.5 | 96.50 ± 0.71 | 97.30 ± 0.42 | ")
    assert " | 0.80 ± 0.28 (+0.60, +1.00) | " in lines["| 1.5"]
    assert lines["| 1.25"].startswith("| 1.25 | 95.50 ± 0.71 | - | ")  # lambda cannot stop before 1.5
    assert lines["| 1.25"].split(" | ")[4] == "-"  # no lambda - confidence where lambda cannot stop
    assert "- **lambda against the confidence threshold**: lambda is ahead at 1.5 glimpses" in table
    assert "lambda cannot stop as early as 1.25 glimpses" in table
    assert sorted(p.name for p in (kept / "a").iterdir()) == [
        "config.yaml",
        "fit_metrics.csv.gz",
        "test_metrics.csv.gz",
    ]
    again = [
        "halting-frontier",
        "--recorded",
        str(recorded),
        "--title",
        "toy",
        "--head",
        str(kept / "a"),
        str(kept / "b"),
    ]
    again += ["--halting", str(ponder), "--out", str(tmp_path / "g.png")]
    assert cli_main(again)[-1].read_text() == table


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--head", "x"], r"--head belongs to a setting: give --title first"),
        (
            ["--title", "t", "--head", "x", "--all-step", "y", "--halting", "z"],
            r"setting 't': give --all-step .* one of the two",
        ),
        (["--title", "t", "--all-step", "y"], r"setting 't': --all-step needs --halting"),
        (["--title", "t", "--head", "x", "--ship", "n"], r"setting 't': --ship chooses among --halting runs"),
        (["--title", "t", "--head", "x", "--head", "y"], r"--head given twice in the setting 't'"),
        ([], r"give a setting \(--title ...\) or --recorded FILE"),
    ],
)
def test_halting_frontier_refuses_settings_that_make_no_comparison(args, message, capsys):
    with pytest.raises(SystemExit):
        hf.main([*args, "--out", "f.png"])
    error = capsys.readouterr().err
    assert re.search(message, error), error


def test_a_recorded_file_with_a_bad_field_is_one_line_naming_it(tmp_path: Path):
    path = tmp_path / "r.json"
    setting = {"title": "t", "fixed_acc": 0.9, "threshold": [[1.0, 0.8]], "halting": [[1.0]], "names": ["x"]}
    path.write_text(json.dumps({"about": "a", "settings": [setting]}))
    with pytest.raises(
        LitDrawError,
        match=r"^--recorded .*r.json: settings\[0\].halting must be a list of \[glimpses, accuracy\] pairs, got \[\[1.0\]\]$",
    ):
        cli_main(["halting-frontier", "--recorded", str(path), "--out", str(tmp_path / "f.png")])
    path.write_text("{")
    with pytest.raises(LitDrawError, match=r"^--recorded .*r.json: not a JSON file"):
        cli_main(["halting-frontier", "--recorded", str(path), "--out", str(tmp_path / "f.png")])
