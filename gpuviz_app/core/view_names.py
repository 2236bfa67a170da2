"""The names of the views, in dashboard order: the one list the command line, the window and
the renderer agree on. Torch- and VisPy-free, so argument parsing never loads either."""

from __future__ import annotations

VIEW_NAMES: tuple[str, ...] = ("metrics", "weights", "embedding", "landscape")
DASHBOARD = "dashboard"  # `gpuviz record --view dashboard`: every view, composed
