"""`gpuviz record --view embedding` on digits: the classes must form separated, coloured clusters."""

import numpy as np
from PIL import Image

from gpuviz_app.render.views.embedding.overlay import class_colors


def class_pixels(rgb: np.ndarray, tol: int = 12) -> list[np.ndarray]:
    """(x, y) of the pixels drawn in each class colour."""
    found = []
    for color in class_colors(10)[:, :3].astype(int):
        hits = np.all(np.abs(rgb.astype(int) - color) <= tol, axis=-1)
        ys, xs = np.nonzero(hits)
        found.append(np.stack([xs, ys], axis=1).astype(np.float64))
    return found


def knn_agreement(points: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    """Fraction of points whose k nearest neighbours (excluding themselves) mostly share their class."""
    d = ((points[:, None, :] - points[None, :, :]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nearest = np.argsort(d, axis=1)[:, :k]
    votes = labels[nearest]
    majority = np.array([np.bincount(v, minlength=10).argmax() for v in votes])
    return float((majority == labels).mean())


def test_record_embedding_shows_separated_class_clusters(run_gpuviz, tmp_path):
    out = tmp_path / "e.png"
    proc = run_gpuviz("record", "--view", "embedding", "--steps", "300", "--screenshot", str(out),
                      "--device", "cpu", display=False)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    image = Image.open(out)
    assert image.size == (800, 600)
    assert image.text["gpuviz:step"] == "300"
    rgb = np.asarray(image.convert("RGB"))
    body = rgb[30:-90, :-120]  # leave out the status line, the legend and the picked-sample panel
    per_class = class_pixels(body)
    counts = [len(p) for p in per_class]
    assert min(counts) > 300, f"every class is drawn in its own colour: {counts}"

    centroids = np.array([p.mean(axis=0) for p in per_class])
    within = np.sqrt(np.mean([((p - p.mean(axis=0)) ** 2).sum(axis=1).mean() for p in per_class]))
    between = np.sqrt(((centroids[:, None] - centroids[None]) ** 2).sum(-1))[np.triu_indices(10, 1)].mean()
    assert between / within > 1.5, f"class centroids {between:.0f} px apart, clusters {within:.0f} px wide"

    rng = np.random.default_rng(0)
    sample = [p[rng.permutation(len(p))[:250]] for p in per_class]
    points = np.concatenate(sample)
    labels = np.concatenate([np.full(len(s), c) for c, s in enumerate(sample)])
    agreement = knn_agreement(points, labels)
    assert agreement > 0.5, f"k-NN class agreement of the drawn points is {agreement:.2f} (chance 0.1)"


def test_every_probe_is_at_the_frames_step_in_a_recording():
    """Frames of a recording show one step in every panel: probes that run every k steps
    (the embedding, every 10 by default) are recomputed at each frame's step."""
    from gpuviz_app.core.probes import probe_factories
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.builtin import digits
    from gpuviz_app.export.headless import configure_probes
    from gpuviz_app.render.views import make_view

    views = [make_view(name) for name in ("metrics", "weights", "embedding")]
    assert views[2].probe_options()["every"] == 10
    session = TrainingSession(digits, device="cpu", max_steps=30,
                              probes=probe_factories({v.probe for v in views if v.probe}))
    configure_probes(session, views)
    try:
        for chunk in (0, 7, 6, 3):
            snapshot = session.advance(chunk, settle=True)
            assert {name: part.step for name, part in snapshot.parts.items()} == \
                {"weights": snapshot.step, "embedding": snapshot.step}
    finally:
        session.close()
