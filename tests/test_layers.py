"""The layers of the package import only what they may (see docs/architecture.md).

The rules are import-linter contracts in pyproject.toml: layers, forbidden imports, and no cycles
inside any package. They read every import statement, function-level ones too. A second check
imports each layer in a fresh interpreter in which the forbidden packages cannot be imported at
all, which also catches a forbidden package pulled in through a third-party library.
"""

from __future__ import annotations

import os
import pkgutil
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gpuviz_app
from tests.fresh_python import run_python

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: import-linter brings tomli
    import tomli as tomllib

ROOT = Path(gpuviz_app.__file__).parent
REPO = ROOT.parent
CONTRACTS = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    """`lint-imports` with the repository's contracts on the `gpuviz_app` package found from `cwd`."""
    executable = shutil.which("lint-imports", path=str(Path(sys.executable).parent)) or shutil.which("lint-imports")
    if executable is None:
        pytest.fail("lint-imports is not installed (it comes with the `test` extra: pip install -e .[test])")
    env = dict(os.environ, PYTHONPATH=str(cwd), COLUMNS="1000", NO_COLOR="1")
    return subprocess.run([executable, "--no-cache", "--no-logo", str(REPO / "pyproject.toml")], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


def test_every_import_contract_is_kept():
    proc = lint_imports(REPO)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]
    assert f"Contracts: {len(CONTRACTS)} kept, 0 broken." in proc.stdout
    for contract in CONTRACTS:
        assert f"{contract['name']} KEPT" in proc.stdout


# One violation per contract, each inside a function (function-level imports count too).
VIOLATIONS = {
    "data/dataset.py": "def _violation():\n    from gpuviz_app.ui import app\n",
    "core/config.py": "def _violation():\n    import vispy\n",
    "sources/base.py": "def _violation():\n    from gpuviz_app import render\n",
    "__init__.py": "def _violation():\n    import PySide6\n",
    "render/colormaps.py": "def _violation():\n    from PySide6 import QtWidgets\n",
    "desktop.py": "def _violation():\n    from gpuviz_app import cli\n",
    "core/cycle_one.py": "from gpuviz_app.core import cycle_two\n",
    "core/cycle_two.py": "def _violation():\n    from gpuviz_app.core import cycle_one\n",
}


def test_each_contract_catches_a_violation(tmp_path):
    """The same contracts on a copy of the package with one violation of each: all are broken."""
    shutil.copytree(ROOT, tmp_path / "gpuviz_app", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for relative, code in VIOLATIONS.items():
        path = tmp_path / "gpuviz_app" / relative
        path.write_text((path.read_text() + "\n\n" if path.exists() else "") + code)
    proc = lint_imports(tmp_path)
    assert proc.returncode != 0
    assert f"Contracts: 0 kept, {len(CONTRACTS)} broken." in proc.stdout, proc.stdout[-6000:] + proc.stderr
    for contract in CONTRACTS:
        assert f"{contract['name']} BROKEN" in proc.stdout
    assert "No cycles are allowed in gpuviz_app.core" in proc.stdout and ".cycle_two -> .cycle_one" in proc.stdout


# Fresh-interpreter rules: what each layer may not load, directly or through any library.
RULES = {
    "core": ["PySide6", "vispy", "OpenGL", "superqt"],
    "data": ["PySide6", "vispy", "OpenGL", "superqt"],
    "sources": ["PySide6", "vispy", "OpenGL", "superqt"],
    "render": ["PySide6.QtWidgets", "superqt"],
    "export": ["PySide6.QtWidgets", "superqt"],
}

BLOCKER = """
import importlib.abc, sys
FORBIDDEN = {forbidden!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN):
            raise ImportError(f"layer rule: {{name}} may not be imported here")
        return None
sys.meta_path.insert(0, Block())
import importlib
for module in {modules!r}:
    importlib.import_module(module)
print("ok")
"""


def layer_modules(layer: str) -> list[str]:
    package = ROOT / layer
    names = [f"gpuviz_app.{layer}"]
    for info in pkgutil.walk_packages([str(package)], prefix=f"gpuviz_app.{layer}."):
        names.append(info.name)
    return names


@pytest.mark.parametrize("layer", sorted(RULES))
def test_layer_loads_nothing_forbidden_even_through_libraries(layer):
    assert (ROOT / layer).is_dir(), f"the layer gpuviz_app.{layer} is missing"
    modules = layer_modules(layer)
    code = BLOCKER.format(forbidden=RULES[layer], modules=modules)
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_fresh_interpreter_rule_catches_a_violation():
    """The checker itself fails when a forbidden import happens."""
    code = BLOCKER.format(forbidden=["json"], modules=["json"])
    proc = run_python(code, timeout=60)
    assert proc.returncode != 0 and "layer rule" in proc.stderr


def test_window_start_up_path_does_not_import_torch():
    """The window must appear before torch loads: importing the UI must not pull it in, nor
    what only listening for scripts or recording a video needs (each costs the first frame)."""
    later = ("torch", "zmq", "av", "gpuviz_app.sources.remote", "gpuviz_app.export.video")
    code = (
        "import sys, vispy; vispy.use(app='pyside6')\n"
        "import gpuviz_app.ui.main_window, gpuviz_app.ui.app, gpuviz_app.cli\n"
        f"print(sorted(m for m in {later!r} if m in sys.modules))\n"
    )
    proc = run_python(code, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]"
