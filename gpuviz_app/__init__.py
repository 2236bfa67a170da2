"""gpuviz: watch a neural network learn, live, with tensors kept on the GPU up to the display.

`gpuviz_app.attach(model, ...)` watches a model from your own training loop (see
`gpuviz_app.api`); importing the package loads neither torch nor Qt.
"""

from gpuviz_app.api import Run, attach

__version__ = "0.1.0"
__all__ = ["Run", "attach", "__version__"]
