"""Help > About gpuviz and Help > Copy diagnostics, and the application icon.

The About box says what a bug report needs (versions, GL renderer, upload path) besides the
license and data credits. It opens window-modal without blocking (`open`, not `exec`).
"""

from __future__ import annotations

from typing import Callable

from PySide6 import QtCore, QtGui, QtWidgets

from gpuviz_app import __version__
from gpuviz_app.desktop import ICON_SIZES
from gpuviz_app.resources import resource
from gpuviz_app.ui.diagnostics import Diagnostics

LICENSE = "MIT"
COPYRIGHT = "Copyright (c) 2026 gpuviz developers"


def application_icon() -> QtGui.QIcon:
    """The gpuviz icon at every shipped size (PNG, so no SVG plugin is needed)."""
    icon = QtGui.QIcon()
    for size in ICON_SIZES:
        try:
            icon.addFile(str(resource(f"icons/gpuviz-{size}.png")), QtCore.QSize(size, size))
        except FileNotFoundError:
            continue
    return icon


def credits_markdown() -> str:
    try:
        return resource("CREDITS.md").read_text("utf-8")
    except (FileNotFoundError, OSError, UnicodeDecodeError):
        return "Data credits are missing from this installation."


class AboutDialog(QtWidgets.QDialog):
    """Version, license, data credits and the rendering set-up, with a button to copy the details."""

    def __init__(self, parent: QtWidgets.QWidget, info: Diagnostics) -> None:
        super().__init__(parent)
        self.setObjectName("gpuviz-about")
        self.setWindowTitle("About gpuviz")
        self.info = info
        layout = QtWidgets.QVBoxLayout(self)
        head = QtWidgets.QHBoxLayout()
        logo = QtWidgets.QLabel(self)
        logo.setPixmap(application_icon().pixmap(64, 64))
        head.addWidget(logo, 0, QtCore.Qt.AlignmentFlag.AlignTop)
        self.summary = QtWidgets.QLabel(self._summary_html(info), self)
        self.summary.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.summary.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        self.summary.setWordWrap(True)
        head.addWidget(self.summary, 1)
        layout.addLayout(head)
        self.credits = QtWidgets.QTextBrowser(self)
        self.credits.setOpenExternalLinks(True)
        self.credits.setMarkdown(credits_markdown())
        self.credits.setMinimumSize(520, 180)
        layout.addWidget(self.credits, 1)
        buttons = QtWidgets.QDialogButtonBox(QtWidgets.QDialogButtonBox.StandardButton.Close, self)
        self.copy_button = buttons.addButton("Copy diagnostics", QtWidgets.QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(lambda: copy_to_clipboard(info.as_text()))
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    @staticmethod
    def _summary_html(info: Diagnostics) -> str:
        import html

        e = html.escape
        rows = [
            ("OpenGL", f"{info.gl_renderer} · {info.gl_version}"),
            ("Upload path", f"{info.upload} — {info.upload_reason}"),
            ("Training device", info.device),
            ("CUDA", info.cuda),
        ]
        table = "".join(f"<tr><td><b>{e(k)}</b>&nbsp;</td><td>{e(v)}</td></tr>" for k, v in rows)
        return (f"<h3>gpuviz {e(__version__)}</h3>"
                "<p>Watch a neural network learn, live.</p>"
                f"<p>{e(COPYRIGHT)}. Released under the {LICENSE} License.</p>"
                f"<table>{table}</table>")

    def text(self) -> str:
        """Everything the dialog shows, as plain text (for tests and screen readers)."""
        doc = QtGui.QTextDocument()
        doc.setHtml(self.summary.text())
        return doc.toPlainText() + "\n" + self.credits.toPlainText()


def copy_to_clipboard(text: str) -> None:
    QtGui.QGuiApplication.clipboard().setText(text)


class HelpActions:
    """The Help menu's entries for one window; `diagnostics()` collects the facts when asked."""

    def __init__(self, window: QtWidgets.QMainWindow, menu: QtWidgets.QMenu,
                 diagnostics: Callable[[], Diagnostics]) -> None:
        self.window = window
        self._diagnostics = diagnostics
        self.dialog: AboutDialog | None = None
        self.about = menu.addAction("&About gpuviz")
        self.about.setMenuRole(QtGui.QAction.MenuRole.AboutRole)
        self.about.triggered.connect(self.show_about)
        self.copy = menu.addAction("Copy &Diagnostics")
        self.copy.setToolTip("Copy versions, OpenGL renderer, device and upload path, for a bug report")
        self.copy.triggered.connect(self.copy_diagnostics)

    def show_about(self) -> AboutDialog:
        if self.dialog is not None:
            self.dialog.close()
            self.dialog.deleteLater()
        self.dialog = AboutDialog(self.window, self._diagnostics())
        self.dialog.open()  # window-modal, returns at once
        return self.dialog

    def copy_diagnostics(self) -> str:
        text = self._diagnostics().as_text()
        copy_to_clipboard(text)
        self.window.statusBar().showMessage("Diagnostics copied to the clipboard.", 5000)
        return text


def install_help_actions(window: QtWidgets.QMainWindow, menu: QtWidgets.QMenu,
                         diagnostics: Callable[[], Diagnostics]) -> HelpActions:
    """Add About and Copy diagnostics to the Help `menu` of `window`."""
    return HelpActions(window, menu, diagnostics)
