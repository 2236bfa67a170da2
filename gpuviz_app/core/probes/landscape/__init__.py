"""Loss landscapes around the current weights, computed in the background while training runs.

`payload` is torch-free (the display names it); `params` (flat parameters and directions),
`evaluate` (many weight vectors per call with torch.func), `levels` (coarse-to-fine grids),
`background` (the worker thread) and `probe` (the session's hook) load torch.
"""
