"""The commands of ``python -m lit_draw``: registered by the program (``lit_draw.__main__``), not known to
the CLI; every documented command dispatches; the CLI imports no experiment tool."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import lit_draw.__main__ as program
from lit_draw.cli.names import LIGHTNING_COMMANDS, Command, check_command
from lit_draw.errors import ConfigError

ROOT = Path(__file__).parents[1]
#: Where each registered command's ``main`` lives (written out here, so that a loader that returns another
#: module's ``main`` fails).
MODULES = {
    "bench": "lit_draw.experiments.bench",
    "reproduce": "lit_draw.experiments.reproduce",
    "figures": "lit_draw.experiments.figures",
    "halting-frontier": "lit_draw.experiments.halting_frontier",
    "plateau": "lit_draw.experiments.plateau",
    "sweep": "lit_draw.experiments.sweep",
    "view": "lit_draw.viewer",
    "weightings": "lit_draw.experiments.weightings",
}


def documented_commands() -> set[str]:
    """Every ``python -m lit_draw <command>`` written in the README and docs/."""
    text = "\n".join(path.read_text() for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])
    return set(re.findall(r"python -m lit_draw ([a-z][a-z-]*)", text))


def test_every_documented_command_is_lightnings_or_registered_and_every_registered_one_is_documented():
    documented = documented_commands()
    assert {"fit", "test"} <= documented
    assert documented - set(LIGHTNING_COMMANDS) == set(program.COMMANDS)
    assert set(program.COMMANDS) == set(MODULES)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_registered_command_dispatches_its_arguments_to_its_main(name: str, monkeypatch: pytest.MonkeyPatch):
    calls: list[list[str]] = []
    fake = Command(program.COMMANDS[name].summary, lambda: lambda args: calls.append(args) or "ran")
    monkeypatch.setitem(program.COMMANDS, name, fake)
    assert program.main([name, "--x", "1"]) == "ran"
    assert calls == [["--x", "1"]]


@pytest.mark.parametrize("name", sorted(MODULES))
def test_a_registered_commands_loader_returns_its_modules_main(name: str):
    loaded = program.COMMANDS[name].load()
    assert callable(loaded) and loaded.__name__ == "main" and loaded.__module__ == MODULES[name]


def test_a_command_is_refused_unless_lightnings_or_registered():
    check_command(["fit"])
    check_command(["view"], program.COMMANDS)
    with pytest.raises(ConfigError, match=r"command must be one of fit, validate, test, predict, got 'view'"):
        check_command(["view"])  # the CLI alone knows only LightningCLI's four
    with pytest.raises(ConfigError, match=r"one of fit, validate, test, predict, bench, .*, view, got 'viwe'"):
        check_command(["viwe"], program.COMMANDS)


def test_the_help_names_each_registered_command_with_its_summary(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as stop:
        program.main(["--help"])
    assert stop.value.code == 0
    text = " ".join(capsys.readouterr().out.split())
    for name, command in program.COMMANDS.items():
        assert f"{name} ({command.summary})" in text


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports (``from a.b import c`` gives ``a.b`` and ``a.b.c``), at any depth."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def _sources(package: str) -> list[Path]:
    return sorted((ROOT / "lit_draw" / package).rglob("*.py"))


def test_the_cli_imports_no_tool_and_resolves_no_module_name():
    for path in _sources("cli"):
        tools = {m for m in _imports(path) if m.startswith(("lit_draw.experiments", "lit_draw.viewer"))}
        assert not tools, f"{path.name} imports {tools}"
        assert "import_module" not in path.read_text(), path.name


def test_models_import_no_lightning_or_wandb_data_no_models_and_callbacks_only_the_trace():
    for path in _sources("models"):
        heavy = {m for m in _imports(path) if m.split(".")[0] in ("lightning", "pytorch_lightning", "wandb")}
        assert not heavy, f"models/{path.name} imports {heavy}"
    for path in _sources("data"):
        models = {m for m in _imports(path) if m.startswith("lit_draw.models")}
        assert not models, f"data/{path.name} imports {models}"
    for path in _sources("callbacks"):  # a callback reads the Trace, never a model
        models = {
            m for m in _imports(path) if m.startswith("lit_draw.models") and not m.startswith("lit_draw.models.trace")
        }
        assert not models, f"callbacks/{path.name} imports {models}"
