"""Switching from the default CNN on digits to an MLP on a tabular set: nothing of the old run
stays on screen or in the views, and the weights history follows the new run."""

from __future__ import annotations

import numpy as np

from tests.ui.conftest import wait_step, wait_taken
from tests.ui.test_weights_dock import show_weights

LONG = 120_000


def texts(node) -> list[str]:
    """Every visible text drawn under `node` of a VisPy scene."""
    from vispy.scene.visuals import Text

    found = []
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Text) and n.visible and n.text is not None:
            found.extend([n.text] if isinstance(n.text, str) else list(n.text))
        stack.extend(n.children)
    return found


def test_switching_to_an_mlp_on_a_table_leaves_nothing_of_the_cnn(main_window, qtbot):
    window = main_window("--device", "cpu")
    panel = show_weights(window, qtbot)
    view = panel.views[0]
    wait_step(qtbot, window, 20, timeout=LONG)
    qtbot.waitUntil(lambda: view.payload is not None and view.payload.columns >= 5, timeout=LONG)
    old_labels = [layer["label"] for layer in view.payload.layers]
    assert any("conv" in label.lower() for label in old_labels), old_labels
    old_scene = texts(panel.canvas.canvas.scene)
    assert any(label in " ".join(old_scene) for label in old_labels)

    from gpuviz_app.data.open import load_dataset

    run = window.snapshot.run_id
    window.datasets.apply(load_dataset("builtin:moons"), "builtin:moons")
    wait_taken(qtbot, window, lambda s: s.run_id > run and s.step >= 200, LONG)
    new_run_step = window.snapshot.step
    qtbot.waitUntil(lambda: view.payload is not None and view.payload.step >= 150, timeout=LONG)
    qtbot.wait(300)

    # the views' state: only the MLP's layers, a history that covers the new run up to now
    payload = view.payload
    labels = [layer["label"] for layer in payload.layers]
    assert not any("conv" in label.lower() for label in labels), labels
    assert [t.index for t in view.tiles.tiles] == list(range(len(labels)))
    assert [t.layer["label"] for t in view.tiles.tiles] == labels
    steps = np.asarray(payload.column_steps)[: payload.columns]
    assert steps.min() <= 10, "the history does not start with the new run"
    assert steps.max() >= 150 and steps.max() >= new_run_step - 100, (steps.max(), new_run_step)
    for name, other in window.panels.items():
        for v in other.views:  # every view drawn since the switch has let go of the old run
            assert v._run_id in (-1, window.snapshot.run_id), name
    metrics = window.panels["metrics"]
    if metrics.isVisible():
        drawn = " ".join(texts(metrics.canvas.canvas.scene))
        assert "digits" not in drawn.lower() or "moons" in drawn.lower()

    # what is drawn: no label of the old model anywhere in the weights canvas
    shown = " ".join(texts(panel.canvas.canvas.scene))
    for label in old_labels:
        if label not in labels:
            assert label not in shown, f"{label!r} of the CNN is still drawn"
    assert any(label in shown for label in labels)
    pixels = panel.canvas.render()
    assert len(np.unique(pixels.reshape(-1, 4), axis=0)) > 50  # the new run is drawn, not a blank canvas

    # the history keeps growing while the view is shown
    last = int(steps.max())
    qtbot.waitUntil(lambda: int(np.asarray(view.payload.column_steps)[: view.payload.columns].max()) > last + 50,
                    timeout=LONG)
