"""gpuviz: watch a neural network learn, live, with tensors kept on the GPU up to the display."""

__version__ = "0.1.0"
