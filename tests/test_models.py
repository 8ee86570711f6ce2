"""Model-level behaviour: the gate-returning LSTM and the DRAW classifier's trace."""

import pytest
import torch

from lit_draw.models import DRAWClassifier
from lit_draw.models.lstm import GatedLSTMCell


def test_gated_lstm_matches_torch_lstm_cell():
    torch.manual_seed(0)
    cell = GatedLSTMCell(5, 7)
    reference = torch.nn.LSTMCell(5, 7)
    reference.load_state_dict(cell.state_dict())
    x, h, c = torch.randn(3, 5), torch.randn(3, 7), torch.randn(3, 7)
    h_ref, c_ref = reference(x, (h, c))
    h0, c0, none = cell(x, (h, c))
    assert none is None
    torch.testing.assert_close(h0, h_ref, rtol=0, atol=0)
    torch.testing.assert_close(c0, c_ref, rtol=0, atol=0)
    h1, c1, gates = cell(x, (h, c), return_gates=True)
    torch.testing.assert_close(h1, h_ref)
    torch.testing.assert_close(c1, c_ref)
    assert set(gates) == {"input", "forget", "output"}
    assert all(((g >= 0) & (g <= 1)).all() for g in gates.values())


def test_draw_trace_shapes_and_optional_fields():
    torch.manual_seed(0)
    model = DRAWClassifier(canvas_size=32, read_n=4, glimpses=3, enc_size=16, z_size=5, dec_size=16, hidden=8)
    images = torch.rand(2, 1, 32, 32)
    trace = model(images)
    assert trace.logits.shape == (3, 2, 10)
    assert trace.center.shape == (3, 2, 2) and trace.size.shape == (3, 2)
    for field in (trace.delta, trace.sigma2, trace.gamma):
        assert field.shape == (3, 2) and (field > 0).all()
    assert set(trace.cells) == {"encoder", "decoder"} and trace.cells["decoder"].shape == (3, 2, 16)
    assert trace.glimpses is None and trace.gates is None and trace.log_pi is None
    full = model(images, return_glimpses=True, return_gates=True)
    assert full.glimpses.shape == (3, 2, 4, 4)
    assert set(full.gates) == {f"{c}/{g}" for c in ("encoder", "decoder") for g in ("input", "forget", "output")}
    assert full.gates["decoder/forget"].shape == (3, 2, 16)
    torch.testing.assert_close(full.logits, trace.logits)


def test_draw_learns_where_to_look_gradients_reach_every_parameter():
    torch.manual_seed(0)
    model = DRAWClassifier(canvas_size=16, read_n=3, glimpses=2, enc_size=8, z_size=4, dec_size=8, hidden=8)
    trace = model(torch.rand(4, 1, 16, 16))
    trace.logits.sum().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


def test_draw_with_hidden_0_classifies_with_one_linear_layer_that_learns():
    """Gregor et al.'s classifier ends in "a softmax layer" (sec. 4.1): ``hidden: 0``."""
    from lit_draw.models.sequence_grad import SequenceLinear

    torch.manual_seed(0)
    model = DRAWClassifier(canvas_size=16, read_n=3, glimpses=2, enc_size=8, z_size=8, dec_size=8, hidden=0)
    assert isinstance(model.classifier, SequenceLinear) and model.classifier.weight.shape == (10, 8)
    model(torch.rand(4, 1, 16, 16)).logits.sum().backward()
    assert [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0] == []
    with pytest.raises(ValueError, match=r"DRAWClassifier.hidden must be an int >= 0 \(0: a linear classifier\)"):
        DRAWClassifier(hidden=-1)


@pytest.mark.parametrize("field", ["glimpses", "enc_size", "canvas_size"])
def test_draw_rejects_non_positive_sizes(field):
    with pytest.raises(ValueError, match=f"DRAWClassifier.{field} must be a positive int"):
        DRAWClassifier(**{field: 0})


def test_samplers_follow_their_distributions():
    from lit_draw.models.common import sample_categorical, sample_gaussian

    torch.manual_seed(0)
    mean, std = torch.tensor([0.5, -1.0]).expand(20000, 2), torch.tensor([0.1, 2.0]).expand(20000, 2)
    draws = sample_gaussian(mean, std)
    torch.testing.assert_close(draws.mean(0), torch.tensor([0.5, -1.0]), atol=0.05, rtol=0)
    torch.testing.assert_close(draws.std(0), torch.tensor([0.1, 2.0]), atol=0.05, rtol=0)
    probs = torch.tensor([0.1, 0.6, 0.3])
    counts = torch.bincount(sample_categorical(probs.log().expand(20000, 3)), minlength=3) / 20000
    torch.testing.assert_close(counts, probs, atol=0.015, rtol=0)


