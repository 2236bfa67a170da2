"""The Qt binding must not drop references it does not own: the window emits its own signals every
frame, and a binding whose `emit` gives back a borrowed `True` (PySide6 6.12.0) drains the
interpreter's `True` until the app aborts mid-run or at exit."""

import sys

from PySide6 import QtCore

EMITS = 1000


class _Emitter(QtCore.QObject):
    step = QtCore.Signal(int)


def test_emitting_a_signal_keeps_the_interpreters_bool_references(qapp):
    emitter = _Emitter()
    received = []
    emitter.step.connect(received.append)
    before = sys.getrefcount(True), sys.getrefcount(False)
    for i in range(EMITS):
        emitter.step.emit(i)
    after = sys.getrefcount(True), sys.getrefcount(False)
    assert received == list(range(EMITS))
    # Other threads may take or drop a few references meanwhile; a leak is one per emit.
    assert abs(after[0] - before[0]) < EMITS // 10, f"True lost {before[0] - after[0]} references in {EMITS} emits"
    assert abs(after[1] - before[1]) < EMITS // 10, f"False lost {before[1] - after[1]} references in {EMITS} emits"
