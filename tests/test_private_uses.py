"""The private names lit_draw uses from other libraries: each listed in lit_draw.private_uses with its
reason, each still there in the installed versions, and those versions pinned in pyproject.toml."""

from __future__ import annotations

import ast
import re
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from lit_draw.experiments.wandb_sweeps import INSTALL_RECIPE, engine_available
from lit_draw.private_uses import PRIVATE_USES, TESTED_WITH, PrivateUse, exists

ROOT = Path(__file__).parents[1]


@pytest.mark.parametrize("use", PRIVATE_USES, ids=lambda use: f"{use.owner}.{use.name}")
def test_every_private_name_lit_draw_uses_is_still_there(use: PrivateUse):
    if use.distribution == "sweeps" and not engine_available():
        pytest.skip("W&B's sweep engine is the optional extra lit_draw[sweep]")
    assert exists(use), f"{use.owner} has no {use.name} any more: {use.where} used it to do this: {use.why}"


def test_a_name_that_is_gone_is_found_missing():
    assert not exists(PrivateUse("lightning.pytorch.callbacks:ModelCheckpoint", "_save_it_all", "-", "-", "lightning"))
    assert not exists(PrivateUse("wandb.sdk.lib.runid", "make_an_id", "-", "-", "wandb"))
    assert exists(
        PrivateUse("lightning.pytorch.loggers:WandbLogger", "_experiment", "-", "-", "lightning")
    )  # set in __init__


def test_each_use_names_its_place_and_reason_and_a_tested_distribution():
    for use in PRIVATE_USES:
        assert use.where.startswith("lit_draw.") and len(use.why) > 20
        assert use.distribution in TESTED_WITH or use.distribution == "python"


@pytest.mark.parametrize("name", ["lightning", "jsonargparse", "wandb"])
def test_pyproject_pins_each_library_below_its_next_minor_release_after_the_tested_one(name: str):
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    (requirement,) = [Requirement(d) for d in dependencies if Requirement(d).name == name]
    tested = Version(TESTED_WITH[name])
    uppers = [Version(spec.version) for spec in requirement.specifier if spec.operator == "<"]
    assert uppers, f"{requirement} has no upper bound"
    assert tested in requirement.specifier and max(uppers) <= Version(f"{tested.major}.{tested.minor + 1}")
    assert Version(version(name)) in requirement.specifier  # what is installed is what the pins allow


def test_the_sweep_engine_is_installed_at_the_tested_version():
    assert f'"sweeps=={TESTED_WITH["sweeps"]}"' in INSTALL_RECIPE
    if engine_available():
        assert version("sweeps") == TESTED_WITH["sweeps"]


def _private_names_used_and_defined() -> tuple[dict[str, set[str]], set[str]]:
    """(private attribute -> files that read or override it, private names lit_draw defines itself)."""
    used: dict[str, set[str]] = {}
    defined: set[str] = set()
    private = re.compile(r"^_[A-Za-z]\w*$")  # not dunders
    for path in sorted((ROOT / "lit_draw").rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                defined.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                defined.add(node.id)
            elif isinstance(node, ast.alias):
                defined.add(node.asname or node.name.split(".")[-1])
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
            ):
                defined.add(node.attr)
            if isinstance(node, ast.Attribute) and private.match(node.attr):
                used.setdefault(node.attr, set()).add(path.name)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id in ("getattr", "hasattr")
                and len(node.args) >= 2
                and isinstance(node.args[1], ast.Constant)
                and isinstance(node.args[1].value, str)
                and private.match(node.args[1].value)
            ):
                used.setdefault(node.args[1].value, set()).add(path.name)
    for path in sorted((ROOT / "lit_draw").rglob("*.py")):  # a method lit_draw defines that a base class has too
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and node.bases:
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and private.match(item.name) and _overrides(item):
                        used.setdefault(item.name, set()).add(path.name)
    return used, defined


def _overrides(method: ast.FunctionDef) -> bool:
    """Whether ``method`` calls ``super().<its own name>``: it overrides a base class's private method."""
    return any(
        isinstance(n, ast.Attribute)
        and n.attr == method.name
        and isinstance(n.value, ast.Call)
        and isinstance(n.value.func, ast.Name)
        and n.value.func.id == "super"
        for n in ast.walk(method)
    )


def test_every_private_name_of_another_library_that_lit_draw_uses_is_listed():
    """A private attribute lit_draw reads, or a private method it overrides, that lit_draw does not
    define itself must be in lit_draw.private_uses (with its reason)."""
    used, defined = _private_names_used_and_defined()
    listed = {use.name for use in PRIVATE_USES}
    foreign = {name: files for name, files in used.items() if name not in defined or name in listed}
    unlisted = {name: sorted(files) for name, files in foreign.items() if name not in listed}
    assert not unlisted, f"private names used but not listed in lit_draw/private_uses.py: {unlisted}"