@pytest.mark.parametrize(
    ("model", "sizes", "message"),
    [
        ("DRAWClassifier", dict(canvas_size=40, read_n=100), r"DRAWClassifier.read_n must be <= canvas_size \(40\)"),
        ("DRAWClassifier", dict(canvas_size=40, read_n=41), r"DRAWClassifier.read_n must be <= canvas_size \(40\)"),
        (
            "RAM",
            dict(canvas_size=28, patch=8, scales=6),
            r"RAM.scales must be <= 2 .* = 256 px, must fit the canvas\), got 6",
        ),
        (
            "RAM",
            dict(canvas_size=28, patch=8, scales=3),
            r"RAM.scales must be <= 2 .* = 32 px, must fit the canvas\), got 3",
        ),
        ("RAM", dict(canvas_size=28, patch=30, scales=1), r"RAM.patch must be <= canvas_size \(28\), got 30"),
        (
            "WSRAM",
            dict(canvas_size=28, patch=8, zooms=[1, 4]),
            r"WSRAM.zooms must be at most 2 each .* = 32 px, must fit the canvas\), got \[1, 4\]",
        ),
        ("WSRAM", dict(canvas_size=28, patch=30, zooms=[1]), r"WSRAM.patch must be <= canvas_size \(28\), got 30"),
    ],
)
def test_models_refuse_a_read_that_does_not_fit_the_canvas(model, sizes, message):
    """The coarsest retina view (RAM's patch * 2^(scales-1), WS-RAM's patch * largest zoom) and DRAW's
    N x N read grid must fit the canvas, not only the finest patch."""
    from lit_draw import models

    with pytest.raises(ValueError, match=f"^{message}"):
        getattr(models, model)(**sizes)


@pytest.mark.parametrize(
    ("model", "sizes"),
    [
        ("DRAWClassifier", dict(canvas_size=40, read_n=40)),
        ("RAM", dict(canvas_size=28, patch=8, scales=2)),  # 16 px
        ("RAM", dict(canvas_size=100, patch=12, scales=4)),  # 96 px, as ram_cluttered100
        ("WSRAM", dict(canvas_size=100, patch=12, zooms=[1, 2, 4, 8])),  # 96 px
    ],
)
def test_models_take_a_read_that_just_fits_the_canvas(model, sizes):
    from lit_draw import models

    assert getattr(models, model)(**sizes).canvas_size == sizes["canvas_size"]


@pytest.mark.parametrize("model", ["DRAWClassifier", "RAM", "WSRAM"])
@pytest.mark.parametrize(
    ("shape", "why"),
    [((2, 1, 60, 60), "another canvas"), ((2, 40, 40), "no channel axis"), ((2, 3, 40, 40), "three channels")],
)
def test_models_refuse_canvases_they_were_not_built_for(model, shape, why):
    """A net built for 40x40 canvases given 60x60 ones would place its windows (DRAW) or clamp its
    glimpses (RAM, WS-RAM) for its own size and train on without a word; a missing channel axis
    failed deep inside the forward with an unpacking error."""
    from lit_draw import models

    sizes = {"WSRAM": {"zooms": [1, 2]}}.get(model, {})  # its default zooms need a 96 px canvas
    net = getattr(models, model)(canvas_size=40, **sizes).eval()
    with pytest.raises(
        ValueError, match=rf"^{model}: images must be \[B, 1, 40, 40\] .*got \[{', '.join(map(str, shape))}\]$"
    ):
        net(torch.rand(shape))
    assert net(torch.rand(2, 1, 40, 40)).logits.shape[1] == 2  # the canvas it was built for is taken


@pytest.mark.parametrize("value", [True, 2.5])
def test_models_reject_non_int_sizes(value):
    from lit_draw.models import RAM, WSRAM

    for model, field in ((DRAWClassifier, "read_n"), (RAM, "glimpses"), (WSRAM, "glimpses")):
        with pytest.raises(ValueError, match=f"{model.__name__}.{field} must be a positive int"):
            model(**{field: value})


def test_the_cli_parser_takes_a_yaml_int_for_a_float_field_and_hands_the_model_plain_numbers(tmp_path):
    """What jsonargparse (the CLI's parser) makes of the annotations: ``std: 1`` passes as 1.0 and every
    value reaches the model as a plain ``int`` / ``float``, not an instance of the restricted type
    (which ``torch.load(weights_only=True)`` would refuse to unpickle from a checkpoint's hparams)."""
    from jsonargparse import ArgumentParser

    from lit_draw.models import WSRAM

    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(WSRAM, "net")
    config = parser.parse_string(
        "net:\n  canvas_size: 28\n  patch: 4\n  zooms: [1, 2]\n  std: 1\n  temperature: 2\n  inference_network: false\n"
        "  hidden: 0\n"
    ).net.as_dict()
    assert config["std"] == 1.0 and config["temperature"] == 2.0 and config["inference_network"] is False
    assert type(config["std"]) is float and type(config["temperature"]) is float and type(config["patch"]) is int
    assert {type(v) for v in config.values()} == {int, float, bool, str, list}  # not one a subclass of them
    assert [type(z) for z in config["zooms"]] == [int, int]
    torch.save(config, tmp_path / "hparams.pt")
    assert torch.load(tmp_path / "hparams.pt", weights_only=True) == config
    net = WSRAM(**config)
    assert type(net.temperature) is float and net.temperature == 2.0 and type(net.patch) is int
