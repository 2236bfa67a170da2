"""The Qt window: the only place that imports Qt widgets."""
