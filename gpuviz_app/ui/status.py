"""The status bar: what runs where and how fast, and a banner when training diverged."""

from __future__ import annotations

from PySide6 import QtWidgets

from gpuviz_app.core.snapshot import Snapshot


BANNER_STYLE = "QLabel { background: #bf616a; color: white; font-weight: bold; padding: 1px 8px; }"


class StatusLine:
    def __init__(self, bar: QtWidgets.QStatusBar) -> None:
        self.bar = bar
        self.labels: dict[str, QtWidgets.QLabel] = {}
        # First of the permanent labels (a plain widget would make others' insertPermanentWidget(0)
        # out of range, and temporary messages would hide it); shown only while a run has diverged.
        self.banner = QtWidgets.QLabel(self.bar)
        self.banner.setObjectName("status-diverged")
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.setToolTip("Training produced a non-finite loss or weight; a lower learning rate "
                               "usually helps. Play keeps training anyway; Reset starts again.")
        self.bar.addPermanentWidget(self.banner)
        self.banner.hide()
        for key, tip in (
            ("state", "Training state"),
            ("step", "Training step"),
            ("rate", "Training steps per second"),
            ("fps", "Frames rendered per second"),
            ("device", "Training device"),
            ("upload", "How the views receive data from the trainer"),
            ("dataset", "Dataset and model"),
        ):
            label = QtWidgets.QLabel(self.bar)
            label.setToolTip(tip)
            label.setObjectName(f"status-{key}")
            self.bar.addPermanentWidget(label)
            self.labels[key] = label
        self.labels["state"].setText("starting…")

    def set(self, key: str, text: str, tip: str | None = None) -> None:
        label = self.labels[key]
        if label.text() != text:
            label.setText(text)
        if tip is not None:
            label.setToolTip(tip)

    def show_snapshot(self, snap: Snapshot, fps: float) -> None:
        state = "error" if snap.error else "done" if snap.finished else "paused" if snap.paused else "training"
        if snap.diverged:
            state = f"diverged · {state}"
            text = snap.diverged + (" — paused (Play keeps training)" if snap.paused and not snap.finished else "")
            if self.banner.text() != text:
                self.banner.setText(text)
        self.banner.setVisible(bool(snap.diverged))
        self.set("state", state, snap.error or "Training state")
        self.set("step", f"step {snap.step:,}")
        self.set("rate", f"{snap.steps_per_s:,.0f} steps/s")
        self.set("fps", f"{fps:.0f} fps")
        self.set("device", snap.device_name)
        self.set("dataset", f"{snap.dataset} · {snap.model.upper()}")
