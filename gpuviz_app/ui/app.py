"""Starting the window: the Qt application, signals, and a clean exit."""

from __future__ import annotations

import os
import signal
import sys
from dataclasses import replace
from typing import Callable

from gpuviz_app.ui.launch_options import LaunchOptions


def checked_device(options: LaunchOptions, warn: Callable[[str], None]) -> LaunchOptions | None:
    """A device asked for by name that torch cannot use: a scripted run ends (None: exit 2) with
    the same one line as `gpuviz record`; an interactive one says so through `warn` (a dialog)
    and trains on the CPU instead. Only then is torch loaded before the window shows."""
    if options.device in ("auto", "cpu"):
        return options
    from gpuviz_app.core.device import resolve_device

    try:
        resolve_device(options.device)
    except RuntimeError as exc:
        message = str(exc)
        if options.scripted:
            print(f"error: {message}", file=sys.stderr)
            return None
        print(f"warning: {message}; training on the CPU instead", file=sys.stderr)
        warn(f"gpuviz cannot train on {options.device}: {message.split(', but ')[-1]}.\n\n"
             "Training on the CPU instead.")
        return replace(options, device="cpu")
    return options


def run_app(options: LaunchOptions) -> int:
    """Show the window for `options` and run until it closes; returns the exit status."""
    import vispy
    from PySide6 import QtCore, QtWidgets

    from gpuviz_app.ui.import_scan import read_bytes_in_pyside_scan

    read_bytes_in_pyside_scan()  # before vispy's backend and torch bring in their modules
    vispy.use(app="pyside6")
    from gpuviz_app.desktop import APP_ID
    from gpuviz_app.ui.help_actions import application_icon
    from gpuviz_app.ui.main_window import MainWindow

    QtCore.QCoreApplication.setOrganizationName("gpuviz")
    QtCore.QCoreApplication.setApplicationName("gpuviz")
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication(sys.argv[:1])
    app.setApplicationDisplayName("gpuviz")
    app.setDesktopFileName(APP_ID)  # the launcher entry's name: desktops match the window to it
    app.setWindowIcon(application_icon())
    checked = checked_device(options, lambda text: QtWidgets.QMessageBox.warning(None, "gpuviz", text))
    if checked is None:
        return 2
    if checked.compare:
        from gpuviz_app.ui.compare_window import CompareWindow

        window = CompareWindow.for_paths(checked.compare, views=checked.views)
    else:
        window = MainWindow(checked)

    def stop(signum, frame) -> None:  # Ctrl+C or SIGTERM: close as if the user did
        QtCore.QTimer.singleShot(0, window.close)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    window.show()
    code = app.exec()
    code = code or window.exit_code
    from gpuviz_app.render import vispy_caches

    vispy_caches.save()  # glyphs first drawn since the first frame (the docks'), for the next launch
    if window.thread is not None and window.thread.isRunning():
        # A step that would not end within the deadline: leave without waiting for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
