"""File > Runs…: the stored runs, to open, compare (two or more selected), rename, or delete (to the
trash, undone in the dialog).

The list is read on a thread (each run's meta and the last records of its store), so a runs
directory with many runs never holds the window up; rows appear as they are read.
"""

from __future__ import annotations

import math
import os
import threading
import time
from typing import Callable, Iterable

from PySide6 import QtCore, QtGui, QtWidgets

from gpuviz_app.store.frames import RunSummary
from gpuviz_app.store.layout import delete_run, read_meta, rename_run, restore_run, run_dirs, runs_dir
from gpuviz_app.store.runs import run_summary

COLUMNS = ("Name", "Dataset", "Model", "Date", "Steps", "Final loss", "Size")
NAME_LIMIT = 200
SORT_ROLE = QtCore.Qt.ItemDataRole.UserRole + 1
PATH_ROLE = QtCore.Qt.ItemDataRole.UserRole + 2


def name_problem(name: str) -> str:
    """Why `name` cannot be a run's name ("" when it can)."""
    if not name.strip():
        return "A run's name cannot be empty."
    if len(name) > NAME_LIMIT:
        return f"A run's name is at most {NAME_LIMIT} characters."
    if any(ch in name for ch in "\r\n\t"):
        return "A run's name is one line."
    return ""


