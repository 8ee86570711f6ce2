"""The ``bench`` command end to end with tiny sizes, and the speed paths it exercises (no timed asserts)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
import torch

from lit_draw.experiments import bench
from lit_draw.experiments.bench import DEFAULT_CONFIGS, main
from lit_draw.models import RAM, WSRAM, DRAWClassifier
from lit_draw.module import AttentionClassifier
from lit_draw.objectives import CrossEntropy

ROWS = (
    "model",
    "config",
    "device",
    "versions",
    "date",
    "batch size / precision / compile",
    "timed steps (after warm-up) x rounds",
    "training, Trainer (samples/s)",
    "ms per training step",
    "evaluation, Trainer (samples/s)",
    "peak memory",
    "canvas generation (canvases/s)",
    "training, bare PyTorch loop (samples/s)",
    "Trainer overhead (Trainer / bare loop, time)",
    "training, analysis callbacks on (samples/s)",
    "evaluation, analysis callbacks on (samples/s)",
    "analysis callbacks, training (on / off, time)",
    "analysis callbacks, evaluation (on / off, time)",
)
RATES = [row for row in ROWS if row.endswith("/s)")]
RATIOS = [row for row in ROWS if row.endswith(", time)")]

TINY = {
    "draw": [
        "--model.net.init_args.read_n=4",
        "--model.net.init_args.enc_size=16",
        "--model.net.init_args.dec_size=16",
    ],
    "ram": [
        "--model.net.init_args.patch=4",
        "--model.net.init_args.scales=2",
        "--model.net.init_args.core_size=16",
        "--model.net.init_args.mc_samples=2",
    ],
    "wsram": [
        "--model.net.init_args.patch=4",
        "--model.net.init_args.samples=2",
        "--model.net.init_args.coarse_size=4",
        "--model.net.init_args.state_size=16",
        "--data.scale=[0.5,1.0]",
    ],
}


@pytest.fixture
def tiny_args(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The bench at tiny sizes, on the generated digits in the quick tier and on MNIST in slow tests."""
    slow = request.node.get_closest_marker("slow") is not None
    mnist_root = request.getfixturevalue("mnist_root" if slow else "synthetic_mnist_root")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    return [
        "--device=cpu",
        "--batch-size=8",
        "--steps=2",
        "--warmup=1",
        f"--root={mnist_root}",
        "--data.canvas_size=32",
        "--data.train_size=64",
        "--model.net.init_args.glimpses=2",
        "--model.net.init_args.hidden=16",
    ]


@pytest.mark.parametrize(
    ("model", "precision"),
    [("draw", "32-true"), ("draw", "bf16-mixed"), ("ram", "bf16-mixed"), ("wsram", "bf16-mixed")],
)
def test_bench_prints_every_row_with_positive_rates(
    model: str, precision: str, tiny_args: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
):
    rows = main(["--model", model, f"--precision={precision}", *tiny_args, *TINY[model]])
    out = capsys.readouterr().out
    assert "| quantity | value |" in out
    for row in ROWS:
        assert re.search(rf"^\| {re.escape(row)} \| .+ \|$", out, re.MULTILINE), row
    for row in RATES:
        assert float(rows[row].replace(",", "")) > 0, (row, rows[row])
    for row in RATIOS:
        assert re.fullmatch(r"\d+\.\d\dx \([+-]\d+%\)", rows[row]), (row, rows[row])
    assert rows["device"].startswith("cpu")
    assert rows["batch size / precision / compile"] == f"8 / {precision} / off"
    assert DEFAULT_CONFIGS[model][0] in rows["model"]
    assert not (tmp_path / "wandb").exists()  # the bench's W&B runs go to a temporary folder


@pytest.mark.slow
def test_cpu_time_runs_on_one_thread_and_restores_the_clock(tiny_args: list[str]):
    threads = torch.get_num_threads()
    rows = main(["--model", "draw", "--cpu-time", *tiny_args, *TINY["draw"]])
    assert rows["device"].endswith("1 threads, timed by its CPU clock")
    assert float(rows["training, Trainer (samples/s)"].replace(",", "")) > 0
    assert torch.get_num_threads() == threads and bench._clock is time.perf_counter


def test_cpu_time_refuses_cuda():
    with pytest.raises(ValueError, match="--cpu-time times the CPU only, got --device cuda"):
        bench.parse_args(["--model", "draw", "--device", "cuda", "--cpu-time"])


def test_bench_refuses_a_config_of_another_model(tiny_args: list[str]):
    config = Path(__file__).parents[1] / "configs" / DEFAULT_CONFIGS["draw"][1]
    with pytest.raises(ValueError, match="--model ram times RAM, but .* builds DRAWClassifier"):
        main(["--model", "ram", "--config", str(config), *tiny_args])


def test_bench_rejects_options_that_are_not_config_overrides():
    with pytest.raises(ValueError, match=r"--model\. or --data\."):
        main(["--model", "draw", "--device=cpu", "--trainer.max_steps=3"])


def test_compile_wraps_the_net_in_place_and_keeps_checkpoint_keys():
    net = DRAWClassifier(canvas_size=32, read_n=4, glimpses=2, enc_size=8, dec_size=8, hidden=8)
    eager = AttentionClassifier(
        DRAWClassifier(canvas_size=32, read_n=4, glimpses=2, enc_size=8, dec_size=8, hidden=8), CrossEntropy()
    )
    compiled = AttentionClassifier(net, CrossEntropy(), compile=True)
    assert compiled.net._compiled_call_impl is not None and eager.net._compiled_call_impl is None
    assert list(compiled.state_dict()) == list(eager.state_dict())


