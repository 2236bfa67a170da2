"""The embedding view: a layer's activations as a pickable point cloud (`view`), with its
legend and sample panel drawn in the scene (`overlay`)."""

from gpuviz_app.render.views.embedding.view import EmbeddingView

VIEW = EmbeddingView  # what the registry (render/views/__init__.py) finds under this view's name

__all__ = ["VIEW", "EmbeddingView"]
