"""The layers of the package import only what they may (see docs/architecture.md).

Each layer's modules are imported in a fresh interpreter in which the forbidden packages
cannot be imported at all, so an indirect import is caught as well as a direct one.
"""

from __future__ import annotations

import pkgutil
from pathlib import Path

import pytest

import gpuviz_app
from tests.fresh_python import run_python

ROOT = Path(gpuviz_app.__file__).parent

RULES = {
    "core": ["PySide6", "vispy", "OpenGL", "superqt"],
    "data": ["PySide6", "vispy", "OpenGL", "superqt"],
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
def test_layer_imports_nothing_forbidden(layer):
    modules = layer_modules(layer)
    code = BLOCKER.format(forbidden=RULES[layer], modules=modules)
    proc = run_python(code)
    assert proc.returncode == 0, proc.stderr[-3000:]


def test_the_rule_catches_a_violation():
    """The checker itself fails when a forbidden import happens."""
    code = BLOCKER.format(forbidden=["json"], modules=["json"])
    proc = run_python(code, timeout=60)
    assert proc.returncode != 0 and "layer rule" in proc.stderr


def test_window_start_up_path_does_not_import_torch():
    """The window must appear before torch loads: importing the UI must not pull it in."""
    code = (
        "import sys, vispy; vispy.use(app='pyside6')\n"
        "import gpuviz_app.ui.main_window, gpuviz_app.ui.app, gpuviz_app.cli\n"
        "print('torch' in sys.modules)\n"
    )
    proc = run_python(code, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "False"