@pytest.mark.parametrize(
    "net",
    [
        DRAWClassifier(canvas_size=32, read_n=4, glimpses=2, enc_size=8, dec_size=8, hidden=8),
        RAM(
            canvas_size=32,
            patch=4,
            scales=2,
            glimpses=2,
            cell="lstm",
            core_size=8,
            what_hidden=8,
            where_hidden=8,
            glimpse_size=8,
            hidden=8,
            mc_samples=2,
        ),
        WSRAM(
            canvas_size=32,
            patch=4,
            glimpses=2,
            samples=2,
            coarse_size=4,
            what_hidden=8,
            where_hidden=8,
            glimpse_size=8,
            state_size=8,
            hidden=8,
        ),
    ],
    ids=["draw", "ram", "wsram"],
)
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_models_run_on_the_device_of_their_inputs(net: torch.nn.Module, training: bool):
    # On the meta device any tensor a forward pass creates on the CPU (a missing device=) fails the
    # step, so this stands in for a GPU: nothing in a step is pinned to the host.
    net = net.to("meta").train(training)
    images = torch.rand(3, 1, 32, 32, device="meta")
    trace = net(images, torch.zeros(3, dtype=torch.long, device="meta"), return_glimpses=True, return_gates=True)
    assert trace.logits.device.type == "meta" and trace.center.device.type == "meta"


@pytest.mark.slow
@pytest.mark.parametrize(
    "net",
    [
        DRAWClassifier(canvas_size=32, read_n=4, glimpses=2, enc_size=8, dec_size=8, hidden=8),
        RAM(
            canvas_size=32,
            patch=4,
            scales=2,
            glimpses=2,
            cell="lstm",
            core_size=8,
            what_hidden=8,
            where_hidden=8,
            glimpse_size=8,
            hidden=8,
            deterministic_eval=True,
            start="learned",
        ),
        WSRAM(
            canvas_size=32,
            patch=4,
            glimpses=2,
            samples=2,
            coarse_size=4,
            what_hidden=8,
            where_hidden=8,
            glimpse_size=8,
            state_size=8,
            hidden=8,
        ),
    ],
    ids=["draw", "ram", "wsram"],
)
def test_every_model_compiles_on_the_cpu_and_trains(net: torch.nn.Module):
    """``torch.compile`` (inductor) on the CPU: forward and backward run; a deterministic forward equals eager."""
    torch.manual_seed(0)
    images, labels = torch.rand(4, 1, 32, 32), torch.randint(0, 10, (4,))
    compiled = torch.compile(net)
    trace = compiled(images, labels)
    trace.logits.logsumexp(-1).sum().backward()
    grads = [p.grad for p in net.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
    if not isinstance(net, WSRAM):  # WS-RAM always samples its rollouts; the others are deterministic here
        net.eval()
        with torch.no_grad():
            torch.testing.assert_close(torch.compile(net)(images).logits, net(images).logits, rtol=1e-4, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize(
    "make_net",
    [
        lambda: DRAWClassifier(canvas_size=32, read_n=4, glimpses=2, enc_size=8, dec_size=8, hidden=8),
        lambda: RAM(
            canvas_size=32,
            patch=4,
            scales=2,
            glimpses=2,
            cell="lstm",
            core_size=8,
            what_hidden=8,
            where_hidden=8,
            glimpse_size=8,
            hidden=8,
        ),
        lambda: WSRAM(
            canvas_size=32,
            patch=4,
            glimpses=2,
            samples=2,
            coarse_size=4,
            what_hidden=8,
            where_hidden=8,
            glimpse_size=8,
            state_size=8,
            hidden=8,
        ),
    ],
    ids=["draw", "ram", "wsram"],
)
def test_a_training_forward_and_backward_never_wait_for_the_gpu(make_net):
    """``set_sync_debug_mode("error")`` raises on any host read or synchronising copy in the step."""
    net = make_net().cuda().train()
    images = torch.rand(4, 1, 32, 32, device="cuda")
    labels = torch.randint(0, 10, (4,), device="cuda")
    net(images, labels)  # first call: lazy initialisation may synchronise
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        trace = net(images, labels)
        trace.logits.logsumexp(-1).sum().backward()
    finally:
        torch.cuda.set_sync_debug_mode("default")


@pytest.mark.slow
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(
    "make_net",
    [
        lambda: DRAWClassifier(canvas_size=32, read_n=4, glimpses=2, enc_size=8, dec_size=8, hidden=8),
        lambda: RAM(
            canvas_size=32,
            patch=4,
            scales=2,
            glimpses=2,
            core_size=8,
            what_hidden=8,
            where_hidden=8,
            glimpse_size=8,
            mc_samples=2,
        ),
        lambda: WSRAM(
            canvas_size=32,
            patch=4,
            glimpses=2,
            samples=2,
            coarse_size=4,
            what_hidden=8,
            where_hidden=8,
            glimpse_size=8,
            state_size=8,
            hidden=8,
        ),
    ],
    ids=["draw", "ram", "wsram"],
)
def test_every_forward_is_one_graph_for_torch_compile(make_net, training: bool):
    """``torch._dynamo.explain``: no graph break, so a compiled step (CUDA graphs on a GPU) is whole."""
    import torch._dynamo

    torch._dynamo.reset()
    net = make_net().train(training)
    explained = torch._dynamo.explain(net)(torch.rand(3, 1, 32, 32), torch.randint(0, 10, (3,)))
    assert explained.graph_break_count == 0, [str(reason.reason) for reason in explained.break_reasons]
    assert explained.graph_count == 1
