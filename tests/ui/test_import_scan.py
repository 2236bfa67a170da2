"""PySide6's per-import check reads bytes: the same answers as PySide's own, no source text kept."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import types

from gpuviz_app.ui.import_scan import bytes_check


def _module(path) -> types.ModuleType:
    module = types.ModuleType(path.stem)
    module.__file__ = str(path)
    return module


def test_a_source_file_is_searched_as_bytes_and_anything_else_goes_to_the_fallback(tmp_path):
    uses = tmp_path / "uses_qt.py"
    uses.write_text("# café\nfrom PySide6 import QtCore\n", encoding="utf-8")
    plain = tmp_path / "plain.py"
    plain.write_text("import numpy  # PySide2, pyside6: other names\n", encoding="latin-1")
    asked = []

    def fallback(module):
        asked.append(module.__name__)
        return True

    check = bytes_check(fallback)
    assert check(_module(uses)) is True
    assert check(_module(plain)) is False
    assert asked == []  # source files never reach PySide's own check
    assert check(types.ModuleType("builtin_like")) is True  # no file: PySide decides
    assert check(_module(tmp_path / "gone.py")) is True  # unreadable: PySide decides
    assert check(_module(tmp_path / "ext.so")) is True
    assert asked == ["builtin_like", "gone", "ext"]


SCRIPT = """
import linecache, sys
sys.path.insert(0, sys.argv[1])
from PySide6 import QtCore
from gpuviz_app.ui.import_scan import read_bytes_in_pyside_scan
feature = sys.modules["shibokensupport.feature"]
own = feature._mod_uses_pyside
assert read_bytes_in_pyside_scan() and read_bytes_in_pyside_scan()
assert feature._mod_uses_pyside is not own and feature._mod_uses_pyside.reads_bytes
import with_qt, without_qt
print(sum(1 for name in linecache.cache if name.endswith(("with_qt.py", "without_qt.py"))))
print(feature.pyside_feature_dict["with_qt"], feature.pyside_feature_dict["without_qt"],
      own(with_qt), own(without_qt))
"""


def test_modules_imported_after_pyside_get_pysides_answer_without_their_source_being_kept(tmp_path):
    (tmp_path / "with_qt.py").write_text("from PySide6 import QtCore\nVALUE = 1\n")
    (tmp_path / "without_qt.py").write_text("VALUE = 2\n")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), str(tmp_path)], capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    kept, marks = out.stdout.split("\n")[:2]
    # 0: the module may use PySide features; -1: PySide ignores it (as its own check decides)
    assert marks.split() == ["0", "-1", "True", "False"]
    assert kept == "0"  # PySide's own check would have put both files' lines in linecache
