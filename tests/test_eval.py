"""`quantlib eval` and install hints."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

from quantlib.cli import main

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
DIST = PYPROJECT["project"]["name"]
EXTRAS = set(PYPROJECT["project"]["optional-dependencies"])


def run(capsys, *argv):
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.fixture
def emb(tmp_path):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((400, 48)).astype(np.float32)
    path = tmp_path / "x.npy"
    np.save(path, x)
    return str(path)
# ---------------------------------------------------------------------------- point 12: install hints


def test_plot_without_matplotlib_names_the_distribution_of_pyproject(capsys, emb, monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib raises ImportError
    status, _, err = run(capsys, "eval", emb, "--plot", str(tmp_path / "p.png"))
    assert status == 1
    assert f"pip install '{DIST}[plot]'" in err and "plot" in EXTRAS
    assert DIST != "quantlib"  # the index's 'quantlib' is the QuantLib finance library


def _install_commands():
    files = [*sorted((ROOT / "quantlib").rglob("*.py")), *sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]
    for path in files:
        for match in re.finditer(r"pip install ([^\n`]*)", path.read_text()):
            yield path.relative_to(ROOT), match.group(1).split("#")[0]  # not a shell comment after it


def test_every_install_hint_names_this_distribution_and_its_extras():
    found = 0
    for path, args in _install_commands():
        for word in args.split():
            word = word.strip("'\")")
            spec = re.fullmatch(r"(\.|[A-Za-z0-9_.-]+)(?:\[([a-z,]+)\])?", word)
            if word.startswith("-") or spec is None:
                continue
            name, extras = spec.group(1), spec.group(2)
            assert name != "quantlib", f"{path}: pip install {args!r} installs QuantLib, the finance library"
            if name in (".", DIST):
                found += 1
                assert set((extras or "").split(",")) - {""} <= EXTRAS, f"{path}: unknown extra in {args!r}"
    assert found >= 3


def _sh_lines(text):
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            yield line.split("#")[0].strip()


def test_readme_gives_the_users_install_before_the_developers():
    lines = [line for line in _sh_lines((ROOT / "README.md").read_text()) if line]
    user = lines.index("pip install -e .")
    dev = lines.index('pip install -e ".[dev]"')  # what CI runs, then the tests
    assert user < dev and lines[dev + 1] == "python -m pytest"
    assert "dev" in EXTRAS