def size_text(size: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return ""


class _Item(QtWidgets.QTableWidgetItem):
    """A cell sorted by its SORT_ROLE value (numbers as numbers, dates by time)."""

    def __lt__(self, other: QtWidgets.QTableWidgetItem) -> bool:
        mine, theirs = self.data(SORT_ROLE), other.data(SORT_ROLE)
        if isinstance(mine, (int, float)) and isinstance(theirs, (int, float)):
            return mine < theirs
        return str(mine).lower() < str(theirs).lower()


class _Listing(QtCore.QObject):
    """Carries the summaries read on the listing thread to the dialog."""

    found = QtCore.Signal(int, object)  # listing number, RunSummary
    done = QtCore.Signal(int)


class RunsDialog(QtWidgets.QDialog):
    """The runs under `root`: `open_run(path)` shows one in the window, `compare_runs(paths)` two
    or more in lockstep; the runs that `recording()` names (directories being written now) cannot
    be deleted."""

    def __init__(self, open_run: Callable[[str], object], recording: Callable[[], Iterable[str]] = tuple,
                 root: str | None = None, parent: QtWidgets.QWidget | None = None,
                 compare_runs: Callable[[list[str]], object] | None = None) -> None:
        super().__init__(parent)
        self.compare_runs = compare_runs
        self.setObjectName("gpuviz-runs-dialog")
        self.setWindowTitle("Runs")
        self.open_run = open_run
        self.recording = recording
        self.root = root or runs_dir()
        self.trashed: list[str] = []  # deleted runs, last last, for Undo
        self._renaming = False
        self._listing_number = 0
        self.complete = False  # every run of the last listing is in the table

        layout = QtWidgets.QVBoxLayout(self)
        where = QtWidgets.QLabel(f"Runs are kept in {self.root}", self)
        where.setObjectName("runs-where")
        where.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
        where.setWordWrap(True)
        layout.addWidget(where)
        self.table = QtWidgets.QTableWidget(0, len(COLUMNS), self)
        self.table.setObjectName("runs-table")
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setSelectionBehavior(QtWidgets.QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QtWidgets.QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.EditKeyPressed
                                   | QtWidgets.QAbstractItemView.EditTrigger.SelectedClicked)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(0, QtWidgets.QHeaderView.ResizeMode.Stretch)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COLUMNS.index("Date"), QtCore.Qt.SortOrder.DescendingOrder)
        self.table.itemChanged.connect(self._renamed)
        self.table.itemDoubleClicked.connect(lambda item: self.open_path(item.data(PATH_ROLE)))
        self.table.itemSelectionChanged.connect(self._selection_changed)
        layout.addWidget(self.table, 1)
        self.message = QtWidgets.QLabel("Reading the runs…", self)
        self.message.setObjectName("runs-message")
        self.message.setWordWrap(True)
        layout.addWidget(self.message)

        buttons = QtWidgets.QDialogButtonBox(self)
        role = QtWidgets.QDialogButtonBox.ButtonRole
        self.open_button = buttons.addButton("Open", role.ActionRole)
        self.compare_button = buttons.addButton("Compare", role.ActionRole)
        self.compare_button.setToolTip("Show the selected runs in lockstep, side by side (select two or more)")
        self.compare_button.setVisible(compare_runs is not None)
        self.rename_button = buttons.addButton("Rename", role.ActionRole)
        self.delete_button = buttons.addButton("Delete", role.ActionRole)
        self.undo_button = buttons.addButton("Undo Delete", role.ActionRole)
        close = buttons.addButton(QtWidgets.QDialogButtonBox.StandardButton.Close)
        self.open_button.clicked.connect(self.open_selected)
        self.compare_button.clicked.connect(self.compare_selected)
        self.rename_button.clicked.connect(self.rename_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        self.undo_button.clicked.connect(self.undo_delete)
        close.clicked.connect(self.reject)
        layout.addWidget(buttons)
        self.open_button.setDefault(True)
        self.undo_button.setEnabled(False)
        self._selection_changed()
        self.resize(820, 420)

        self.listing = _Listing(self)
        self.listing.found.connect(lambda n, summary: n == self._listing_number and self._add_row(summary))
        self.listing.done.connect(lambda n: n == self._listing_number and self._listed())
        self.refresh()

    # the list

    def refresh(self) -> None:
        """Read the runs again (on a thread; `listing.done` says when every row is in)."""
        self.table.setRowCount(0)
        self.message.setText("Reading the runs…")
        self.complete = False
        self._listing_number += 1
        listing, root, number = self.listing, self.root, self._listing_number

        def read() -> None:
            try:
                for run in run_dirs(root):
                    listing.found.emit(number, run_summary(run))
                listing.done.emit(number)
            except RuntimeError:  # the dialog was closed and deleted first
                pass

        threading.Thread(target=read, name="gpuviz-runs-listing", daemon=True).start()

    def _add_row(self, summary: RunSummary) -> None:
        loss = summary.final_loss
        cells = (
            (summary.name, summary.name.lower()),
            (summary.dataset, summary.dataset.lower()),
            (summary.model, summary.model.lower()),
            (time.strftime("%Y-%m-%d %H:%M", time.localtime(summary.started)) if summary.started else "",
             summary.started),
            (f"{summary.steps:,}", summary.steps),
            ("" if math.isnan(loss) else f"{loss:.4g}", math.inf if math.isnan(loss) else loss),
            (size_text(summary.size_bytes), summary.size_bytes),
        )
        self._renaming = True
        sorting = self.table.isSortingEnabled()
        self.table.setSortingEnabled(False)
        row = self.table.rowCount()
        self.table.insertRow(row)
        for column, (text, key) in enumerate(cells):
            item = _Item(text)
            item.setData(SORT_ROLE, key)
            item.setData(PATH_ROLE, summary.path)
            if column >= COLUMNS.index("Steps"):
                item.setTextAlignment(QtCore.Qt.AlignmentFlag.AlignRight | QtCore.Qt.AlignmentFlag.AlignVCenter)
            if column:
                item.setFlags(item.flags() & ~QtCore.Qt.ItemFlag.ItemIsEditable)
            else:
                item.setToolTip(summary.path)
            self.table.setItem(row, column, item)
        self.table.setSortingEnabled(sorting)
        self._renaming = False

    def _listed(self) -> None:
        self.complete = True
        count = self.table.rowCount()
        self.message.setText("No runs yet." if not count else f"{count} run{'s' * (count != 1)}.")
        for column in range(1, len(COLUMNS)):
            self.table.resizeColumnToContents(column)
        self._selection_changed()

    def paths(self) -> list[str]:
        """The run directories listed, in the order shown."""
        return [self.table.item(row, 0).data(PATH_ROLE) for row in range(self.table.rowCount())]

    def row_of(self, path: str) -> int:
        path = os.path.abspath(path)
        return next((row for row, p in enumerate(self.paths()) if os.path.abspath(p) == path), -1)

    def selected_path(self) -> str | None:
        """The run selected, when exactly one is."""
        paths = self.selected_paths()
        return paths[0] if len(paths) == 1 else None

    def selected_paths(self) -> list[str]:
        """The runs selected, in the order shown."""
        rows = sorted(index.row() for index in self.table.selectionModel().selectedRows())
        return [self.table.item(row, 0).data(PATH_ROLE) for row in rows]

    def select(self, path: str) -> None:
        row = self.row_of(path)
        if row >= 0:
            self.table.selectRow(row)

    def _selection_changed(self) -> None:
        chosen = self.selected_path() is not None
        for button in (self.open_button, self.rename_button, self.delete_button):
            button.setEnabled(chosen)
        self.compare_button.setEnabled(self.compare_runs is not None and len(self.selected_paths()) >= 2)

    # the commands

    def open_selected(self) -> None:
        """Show the selected run in the window (as `gpuviz open RUN_DIR` does) and close."""
        path = self.selected_path()
        if path is not None:
            self.open_path(path)

    def open_path(self, path: str) -> None:
        self.open_run(path)
        self.accept()

    def compare_selected(self) -> None:
        """Show the selected runs (two or more) in lockstep in a window of their own, and close."""
        paths = self.selected_paths()
        if self.compare_runs is not None and len(paths) >= 2:
            self.compare_runs(paths)
            self.accept()

    def rename_selected(self) -> None:
        """Edit the selected run's name in place; it is kept when the edit ends."""
        rows = self.table.selectionModel().selectedRows()
        if rows:
            self.table.editItem(self.table.item(rows[0].row(), 0))

    def _renamed(self, item: QtWidgets.QTableWidgetItem) -> None:
        if self._renaming or item.column() != 0:
            return
        path, name = item.data(PATH_ROLE), item.text()
        problem = name_problem(name)
        if not problem:
            try:
                rename_run(path, name.strip())
            except OSError as exc:
                problem = f"{path} could not be renamed: {exc.strerror or exc}."
        self._renaming = True
        if problem:
            self.message.setText(problem)
            item.setText(str(read_meta(path).get("name") or os.path.basename(path)))
        else:
            item.setText(name.strip())
            self.message.setText(f"Renamed to {name.strip()}.")
        item.setData(SORT_ROLE, item.text().lower())
        self._renaming = False

    def delete_selected(self) -> None:
        """Move the selected run to the trash (Undo Delete brings it back), unless it is being recorded."""
        path = self.selected_path()
        if path is None:
            return
        if os.path.abspath(path) in {os.path.abspath(r) for r in self.recording()}:
            self.message.setText(f"{os.path.basename(path)} is being recorded now (this window is still writing "
                                 "its store); it can be deleted once the window has closed it.")
            return
        try:
            self.trashed.append(delete_run(path))
        except OSError as exc:
            self.message.setText(f"{path} could not be moved to the trash: {exc.strerror or exc}.")
            return
        self.table.removeRow(self.row_of(path))
        self.undo_button.setEnabled(True)
        self.message.setText(f"{os.path.basename(path)} was moved to the trash.")

    def undo_delete(self) -> None:
        """Bring back the run deleted last."""
        if not self.trashed:
            return
        trashed = self.trashed.pop()
        try:
            restored = restore_run(trashed)
        except OSError as exc:
            self.trashed.append(trashed)
            self.message.setText(f"{trashed} could not be restored: {exc.strerror or exc}.")
            return
        self.undo_button.setEnabled(bool(self.trashed))
        self._add_row(run_summary(restored))
        self.select(restored)
        self.message.setText(f"{os.path.basename(restored)} was restored.")


def install(window: QtWidgets.QMainWindow) -> QtGui.QAction:
    """File > Runs… in `window` (before Quit): the dialog opens runs with the window's run opener and
    keeps the runs being recorded from deletion."""
    action = QtGui.QAction("R&uns…", window)
    action.setObjectName("action-runs")
    action.setShortcut(QtGui.QKeySequence("Ctrl+Alt+R"))
    action.setShortcutContext(QtCore.Qt.ShortcutContext.WindowShortcut)

    def compare(paths: list[str]) -> QtWidgets.QWidget:
        from gpuviz_app.ui.compare_window import open_compare

        shown = open_compare(paths, parent=window)
        window.compare_window = shown
        return shown

    def show() -> RunsDialog:
        dialog = RunsDialog(window.run_opener.open, window.recording.run_dirs, parent=window, compare_runs=compare)
        dialog.setAttribute(QtCore.Qt.WidgetAttribute.WA_DeleteOnClose)
        window.runs_dialog = dialog
        dialog.open()
        return dialog

    window.runs_dialog = None
    window.compare_window = None  # the last compare window opened from the dialog
    action.triggered.connect(show)
    menu = window.file_menu
    quit_action = next((a for a in menu.actions()
                        if a.shortcut() == QtGui.QKeySequence(QtGui.QKeySequence.StandardKey.Quit)), None)
    if quit_action is None:
        menu.addAction(action)
    else:
        menu.insertAction(quit_action, action)
        menu.insertSeparator(quit_action)
    window.addAction(action)
    return action
