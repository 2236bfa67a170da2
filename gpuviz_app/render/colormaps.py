"""Colormaps as piecewise-linear stops, with one GLSL twin and one numpy twin each.

Shaders and tests use the same stops, so a test can predict the colour of any texel.
"""

from __future__ import annotations

import numpy as np

# Diverging, for signed values (weights): blue below zero, dark at zero, red above. A dark
# centre suits the dark background, and no colour comes near the metrics view's series.
DIVERGING = (
    (0.0, (0.349, 0.698, 0.980)),
    (0.25, (0.149, 0.400, 0.702)),
    (0.5, (0.125, 0.133, 0.153)),
    (0.75, (0.702, 0.200, 0.180)),
    (1.0, (0.988, 0.620, 0.451)),
)

# Sequential, for densities: dark purple to pale yellow.
SEQUENTIAL = (
    (0.0, (0.090, 0.040, 0.180)),
    (0.25, (0.341, 0.062, 0.429)),
    (0.5, (0.735, 0.216, 0.330)),
    (0.75, (0.978, 0.557, 0.035)),
    (1.0, (0.988, 0.998, 0.645)),
)


def apply(stops, t: np.ndarray) -> np.ndarray:
    """RGB in [0, 1] for t (clamped to [0, 1]); shape (..., 3)."""
    t = np.clip(np.asarray(t, np.float64), 0.0, 1.0)
    xs = [s[0] for s in stops]
    return np.stack([np.interp(t, xs, [s[1][c] for s in stops]) for c in range(3)], axis=-1)


def glsl(name: str, stops) -> str:
    """`vec3 name(float t)`: the same piecewise-linear map in GLSL."""
    lines = [f"vec3 {name}(float t) {{", "    t = clamp(t, 0.0, 1.0);"]
    for (x0, c0), (x1, c1) in zip(stops[:-1], stops[1:]):
        a = "vec3(" + ", ".join(f"{v:.6f}" for v in c0) + ")"
        b = "vec3(" + ", ".join(f"{v:.6f}" for v in c1) + ")"
        lines.append(f"    if (t <= {x1:.6f}) return mix({a}, {b}, (t - {x0:.6f}) / {x1 - x0:.6f});")
    last = "vec3(" + ", ".join(f"{v:.6f}" for v in stops[-1][1]) + ")"
    lines += [f"    return {last};", "}"]
    return "\n".join(lines)
