"""The dialog that shows what a load found and asks before training switches to it.

It is shown with `open()` (window-modal, not blocking), so training and the display keep
running behind it, and tests can accept or reject it like a user.
"""

from __future__ import annotations

from PySide6 import QtCore, QtWidgets

from gpuviz_app.data.dataset import Dataset, split_sizes

MAX_CLASS_ROWS = 100


def model_for(data: Dataset, model: str = "auto") -> str:
    """What `auto` resolves to (mirrors core.models.resolve_model_kind, which needs torch)."""
    image = data.kind == "images" and len(data.input_shape) == 3
    if model == "auto":
        return "CNN" if image else "MLP"
    return "MLP" if model == "cnn" and not image else model.upper()


class DatasetDialog(QtWidgets.QDialog):
    """Name, samples, input shape, classes with their balance, skipped files, warnings, and the split."""

    def __init__(self, data: Dataset, parent: QtWidgets.QWidget | None = None, model: str = "auto") -> None:
        super().__init__(parent)
        self.setObjectName("gpuviz-dataset-dialog")
        self.setWindowTitle("Train on this dataset?")
        self.data = data
        info = data.describe()
        train, held_out = split_sizes(len(data))
        self.fields: dict[str, str] = {
            "Name": info["name"],
            "Source": info["source"],
            "Samples": f"{info['samples']:,}",
            "Input shape": f"{' x '.join(map(str, info['shape']))}  ({info['kind']}, {model_for(data, model)})",
            "Classes": f"{info['classes']:,}",
            "Split": f"{train:,} train / {held_out:,} eval",
            "Skipped files": f"{info['skipped']:,}",
        }
        layout = QtWidgets.QVBoxLayout(self)
        form = QtWidgets.QFormLayout()
        self.labels: dict[str, QtWidgets.QLabel] = {}
        for key, value in self.fields.items():
            label = QtWidgets.QLabel(value, self)
            label.setTextInteractionFlags(QtCore.Qt.TextInteractionFlag.TextSelectableByMouse)
            label.setWordWrap(key == "Source")
            form.addRow(f"{key}:", label)
            self.labels[key] = label
        layout.addLayout(form)
        layout.addWidget(QtWidgets.QLabel("Class balance:", self))
        self.balance = self._balance_table(info["class_names"], info["class_counts"])
        layout.addWidget(self.balance, 1)
        self.warnings = QtWidgets.QListWidget(self)
        self.warnings.setObjectName("dataset-warnings")
        self.warnings.addItems(info["warnings"])
        if info["warnings"]:
            layout.addWidget(QtWidgets.QLabel("Warnings:", self))
            self.warnings.setMaximumHeight(90)
            layout.addWidget(self.warnings)
        note = QtWidgets.QLabel("Switching starts a new run; the current one keeps training until you choose.", self)
        note.setWordWrap(True)
        layout.addWidget(note)
        buttons = QtWidgets.QDialogButtonBox(self)
        self.train_button = buttons.addButton("Train on it", QtWidgets.QDialogButtonBox.ButtonRole.AcceptRole)
        self.keep_button = buttons.addButton("Keep current", QtWidgets.QDialogButtonBox.ButtonRole.RejectRole)
        self.train_button.setDefault(True)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.resize(520, 520)

    def _balance_table(self, names: list[str], counts: list[int]) -> QtWidgets.QTableWidget:
        total = max(1, sum(counts))
        rows = list(zip(names, counts))
        shown = rows[:MAX_CLASS_ROWS]
        table = QtWidgets.QTableWidget(len(shown) + (len(rows) > len(shown)), 3, self)
        table.setObjectName("class-balance")
        table.setHorizontalHeaderLabels(["Class", "Samples", "Share"])
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QtWidgets.QAbstractItemView.EditTrigger.NoEditTriggers)
        top = max(counts) if counts else 1
        for row, (name, count) in enumerate(shown):
            table.setItem(row, 0, QtWidgets.QTableWidgetItem(name))
            table.setItem(row, 1, QtWidgets.QTableWidgetItem(f"{count:,}"))
            bar = QtWidgets.QProgressBar(table)
            bar.setRange(0, top)
            bar.setValue(count)
            bar.setFormat(f"{100 * count / total:.1f}%")
            table.setCellWidget(row, 2, bar)
        if len(rows) > len(shown):
            rest = sum(c for _, c in rows[len(shown):])
            table.setItem(len(shown), 0, QtWidgets.QTableWidgetItem(f"… {len(rows) - len(shown)} more"))
            table.setItem(len(shown), 1, QtWidgets.QTableWidgetItem(f"{rest:,}"))
        table.horizontalHeader().setStretchLastSection(True)
        table.resizeColumnsToContents()
        return table
