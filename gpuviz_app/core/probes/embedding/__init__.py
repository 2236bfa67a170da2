"""The embedding probe: a layer's activations for a fixed sample of the run's inputs, projected.

`probe` (the session's probe), `projection` (warm-started PCA, aligned frame to frame) and
`neighbour_layout` (t-SNE/UMAP on a thread) load torch; `frame` is torch-free, so views
can name what they draw without it.
"""
