"""Two shortcuts in how VisPy turns a visual's shader functions into GL source, for the first
paints (their effect is measured in benchmarks/README.md, "startup").

Names. VisPy's shader compiler gives every function, variable and varying of a program a name;
its default ("pretty") keeps each object's own name where no other object or fixed identifier in
any of the program's code uses it, which means collecting every identifier of every function
first, and that was most of the time to build a text or line program. Here each object is named
by its own name and its place among the program's objects (`pos_v3`), as VisPy's fast mode does
with the object's address: unique within the program, and the same for two visuals built alike,
so identical programs keep identical source, which the caches below and the GL driver's own
shader cache key on.

Conversion. Before compiling, VisPy rewrites each shader's source for desktop GL with regular
expressions; the window compiles the same few sources many times, so the result is kept per
source text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

vispy_naming = None  # VisPy's own, once replaced
vispy_conversion = None


def install() -> None:
    """Replace VisPy's object naming and keep its source conversion (once per process)."""
    global vispy_naming, vispy_conversion
    if vispy_naming is not None:
        return
    from vispy.gloo import glir
    from vispy.visuals.shaders.compiler import Compiler

    vispy_naming, vispy_conversion = Compiler._rename_objects_pretty, glir.convert_shader
    Compiler._rename_objects_pretty = name_in_order
    glir.convert_shader = lru_cache(maxsize=256)(vispy_conversion)


def name_in_order(compiler: Any) -> None:
    """Name each object of a `vispy...shaders.compiler.Compiler`'s program `<name>_v<n>`, n
    counting the program's objects in the order VisPy lists its shaders' dependencies; `main`
    keeps its name."""
    names = compiler._object_names
    count = 0
    for deps in compiler._shader_deps.values():
        for dep in deps:
            if dep in names:
                continue
            name = dep.name
            if name != "main":
                count += 1
                suffix = f"_v{count}"
                name = name[:32 - len(suffix)] + suffix
            names[dep] = name
