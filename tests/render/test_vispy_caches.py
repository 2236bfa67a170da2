"""The shared caches give the same glyph tiles, metrics and shader variables as VisPy's own code."""

import numpy as np
import pytest
from vispy.visuals.text import text as vispy_text

from gpuviz_app.render import vispy_caches as glyphs

TEXT = "Loss 0.123 step AVWa"


class RecordingAtlas:
    """Wraps a font's atlas: records every tile written, answers regions as the atlas does."""

    def __init__(self, atlas):
        self.atlas = atlas
        self.writes = []

    def __getattr__(self, name):
        return getattr(self.atlas, name)

    def __setitem__(self, key, value):
        self.writes.append(np.array(value))
        self.atlas[key] = value


def fresh_font():
    font = vispy_text.FontManager(method="cpu").get_font("OpenSans")
    font._atlas = RecordingAtlas(font._atlas)
    return font


def load(font, loader):
    for char in TEXT:
        if char not in font._glyphs:
            loader(font, char)
    return font


@pytest.fixture(scope="module")
def reference():
    glyphs.install()
    return load(fresh_font(), glyphs._original)  # VisPy's loader, as if no cache existed


def test_a_second_atlas_reuses_tiles_and_matches_vispy_exactly(reference):
    first = load(fresh_font(), vispy_text.TextureFont._load_char)
    rendered = glyphs.stats["rendered"]
    second = load(fresh_font(), vispy_text.TextureFont._load_char)
    assert glyphs.stats["rendered"] == rendered, "the second atlas rendered glyphs again"
    for font in (first, second):
        assert len(font._atlas.writes) == len(reference._atlas.writes)
        for ours, theirs in zip(font._atlas.writes, reference._atlas.writes):
            np.testing.assert_array_equal(ours, theirs)
        for char, ref in reference._glyphs.items():
            got = font._glyphs[char]
            assert got["size"] == ref["size"] and got["texcoords"] == ref["texcoords"]
            assert got["offset"] == ref["offset"] and got["advance"] == ref["advance"]
            assert got["kerning"] == ref["kerning"], char


def test_a_program_from_known_source_gets_the_same_variables_without_parsing():
    from vispy import gloo

    glyphs.install()
    vert = ("attribute vec2 a_pos; // position\nuniform float u_scale;\n"
            "void main() { gl_Position = vec4(a_pos * u_scale, 0., 1.); }")
    frag = "uniform vec4 u_color[2];\nvoid main() { gl_FragColor = u_color[0]; }"
    first = gloo.Program(vert, frag)
    parsed = glyphs.stats["parsed"]
    second = gloo.Program(vert, frag)
    assert glyphs.stats["parsed"] == parsed
    assert second.variables == first.variables
    names = {v[2] for v in first.variables}
    assert {"a_pos", "u_scale", "u_color", "u_color[0]", "u_color[1]"} <= names
    second["u_scale"] = 2.0  # known from the cached parse: applied; an unknown one waits, as before
    second["u_missing"] = 1.0
    assert "u_scale" in second._user_variables and "u_missing" in second._pending_variables


def assert_same_as_reference(font, reference):
    assert len(font._atlas.writes) == len(reference._atlas.writes)
    for ours, theirs in zip(font._atlas.writes, reference._atlas.writes):
        np.testing.assert_array_equal(ours, theirs)
    for char, ref in reference._glyphs.items():
        got = font._glyphs[char]
        assert (got["size"], got["texcoords"], got["offset"]) == (ref["size"], ref["texcoords"], ref["offset"])
        assert got["advance"] == ref["advance"] and got["kerning"] == ref["kerning"], char


def test_tiles_saved_by_one_launch_are_drawn_by_the_next_without_rendering(reference, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    load(fresh_font(), vispy_text.TextureFont._load_char)  # this launch's tiles
    monkeypatch.setattr(glyphs, "_saved_tiles", 0)
    assert glyphs.save() and glyphs.glyph_file().is_file()
    assert not glyphs.save(), "nothing new: the file is not written again"
    monkeypatch.setattr(glyphs, "_tiles", {})  # the next launch: nothing in memory
    monkeypatch.setattr(glyphs, "_kerning", {})
    assert glyphs.load_saved() >= len(set(TEXT))
    rendered = glyphs.stats["rendered"]
    font = load(fresh_font(), vispy_text.TextureFont._load_char)
    assert glyphs.stats["rendered"] == rendered, "a saved glyph was rendered again"
    assert_same_as_reference(font, reference)


def test_an_unreadable_glyph_file_is_ignored_and_rewritten(reference, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    path = glyphs.glyph_file()
    path.parent.mkdir(parents=True)
    path.write_bytes(b"not an archive")
    monkeypatch.setattr(glyphs, "_tiles", {})
    monkeypatch.setattr(glyphs, "_kerning", {})
    assert glyphs.load_saved() == 0
    font = load(fresh_font(), vispy_text.TextureFont._load_char)  # rendered, as with no file
    assert_same_as_reference(font, reference)
    monkeypatch.setattr(glyphs, "_saved_tiles", 0)
    assert glyphs.save() and glyphs.load_saved() == len(glyphs._tiles)


def test_kerning_pairs_met_without_new_tiles_are_saved_for_the_next_launch(reference, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    font = load(fresh_font(), vispy_text.TextureFont._load_char)
    monkeypatch.setattr(glyphs, "_saved_tiles", 0)
    assert glyphs.save()
    pair = (*glyphs._font_key(font._font), "Q", "j")  # characters the atlas may never hold together
    glyphs._kerning.pop(pair, None)
    glyphs._kern(font._font, "Q", "j")  # a pair met by texts sharing an atlas: no new tile
    assert glyphs.save(), "a new kerning pair alone is written"
    monkeypatch.setattr(glyphs, "_tiles", {})  # the next launch
    monkeypatch.setattr(glyphs, "_kerning", {})
    glyphs.load_saved()
    assert pair in glyphs._kerning
    assert not glyphs.save()


def test_shader_variables_parsed_by_one_launch_are_not_parsed_by_the_next(tmp_path, monkeypatch):
    from vispy import gloo

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    glyphs.install()
    vert = ("attribute vec3 a_saved_pos;\nuniform float u_saved_gain[3];\n"
            "void main() { gl_Position = vec4(a_saved_pos * u_saved_gain[1], 1.); }")
    frag = "uniform vec4 u_saved_color;\nvoid main() { gl_FragColor = u_saved_color; }"
    first = gloo.Program(vert, frag)
    monkeypatch.setattr(glyphs, "_saved_parses", 0)
    assert glyphs.save()
    for name in ("_tiles", "_kerning", "_variables"):  # the next launch: nothing in memory
        monkeypatch.setattr(glyphs, name, {})
    glyphs.load_saved()
    parsed = glyphs.stats["parsed"]
    second = gloo.Program(vert, frag)
    assert glyphs.stats["parsed"] == parsed, "a saved parse was parsed again"
    assert second.variables == first.variables
    assert {"a_saved_pos", "u_saved_gain[2]", "u_saved_color"} <= {v[2] for v in second.variables}
