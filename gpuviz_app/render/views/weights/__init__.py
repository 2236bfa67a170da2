"""The weights view (`view`): per-layer tiles (`tiles`), distributions over time and layer
health (`plots`)."""

from gpuviz_app.render.views.weights.view import WeightsView

VIEW = WeightsView  # what the registry (render/views/__init__.py) finds under this view's name

__all__ = ["VIEW", "WeightsView"]
