"""Shader objects named in order: the same pixels as VisPy's own naming, one source for visuals
built alike, and the desktop conversion kept per source."""

from __future__ import annotations

import re

import numpy as np
from vispy import scene
from vispy.gloo import glir
from vispy.visuals.shaders.compiler import Compiler

from gpuviz_app.render import shader_compile


def _draw(app) -> tuple[np.ndarray, list[dict]]:
    canvas = scene.SceneCanvas(size=(160, 100), app=app, show=False, bgcolor="black")
    try:
        view = canvas.central_widget.add_view()
        view.camera = scene.PanZoomCamera(rect=(0, 0, 10, 10))
        line = scene.visuals.Line(np.array([[1, 1], [9, 8], [5, 2]], np.float32), color="red",
                                  parent=view.scene, method="gl")
        markers = scene.visuals.Markers(parent=view.scene)
        markers.set_data(np.array([[3, 6], [7, 3]], np.float32), size=9, face_color="cyan")
        labels = [scene.visuals.Text(text, color="white", font_size=9, pos=(x, y), parent=view.scene)
                  for text, x, y in (("Loss 0.5", 5, 8), ("step 12", 5, 3))]
        pixels = canvas.render()
        codes = [dict(visual._program.compiler.code) for visual in (*labels, line._line_visual, markers)]
        return pixels, codes
    finally:
        canvas.close()


def test_programs_named_in_order_draw_what_vispys_names_draw(egl_app):
    shader_compile.install()
    ours, codes = _draw(egl_app)
    Compiler._rename_objects_pretty = shader_compile.vispy_naming
    try:
        theirs, vispy_codes = _draw(egl_app)
    finally:
        Compiler._rename_objects_pretty = shader_compile.name_in_order
    assert (ours[..., :3] > 0).any()
    np.testing.assert_array_equal(ours, theirs)
    assert codes[0] == codes[1]  # two labels built alike: one source, as with VisPy's names
    assert vispy_codes[0] == vispy_codes[1] and codes[0] != vispy_codes[0]
    for code in codes:
        source = code["vert"] + code["frag"]
        assert not re.search(r"_[0-9a-f]{9,}\b", source) and re.search(r"\w+_v\d+\b", source)  # no addresses
        assert all(re.search(r"\bvoid main\s*\(", code[shader]) for shader in ("vert", "frag"))


def test_each_object_of_a_program_gets_its_own_name():
    class Dep:
        def __init__(self, name: str) -> None:
            self.name = name

    shared, main = Dep("v_color"), Dep("main")
    compiler = Compiler.__new__(Compiler)
    compiler._object_names = {}
    compiler._shader_deps = {"vert": [Dep("pos"), shared, Dep("pos"), main],
                             "frag": [shared, Dep("a_very_long_name_that_runs_past_32_chars"), main]}
    shader_compile.name_in_order(compiler)
    names = compiler._object_names
    assert names[main] == "main" and names[shared] == "v_color_v2"
    assert len(set(names.values())) == len(names) == 5
    assert all(len(name) <= 32 for name in names.values())


def test_the_desktop_conversion_is_vispys_and_kept_per_source():
    shader_compile.install()
    source = "#version 120\nvarying vec4 v_color;\nvoid main() { gl_FragColor = v_color; }\n"
    before = glir.convert_shader.cache_info().hits
    assert glir.convert_shader("desktop", source) == shader_compile.vispy_conversion("desktop", source)
    assert glir.convert_shader("desktop", source) == shader_compile.vispy_conversion("desktop", source)
    assert glir.convert_shader.cache_info().hits > before
