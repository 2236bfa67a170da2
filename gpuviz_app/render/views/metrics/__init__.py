"""The metrics view (`view`): which plot each scalar goes on (`groups`), and the curves and loss
axis drawn there (`curves`)."""

from gpuviz_app.render.views.metrics.curves import envelope, loss_scale
from gpuviz_app.render.views.metrics.groups import COLORS, PlotGroup, plot_groups
from gpuviz_app.render.views.metrics.view import DIVERGED, LOSS_AXES, MetricsView

VIEW = MetricsView  # what the registry (render/views/__init__.py) finds under this view's name

__all__ = ["COLORS", "DIVERGED", "LOSS_AXES", "VIEW", "MetricsView", "PlotGroup", "envelope", "loss_scale",
           "plot_groups"]
