"""Help > About and Help > Copy diagnostics: what a bug report needs, without a blocking dialog."""

from __future__ import annotations

import platform

import numpy
import PySide6
import vispy
from PySide6 import QtGui

from gpuviz_app import __version__
from gpuviz_app.render.offscreen import gl_info
from tests.ui.conftest import wait_step


def window_gl(window) -> dict:
    canvas = window.panels["metrics"].canvas.canvas
    canvas.set_current()
    return gl_info()


def test_about_shows_version_license_credits_and_rendering(main_window, qtbot):
    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1)
    window.help_actions.about.trigger()  # opens window-modal without blocking
    dialog = window.help_actions.dialog
    assert dialog is not None and dialog.isVisible()
    text = dialog.text()
    assert f"gpuviz {__version__}" in text
    assert "MIT License" in text
    assert "Optical Recognition of Handwritten Digits" in text and "CC BY 4.0" in text
    gl = window_gl(window)
    assert gl["renderer"] and gl["renderer"] in text
    assert gl["version"] in text
    assert f"{window.upload.name} — {window.upload.reason}" in text
    assert window.snapshot.device_name in text
    dialog.close()


def test_copy_diagnostics_puts_a_report_on_the_clipboard(main_window, qtbot):
    import torch

    window = main_window("--device", "cpu")
    wait_step(qtbot, window, 1)
    QtGui.QGuiApplication.clipboard().clear()
    window.help_actions.copy.trigger()
    text = QtGui.QGuiApplication.clipboard().text()
    lines = text.splitlines()
    assert lines[0] == f"gpuviz {__version__}"
    assert f"Python: {platform.python_version()}" in text
    assert f"PyTorch: {torch.__version__}" in text
    assert f"PySide6: {PySide6.__version__}" in text
    assert f"VisPy: {vispy.__version__}" in text
    assert f"NumPy: {numpy.__version__}" in text
    assert f"OS: " in text and platform.system() in text
    gl = window_gl(window)
    assert f"OpenGL renderer: {gl['renderer']}" in lines
    assert f"OpenGL version: {gl['version']}" in lines
    assert f"Training device: {window.snapshot.device_name}" in lines
    assert f"Upload path: {window.upload.name} ({window.upload.reason})" in lines
    cuda_line = next(line for line in lines if line.startswith("CUDA: "))
    assert cuda_line.startswith("CUDA: available") == torch.cuda.is_available()
    assert "copied" in window.statusBar().currentMessage()


def test_diagnostics_before_training_starts_do_not_fail(main_window):
    window = main_window("--device", "cpu", show=False)
    text = window.help_actions.copy_diagnostics()
    assert "Training device: cpu (training not started)" in text
    assert "OpenGL renderer: unknown" in text  # no GL context before the window is shown
