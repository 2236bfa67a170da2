"""The weights view (`view`): per-layer tiles (`tiles`), distributions over time and layer
health (`plots`)."""

from gpuviz_app.render.views.weights.view import WeightsView

__all__ = ["WeightsView"]
