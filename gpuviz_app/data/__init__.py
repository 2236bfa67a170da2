"""Datasets: loaders per format, the built-in sets, and the on-device copy used for training."""

from gpuviz_app.data.dataset import Dataset, DatasetError

__all__ = ["Dataset", "DatasetError"]
