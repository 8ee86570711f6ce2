"""Every ``--key=value`` override the README or a config header writes is one the CLI's parser accepts
as written (issue 21: the README's own ``--model.weighting=last`` was rejected)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from lit_draw.cli import ConfigError, check_args

ROOT = Path(__file__).parents[1]
EXPERIMENTS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "configs").glob("*.yaml") if p.name != "reproduce.yaml")
# the parser's top-level options; any other ``--key=value`` must be another program's, listed here
LIT_DRAW = {"model", "data", "trainer", "optimizer", "lr_scheduler", "checkpoint", "seed_everything", "ckpt_path", "init_from", "reinit"}
OTHER_PROGRAMS = {
    "screenshot", "window-size",  # chromium
    "nodes", "ntasks-per-node", "gres", "signal",  # SBATCH
    "nnodes", "nproc-per-node", "node-rank", "rdzv-backend", "rdzv-endpoint",  # torchrun
    "key",  # the README's description of W&B's ${args}: --key=value
}
# placeholders the text writes for a value, and a value of that kind to parse in their place
PLACEHOLDERS = {"N": "2", "k": "1", "<std>": "0.1"}
OVERRIDE = re.compile(r"^--([A-Za-z_][\w.-]*)=(.*)$")
CONFIG = re.compile(r"configs/[\w/]+\.yaml")


def _words(text: str) -> list[str]:
    try:
        return shlex.split(text, comments=True)
    except ValueError:  # an apostrophe in prose
        return text.split()


def _overrides(words: list[str]) -> list[str]:
    """The lit_draw overrides among ``words``, placeholders replaced; another program's are left out."""
    found = []
    for word in words:
        match = OVERRIDE.match(word.strip("`()[],;."))
        if match is None:
            continue
        key, value = match.groups()
        if key.split(".")[0] not in LIT_DRAW:
            assert key in OTHER_PROGRAMS, f"--{key}=... is neither lit_draw's option nor a listed program's"
            continue
        if value in PLACEHOLDERS or value.startswith("<"):
            assert value in PLACEHOLDERS, f"--{key}={value}: add the placeholder {value} to PLACEHOLDERS"
            value = PLACEHOLDERS[value]
        found.append(f"--{key}={value}")
    return found


def readme_units() -> list[tuple[str, list[str], list[str]]]:
    """(where, configs named, overrides) for each command of a code block (continued lines joined)
    and each inline code span of README.md."""
    text = (ROOT / "README.md").read_text()
    units = []
    for block in re.findall(r"^```[^\n]*\n(.*?)^```", text, flags=re.S | re.M):
        for command in block.replace("\\\n", " ").splitlines():
            units.append((command.strip(), CONFIG.findall(command), _overrides(_words(command))))
    prose = re.sub(r"^```[^\n]*\n.*?^```", "", text, flags=re.S | re.M)
    for span in re.findall(r"`([^`]+)`", prose):
        units.append((span, CONFIG.findall(span), _overrides(_words(span))))
    return [unit for unit in units if unit[2]]


def header_units() -> list[tuple[str, list[str], list[str]]]:
    """(where, configs, overrides) for each comment line of a config or sweep file: the config the line
    names, else the file itself (a sweep: the config of its command)."""
    files = [*ROOT.glob("configs/*.yaml"), *ROOT.glob("configs/*/*.yaml"), *ROOT.glob("sweeps/**/*.yaml")]
    units = []
    for path in sorted(files):
        name = str(path.relative_to(ROOT))
        if name == "configs/reproduce.yaml":
            own = []  # its rows name their configs; their args are checked by the reproduce tests
        elif name.startswith("sweeps/"):
            command = (yaml.safe_load(path.read_text()) or {}).get("command", [])
            own = [command[command.index("--config") + 1]] if "--config" in command else []
        elif name.startswith("configs/") and name.count("/") == 1:
            own = [name]
        else:
            own = []  # a shared piece (data, callbacks, trainer): any experiment config
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "#" not in line:
                continue
            comment = line[line.index("#") + 1 :]
            overrides = _overrides(comment.split())
            if overrides:
                units.append((f"{name}:{number}: {comment.strip()}", CONFIG.findall(comment) or own, overrides))
    return units


def _accepted(configs: list[str], overrides: list[str]) -> str | None:
    """None if some config of ``configs`` (any experiment config when none) takes the overrides, else
    the parser's complaint about the first."""
    complaints = []
    for config in configs or EXPERIMENTS:
        try:
            check_args(["fit", "--config", config, *overrides])
            return None
        except ConfigError as error:
            complaints.append(f"{config}: {error}")
    return complaints[0]


def test_the_readme_and_the_config_headers_write_overrides():
    """The collection itself finds what it should (a regex that found nothing would pass every check)."""
    readme = [o for _, _, overrides in readme_units() for o in overrides]
    headers = [o for _, _, overrides in header_units() for o in overrides]
    assert "--model.objective.init_args.weighting=last" in readme
    assert "--checkpoint.filename=step-{step}" in readme  # shell quotes removed as the shell would
    assert "--model.objective.init_args.control_variates=false" in headers
    assert "--model.net.init_args.learn_std=true" in headers
    assert len(readme) >= 30


@pytest.mark.parametrize("unit", readme_units() + header_units(), ids=lambda unit: unit[0][:80])
def test_every_override_in_the_readme_and_config_headers_parses_as_written(unit, monkeypatch):
    where, configs, overrides = unit
    monkeypatch.chdir(ROOT)
    complaint = _accepted(configs, overrides)
    assert complaint is None, f"{where}\n  {' '.join(overrides)}\n  {complaint}"


def test_a_wrong_override_is_caught(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert "weighting" in _accepted(["configs/quickstart.yaml"], ["--model.weighting=last"])
    assert _accepted([], ["--model.net.init_args.deterministic_eval=true"]) is None  # a RAM config takes it
