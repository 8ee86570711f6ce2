"""What a run measures, from its resolved config: the keys compared, and the differences named."""

from __future__ import annotations

from lit_draw.experiments.protocol import differences, flatten, protocol

RESOLVED = {
    "seed_everything": 1,
    "trainer": {
        "max_epochs": 200,
        "max_time": "00:01:19:00",
        "gradient_clip_val": 5.0,
        "enable_progress_bar": False,
        "callbacks": [{"class_path": "lit_draw.callbacks.TrailingMean"}],
        "default_root_dir": "runs/x",
    },
    "model": {"net": {"class_path": "lit_draw.models.RAM", "init_args": {"std": 0.1, "glimpses": 6}}},
    "data": {"root": "/data", "canvas_size": 28, "num_workers": 2, "scale": [1.0, 1.0]},
    "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.0003, "fused": True}},
    "checkpoint": {"monitor": "val/acc", "mode": "max", "dirpath": None},
    "ckpt_path": "runs/x/last.ckpt",
}


def test_the_protocol_is_what_decides_the_numbers_and_nothing_that_only_runs_them():
    assert protocol(RESOLVED) == {
        "trainer.max_epochs": 200,
        "trainer.gradient_clip_val": 5.0,
        "model.net.class_path": "lit_draw.models.RAM",
        "model.net.init_args.std": 0.1,
        "model.net.init_args.glimpses": 6,
        "data.canvas_size": 28,
        "data.scale": [1.0, 1.0],
        "optimizer.class_path": "torch.optim.Adam",
        "optimizer.init_args.lr": 0.0003,
        "checkpoint.monitor": "val/acc",
        "checkpoint.mode": "max",
    }


def test_flatten_joins_keys_with_dots_and_keeps_lists_and_empty_mappings_as_values():
    assert flatten({"a": {"b": 1, "c": [1, {"d": 2}], "e": {}}, "f": None}) == {
        "a.b": 1,
        "a.c": [1, {"d": 2}],
        "a.e": {},
        "f": None,
    }


def test_differences_name_each_changed_key_and_skip_keys_only_one_side_has():
    ran = {
        "model.net.init_args.std": 0.17,
        "optimizer.init_args.lr": 0.001,
        "data.clutter": 8,
        "model.net.init_args.old": 1,
    }
    now = {
        "model.net.init_args.std": 0.1,
        "optimizer.init_args.lr": 0.001,
        "data.clutter": 8,
        "model.net.init_args.new": 2,
    }
    assert differences(ran, now) == ["model.net.init_args.std: 0.17 -> 0.1"]
    assert differences(now, now) == []
