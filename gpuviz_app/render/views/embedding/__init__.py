"""The embedding view: a layer's activations as a pickable point cloud (`view`), with its
legend and sample panel drawn in the scene (`overlay`)."""

from gpuviz_app.render.views.embedding.view import EmbeddingView

__all__ = ["EmbeddingView"]
