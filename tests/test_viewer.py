"""The attention viewer: its numbers by hand, the command on real checkpoints, the page in headless chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
import yaml

from lit_draw.__main__ import main  # the program: fit / test and the registered view
from lit_draw.models import RAM, DRAWClassifier
from lit_draw.viewer import render_page
from lit_draw.viewer.build import TRADEOFF_TAUS, data_settings, sample_views, short_names, summarise

SIZE = 32
ARTIFACTS = Path(__file__).parents[1] / "artifacts"


# ---------------------------------------------------------------------------------- the numbers


def test_summarise_counts_accuracy_tradeoff_and_confusion_by_hand():
    # 2 glimpses, 3 canvases (labels 0, 1, 2), 3 classes; probabilities chosen to be read off directly
    probs = torch.tensor(
        [
            [[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.2, 0.6]],  # glimpse 1: predicts 0, 0, 2
            [[0.9, 0.05, 0.05], [0.1, 0.8, 0.1], [0.1, 0.7, 0.2]],  # glimpse 2: predicts 0, 1, 1
        ]
    )
    summary = summarise(probs.log(), torch.tensor([0, 1, 2]))
    assert summary["count"] == 3
    assert summary["acc_glimpse"] == pytest.approx([2 / 3, 2 / 3], abs=1e-4)
    assert summary["confusion"] == [[1, 0, 0], [0, 1, 0], [0, 1, 0]]
    points = zip(summary["tradeoff"]["acc"], summary["tradeoff"]["glimpses"], strict=True)
    tradeoff = dict(zip(summary["tradeoff"]["tau"], points, strict=True))
    assert tradeoff.keys() == set(TRADEOFF_TAUS)
    # tau 0.5: every canvas stops at glimpse 1 (0.8, 0.6, 0.6): predictions 0, 0, 2 -> 2 of 3 right
    assert tradeoff[0.5] == pytest.approx((2 / 3, 1.0), abs=1e-3)
    # tau 0.7: canvas 0 stops at 1 (0.8); the others go on to glimpse 2: predictions 0, 1, 1
    assert tradeoff[0.7] == pytest.approx((2 / 3, 5 / 3), abs=1e-3)
    # tau 1: nobody is that sure: everybody uses both glimpses
    assert tradeoff[1.0] == pytest.approx((2 / 3, 2.0), abs=1e-3)


def test_short_names_keep_just_enough_of_the_path_to_tell_checkpoints_apart():
    assert short_names(["runs/a/checkpoints/best.ckpt", "runs/a/checkpoints/last.ckpt"]) == [
        "a/best.ckpt",
        "a/last.ckpt",
    ]
    assert short_names(["x/a/last.ckpt", "y/a/last.ckpt", "last.ckpt"]) == [
        "x/a/last.ckpt",
        "y/a/last.ckpt",
        "last.ckpt",
    ]


def test_data_settings_read_data_files_run_configs_and_referenced_data_files(tmp_path: Path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "small.yaml").write_text("canvas_size: 36\nclutter: 2\n")
    (tmp_path / "experiment.yaml").write_text("model: {lr: 0.1}\ndata: data/small.yaml\n")
    (tmp_path / "config.yaml").write_text(
        yaml.safe_dump(
            {"data": {"class_path": "lit_draw.data.CanvasMNIST", "init_args": {"canvas_size": 40, "extra": 1}}}
        )
    )
    assert data_settings(tmp_path / "data" / "small.yaml") == {"canvas_size": 36, "clutter": 2}
    assert data_settings(tmp_path / "experiment.yaml") == {"canvas_size": 36, "clutter": 2}
    assert data_settings(tmp_path / "config.yaml") == {"canvas_size": 40}
    with pytest.raises(ValueError, match="--data-config: no such file"):
        data_settings(tmp_path / "nowhere.yaml")


@pytest.mark.parametrize("name", ["draw", "ram"])
def test_sample_views_carry_each_glimpse_window_probabilities_and_patch(name: str):
    if name == "draw":
        model = DRAWClassifier(SIZE, read_n=4, glimpses=2, enc_size=8, dec_size=8, hidden=8)
    else:
        model = RAM(SIZE, patch=6, scales=2, glimpses=2, core_size=8)
    model.eval()
    with torch.no_grad():
        trace = model(torch.rand(3, 1, SIZE, SIZE), return_glimpses=True)
    views = sample_views(trace)
    assert len(views) == 3
    view = views[1]
    assert torch.allclose(torch.tensor(view["center"]), trace.center[:, 1], atol=0.01)
    assert view["size"] == pytest.approx(trace.size[:, 1].tolist(), abs=0.01)
    assert [sum(p) for p in view["probs"]] == pytest.approx([1.0, 1.0], abs=1e-3)
    scales, h, w = view["patches"]["shape"]
    assert (h, w) == tuple(trace.glimpses.shape[-2:]) and scales == (2 if isinstance(model, RAM) else 1)
    for t, encoded in enumerate(view["patches"]["pixels"]):
        pixels = torch.frombuffer(bytearray(base64.b64decode(encoded)), dtype=torch.uint8)
        expected = trace.glimpses[t, 1].reshape(-1)
        expected = (expected / expected.max() * 255).round()
        assert torch.equal(pixels.float(), expected)  # each patch scaled to its own maximum
    if isinstance(model, DRAWClassifier):
        assert view["delta"] == pytest.approx(trace.delta[:, 1].tolist(), abs=1e-3)
        assert view["sigma2"] == pytest.approx(trace.sigma2[:, 1].tolist(), abs=1e-3)
    else:
        assert view["delta"] is None and view["sigma2"] is None


def _fetches(page: str) -> list[str]:
    """Anything in ``page`` that could make a browser fetch (SVG's namespace URI is a name, not a fetch)."""
    return re.findall(r"""(?:src|href)\s*=|https?://|@import|<link""", page.replace('"http://www.w3.org/2000/svg"', ""))


def test_page_embeds_its_data_safely_and_needs_no_network():
    data = {
        "title": "</script><b>x</b>",
        "canvas": {"height": 2, "width": 2},
        "num_classes": 10,
        "canvases": [],
        "checkpoints": [],
        "errors": [{"name": "a</script>.ckpt", "reason": "no such file"}],
        "confusion_difference": None,
    }
    page = render_page(data)
    assert page.count("</script>") == 2  # the data block's and the viewer script's, nothing from the data
    embedded = re.search(r'<script id="viewer-data" type="application/json">(.*?)</script>', page, re.S).group(1)
    assert json.loads(embedded) == data
    assert not _fetches(page)


# ---------------------------------------------------------------------------------- real checkpoints


def _fit(directory: str, args: list[str]) -> None:
    main(
        [
            "fit",
            *args,
            f"--trainer.default_root_dir={directory}",
            "--trainer.logger=false",
            "--trainer.enable_progress_bar=false",
            "--trainer.limit_val_batches=0",
            "--trainer.callbacks=[]",
            "--checkpoint.monitor=null",
        ]
    )


@pytest.fixture(scope="module")
def runs(mnist_root: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Tiny real runs on 32x32 MNIST: DRAW with checkpoints after steps 1 and 2, RAM, and a foreign-sized DRAW."""
    root = tmp_path_factory.mktemp("viewer_runs")
    data = [
        f"--data.root={mnist_root}",
        f"--data.canvas_size={SIZE}",
        "--data.batch_size=16",
        "--data.val_size=64",
        "--data.train_size=64",
        "--data.test_size=48",
    ]
    configs = Path(__file__).parents[1] / "configs"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        patch.setenv("WANDB_MODE", "offline")
        _fit(
            "draw",
            [
                "--config",
                str(configs / "quickstart.yaml"),
                *data,
                "--model.net.init_args.glimpses=3",
                "--model.net.init_args.read_n=4",
                "--model.net.init_args.enc_size=16",
                "--model.net.init_args.dec_size=16",
                "--model.net.init_args.hidden=16",
                "--trainer.max_steps=2",
                "--checkpoint.every_n_train_steps=1",
                "--checkpoint.save_top_k=-1",
                "--checkpoint.filename=step{step}",
            ],
        )
        _fit(
            "ram",
            [
                "--config",
                str(configs / "ram_translated60.yaml"),
                *data,
                "--model.net.init_args.glimpses=2",
                "--model.net.init_args.patch=6",
                "--model.net.init_args.scales=2",
                "--model.net.init_args.core_size=16",
                "--model.net.init_args.mc_samples=1",
                "--trainer.max_steps=1",
            ],
        )
    # the same DRAW claiming a 40x40 canvas: its weights do not depend on the canvas size, so it loads
    state = torch.load(root / "draw/checkpoints/last.ckpt", map_location="cpu", weights_only=False)
    state["hyper_parameters"]["net"]["init_args"]["canvas_size"] = 40
    torch.save(state, root / "draw40.ckpt")
    (root / "garbage.ckpt").write_text("not a checkpoint")
    return {"root": root, "draw": root / "draw/checkpoints", "ram": root / "ram/checkpoints"}


def _view(out: Path, *checkpoints: Path, samples: int = 6) -> dict:
    args = [a for c in checkpoints for a in ("--ckpt", str(c))]
    return main(["view", *args, "--samples", str(samples), "--out", str(out)])


@pytest.mark.slow
def test_view_compares_epochs_and_models_and_reports_unusable_checkpoints_by_name(runs, tmp_path: Path, capsys):
    draw, ram, root = runs["draw"], runs["ram"], runs["root"]
    out = tmp_path / "view.html"
    data = _view(
        out,
        draw / "step1.ckpt",
        draw / "step2.ckpt",
        ram / "last.ckpt",
        root / "draw40.ckpt",
        root / "garbage.ckpt",
        root / "missing.ckpt",
    )
    assert out.is_file()
    assert [c["name"] for c in data["checkpoints"]] == ["draw/step1.ckpt", "draw/step2.ckpt", "ram/last.ckpt"]
    run = root.name
    reasons = {e["name"]: e["reason"] for e in data["errors"]}
    assert reasons.keys() == {f"{run}/draw40.ckpt", f"{run}/garbage.ckpt", f"{run}/missing.ckpt"}
    assert reasons[f"{run}/draw40.ckpt"] == "canvas_size 40 differs from the test canvases' 32x32"
    assert reasons[f"{run}/garbage.ckpt"].startswith("cannot be loaded (UnpicklingError: ")
    assert reasons[f"{run}/missing.ckpt"] == "no such file"
    assert "garbage.ckpt not shown" in capsys.readouterr().err
    # one fixed set for everybody: 6 canvases shown, all 48 test canvases summarised
    assert len(data["canvases"]) == 6 and {len(c["samples"]) for c in data["checkpoints"]} == {6}
    assert {c["summary"]["count"] for c in data["checkpoints"]} == {48}
    first, second, third = data["checkpoints"]
    assert (first["model"], first["glimpses"], first["n_scales"]) == ("DRAWClassifier", 3, 1)
    assert (third["model"], third["glimpses"], third["n_scales"]) == ("RAM", 2, 2)
    assert first["samples"][0] != second["samples"][0]  # one more training step moved something
    difference = torch.tensor(second["summary"]["confusion"]) - torch.tensor(first["summary"]["confusion"])
    assert data["confusion_difference"]["matrix"] == difference.tolist()
    assert sum(map(sum, first["summary"]["confusion"])) == 48


@pytest.mark.slow
def test_view_with_no_loadable_checkpoint_still_writes_the_reasons(runs, tmp_path: Path):
    out = tmp_path / "view.html"
    with pytest.raises(SystemExit, match="no checkpoint could be loaded"):
        main(
            [
                "view",
                "--ckpt",
                str(runs["root"] / "garbage.ckpt"),
                "--data-config",
                str(runs["draw"] / "config.yaml"),
                "--out",
                str(out),
            ]
        )
    assert "garbage.ckpt" in out.read_text()


@pytest.mark.slow
def test_a_checkpoint_without_its_config_needs_data_config(tmp_path: Path):
    # (a missing checkpoint and --samples 0: tests/test_cli.py's table of one-line errors)
    (tmp_path / "a.ckpt").write_bytes(b"")
    with pytest.raises(ValueError, match="--data-config is needed: there is no config.yaml beside"):
        main(["view", "--ckpt", str(tmp_path / "a.ckpt"), "--out", str(tmp_path / "v.html")])


@pytest.mark.slow
def test_viewer_panel_logs_the_page_to_wandb_at_test_end(runs, mnist_root, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    config = runs["draw"] / "config.yaml"
    main(
        [
            "test",
            "--config",
            str(config),
            "--ckpt_path",
            str(runs["draw"] / "last.ckpt"),
            "--trainer.default_root_dir=test_run",
            "--trainer.callbacks=[{class_path: lit_draw.viewer.ViewerPanel, init_args: {samples: 4}}]",
            "--trainer.logger=lightning.pytorch.loggers.WandbLogger",
            f"--trainer.logger.init_args.save_dir={tmp_path}",
            "--trainer.logger.init_args.offline=true",
        ]
    )
    (page,) = (tmp_path / "wandb").glob("*run-*/files/media/html/test/viewer_*.html")  # W&B's file of the panel
    page = page.read_text()
    assert "<title>lit_draw viewer: last.ckpt</title>" in page
    assert not _fetches(page)


# ---------------------------------------------------------------------------------- in a real browser

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (apt-get install chromium)")

# Runs before the page's own script: any error or console message is recorded.
_CAPTURE = """<script>
window.__problems = [];
window.addEventListener("error", (e) => window.__problems.push("error: " + e.message));
for (const level of ["error", "warn", "log"]) {
  const original = console[level];
  console[level] = (...args) => { window.__problems.push(level + ": " + args.join(" ")); original.apply(console, args); };
}
</script>"""

# Runs after it: scripted clicks, with what the page shows before and after each written into the DOM.
_INTERACT = """<script>
(function () {
  const panels = [...document.querySelectorAll(".panel")];
  const look = () => panels.map((p) => ({
    window: p.querySelector("canvas.view").dataset.window,
    glimpse: p.querySelector("canvas.view").dataset.glimpse,
    bars: [...p.querySelectorAll(".bar")].map((b) => b.dataset.p).join(","),
    picture: p.querySelector("canvas.view").toDataURL(),
    patch: p.querySelector(".patches canvas").toDataURL(),
  }));
  const out = { start: look() };
  document.getElementById("next").click();
  out.next = look();
  out.label = document.getElementById("glimpse-label").textContent;
  document.querySelectorAll(".thumb")[3].click();
  out.canvas = look();
  out.selected = document.querySelector(".thumb.selected").dataset.index;
  document.dispatchEvent(new KeyboardEvent("keydown", { key: "ArrowLeft" }));
  out.left = look();
  const slider = document.getElementById("slider");
  slider.value = slider.max;
  slider.dispatchEvent(new Event("input"));
  out.slider = look();
  document.getElementById("play").click();
  out.playing = document.getElementById("play").textContent;
  document.getElementById("play").click();
  out.paused = document.getElementById("play").textContent;
  out.errors = document.getElementById("errors") ? document.getElementById("errors").textContent : "";
  out.summary = document.querySelectorAll("#summary svg path").length;
  out.confusion = document.querySelectorAll("#confusion td").length;
  out.problems = window.__problems;
  const pre = document.createElement("pre");
  pre.id = "results";
  pre.textContent = JSON.stringify(out);
  document.body.append(pre);
})();
</script>"""


def _chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    """Headless chromium with no network at all (every host resolves to nothing)."""
    return subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'chromium-profile'}",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


@needs_chromium
@pytest.mark.slow
def test_page_in_headless_chromium_steps_glimpses_switches_canvases_and_logs_nothing(runs, tmp_path: Path):
    draw = runs["draw"]
    page = tmp_path / "view.html"
    _view(page, draw / "step1.ckpt", runs["ram"] / "last.ckpt", runs["root"] / "garbage.ckpt")
    html = page.read_text()
    scripted = tmp_path / "scripted.html"
    scripted.write_text(html.replace("<head>", "<head>" + _CAPTURE, 1).replace("</body>", _INTERACT + "</body>", 1))

    result = _chromium(tmp_path, "--dump-dom", scripted.as_uri())
    console = [line for line in result.stderr.splitlines() if ":CONSOLE" in line]
    assert console == []
    match = re.search(r'<pre id="results">(.*?)</pre>', result.stdout, re.S)
    assert match, "the scripted clicks did not finish: " + result.stdout[-2000:]
    out = json.loads(match.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    assert out["problems"] == []
    draw_start, draw_next = out["start"][0], out["next"][0]
    assert (draw_start["glimpse"], draw_next["glimpse"]) == ("1", "2")
    assert draw_next["window"] != draw_start["window"]  # the window moved
    assert draw_next["bars"] != draw_start["bars"]  # and the class probabilities changed
    assert draw_next["patch"] != draw_start["patch"]
    assert out["label"] == "glimpse 2 / 3"
    assert out["selected"] == "3"
    assert out["canvas"][0]["picture"] != draw_next["picture"]  # another canvas is drawn
    assert out["canvas"][1]["picture"] != out["next"][1]["picture"]
    assert [p["glimpse"] for p in out["left"]] == ["1", "1"]  # the left arrow steps back
    assert [p["glimpse"] for p in out["slider"]] == ["3", "2"]  # RAM stops at its last glimpse, T = 2
    assert (out["playing"], out["paused"]) == ("Pause", "Play")
    assert "garbage.ckpt" in out["errors"]
    assert out["summary"] == 4  # two checkpoints x (accuracy per glimpse, trade-off curve)
    assert out["confusion"] == 100

    # the address can open the page on a canvas and glimpse
    opened = _chromium(tmp_path, "--dump-dom", page.as_uri() + "#canvas=4&glimpse=3").stdout
    assert re.findall(r'data-glimpse="(\d)"', opened) == ["3", "2"]
    assert re.search(r'class="thumb selected" data-index="3"', opened)

    shot = tmp_path / "viewer.png"
    _chromium(tmp_path, "--window-size=1400,1200", f"--screenshot={shot}", page.as_uri() + "#glimpse=2")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "test_viewer.png")
