"""The Views gpuviz can show, by name (the names `gpuviz record --view` accepts).

Adding a view: a module (or a package, when it has several modules) under `render/views/`
named like the view, holding a `View` subclass and `VIEW = ThatClass`, and its name in
`core.view_names.VIEW_NAMES` (the torch- and VisPy-free list the command line reads): that
list is the one registry, and the classes below are derived from it.
"""

from __future__ import annotations

import importlib

from gpuviz_app.core.view_names import VIEW_NAMES
from gpuviz_app.render.views.base import Action, Option, View


def _view_class(name: str) -> type[View]:
    cls = importlib.import_module(f"{__name__}.{name}").VIEW
    if not (isinstance(cls, type) and issubclass(cls, View) and cls.name == name):
        raise TypeError(f"render/views/{name}: VIEW must be the View subclass named {name!r}")
    return cls


# In dashboard order (that of VIEW_NAMES): two columns, row by row.
VIEW_CLASSES: dict[str, type[View]] = {name: _view_class(name) for name in VIEW_NAMES}

__all__ = ["VIEW_CLASSES", "VIEW_NAMES", "Action", "Option", "View", "make_view"]


def make_view(name: str) -> View:
    return VIEW_CLASSES[name]()
