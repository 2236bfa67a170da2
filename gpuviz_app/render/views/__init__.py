"""The Views gpuviz can show, by name (the names `gpuviz record --view` accepts)."""

from __future__ import annotations

from gpuviz_app.render.views.base import View
from gpuviz_app.render.views.embedding import EmbeddingView
from gpuviz_app.render.views.landscape import LandscapeView
from gpuviz_app.render.views.metrics import MetricsView
from gpuviz_app.render.views.weights import WeightsView

# In dashboard order: two columns, row by row.
VIEW_CLASSES: dict[str, type[View]] = {
    "metrics": MetricsView,
    "weights": WeightsView,
    "embedding": EmbeddingView,
    "landscape": LandscapeView,
}


def make_view(name: str) -> View:
    return VIEW_CLASSES[name]()
