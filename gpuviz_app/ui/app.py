"""Starting the window: the Qt application, signals, and a clean exit."""

from __future__ import annotations

import os
import signal
import sys

from gpuviz_app.ui.launch_options import LaunchOptions


def run_app(options: LaunchOptions) -> int:
    """Show the window for `options` and run until it closes; returns the exit status."""
    import vispy
    from PySide6 import QtCore, QtWidgets

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
    window = MainWindow(options)

    def stop(signum, frame) -> None:  # Ctrl+C or SIGTERM: close as if the user did
        QtCore.QTimer.singleShot(0, window.close)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    window.show()
    code = app.exec()
    code = code or window.exit_code
    if window.thread is not None and window.thread.isRunning():
        # A step that would not end within the deadline: leave without waiting for it.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    return code
