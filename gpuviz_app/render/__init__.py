"""VisPy side: upload paths, visuals, one View per concern, and the canvases that host them.

Nothing here imports Qt widgets: the same Views run in the window and in an offscreen
EGL canvas. Nothing here imports torch at module level either (tensors are handled by
duck typing), which keeps torch off the window's start-up path.
"""
