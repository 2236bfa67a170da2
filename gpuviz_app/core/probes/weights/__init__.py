"""The weights probe: per-step histograms and health of every layer, matrices and filters.

`probe` (the session's probe), `tracker`/`batch_tracker`/`step_tracker` (the step hooks),
`columns` (every step in fixed memory), `histogram` (exact power-of-two grids) and `images`
load torch; `payload` is torch-free, so views can name what they draw without it.
"""
