"""The Views gpuviz can show, by name (the names `gpuviz record --view` accepts).

Adding a view: a module (or a package, when it has several modules) under `render/views/`
with a `View` subclass, one line in `VIEW_CLASSES`, and its name in
`core.view_names.VIEW_NAMES` (the torch- and VisPy-free list the command line reads).
"""

from __future__ import annotations

from gpuviz_app.core.view_names import VIEW_NAMES
from gpuviz_app.render.views.base import Action, Option, View
from gpuviz_app.render.views.embedding import EmbeddingView
from gpuviz_app.render.views.landscape import LandscapeView
from gpuviz_app.render.views.metrics import MetricsView
from gpuviz_app.render.views.weights import WeightsView

# In dashboard order (that of VIEW_NAMES): two columns, row by row.
VIEW_CLASSES: dict[str, type[View]] = {
    "metrics": MetricsView,
    "weights": WeightsView,
    "embedding": EmbeddingView,
    "landscape": LandscapeView,
}

__all__ = ["VIEW_CLASSES", "VIEW_NAMES", "Action", "Option", "View", "make_view"]


def make_view(name: str) -> View:
    return VIEW_CLASSES[name]()
