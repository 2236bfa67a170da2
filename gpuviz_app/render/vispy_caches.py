"""Process-wide caches for two pieces of VisPy's work that every canvas repeats (their effect on
the first paint is measured in benchmarks/README.md, "startup").

Glyphs. VisPy keeps a glyph atlas per text visual's font manager, so every canvas (and most text
visuals) loads each character again: FreeType at 256 pt copied into a list, then a distance
field computed in NumPy. Here `TextureFont._load_char` keeps the finished tile (and the glyph's
metrics) per font and character; another atlas only copies the tile in. Kerning pairs are
cached the same way. Only the CPU renderer is cached (the GPU one draws into the atlas itself).

The finished tiles are also kept on disk between launches (`save` / `load_saved`, one file per
VisPy version under the user's cache directory: a JSON index and the tiles' bytes, read without
a zip reader, which a launch would import for this file alone), so a launch after the first
renders no glyph at all; a missing, unreadable or foreign file is ignored and rebuilt.

Shader variables. `gloo.Program` parses each program's source for its uniforms and attributes
with a backtracking regular expression, and the window builds many programs from a few distinct
sources. The parse is kept per source text (by its SHA-1), and on disk with the glyphs, so a
launch's first paints parse none of the sources a previous launch met.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from gpuviz_app.render import shader_compile

_variables: dict[str, dict] = {}  # by the SHA-1 of the program's source
_tiles: dict[tuple, tuple[dict[str, Any], np.ndarray]] = {}
_kerning: dict[tuple, float] = {}
_original = None  # VisPy's own loader, once replaced
stats = {"rendered": 0, "reused": 0, "parsed": 0}
_GLYPH_FILE_VERSION = 2
_MAGIC = b"gpuviz glyphs\n"  # then the index's length (8 bytes, little-endian), the index, the tiles
_saved_tiles = 0  # how many of `_tiles` the file on disk holds
_saved_pairs = 0  # and how many of `_kerning`
_saved_parses = 0  # and of `_variables`


class _TileSink:
    """Stands in for the atlas while the CPU renderer writes one glyph's tile."""

    def __init__(self, size: tuple[int, int]) -> None:
        self.tile = np.zeros((size[1], size[0], 3), np.uint8)

    def __setitem__(self, key, value) -> None:
        self.tile[key] = value


def _font_key(font: dict) -> tuple:
    return font["face"], font["bold"], font["italic"], font["size"]


def _kern(font: dict, left: str, right: str) -> float:
    key = (*_font_key(font), left, right)
    value = _kerning.get(key)
    if value is None:
        from vispy.util.fonts._freetype import _load_font

        face = _load_font(font["face"], font["bold"], font["italic"])
        face.set_char_size(font["size"] * 64)
        value = _kerning[key] = face.get_kerning(left, right).x / 64.0
    return value


def _place(texture_font, char: str, glyph: dict, tile: np.ndarray) -> None:
    """Put `tile` into the font's atlas and record where, as VisPy's own loader does."""
    h, w = tile.shape[:2]
    atlas = texture_font._atlas
    region = atlas.get_free_region(w + 2, h + 2)
    if region is None:
        raise RuntimeError("Cannot store glyph")
    x, y = region[0] + 1, region[1] + 1
    atlas[y : y + h, x : x + w, :] = tile
    shape = atlas.shape
    glyph.update(size=(w, h), texcoords=(x / float(shape[1]), y / float(shape[0]),
                                         (x + w) / float(shape[1]), (y + h) / float(shape[0])))


def glyph_file() -> Path:
    """Where the glyph tiles are kept between launches: $XDG_CACHE_HOME (or ~/.cache)/gpuviz."""
    import vispy

    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "gpuviz" / f"glyphs-{_GLYPH_FILE_VERSION}-vispy-{vispy.__version__}.bin"


def load_saved() -> int:
    """Add the tiles a previous launch saved to the cache; returns how many were read. A file
    that cannot be read as written by `save` is ignored (it is rewritten at the next save)."""
    global _saved_tiles, _saved_pairs, _saved_parses
    path = glyph_file()
    try:
        data = path.read_bytes()
        if not data.startswith(_MAGIC):
            raise ValueError("not a glyph file")
        body = len(_MAGIC) + 8
        length = int.from_bytes(data[len(_MAGIC):body], "little")
        index = json.loads(data[body:body + length].decode("utf-8"))
        tiles = np.frombuffer(data, np.uint8, offset=body + length)
        loaded: dict[tuple, tuple[dict[str, Any], np.ndarray]] = {}
        for entry in index["glyphs"]:
            h, w, start = entry["shape"][0], entry["shape"][1], entry["start"]
            tile = tiles[start:start + h * w * 3].reshape(h, w, 3)
            if tile.size != h * w * 3:
                raise ValueError("short tile")
            metrics = {"offset": tuple(entry["offset"]), "advance": float(entry["advance"])}
            loaded[tuple(entry["key"])] = (metrics, tile)
        kerning = {tuple(key): float(value) for key, value in index["kerning"]}
        variables = {str(key): {str(name): tuple(v) for name, v in entries if len(v) == 4}
                     for key, entries in index.get("variables", {}).items()}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return 0
    for key, value in loaded.items():
        _tiles.setdefault(key, value)
    for key, value in kerning.items():
        _kerning.setdefault(key, value)
    for key, value in variables.items():
        _variables.setdefault(key, value)
    _saved_tiles, _saved_pairs, _saved_parses = len(_tiles), len(_kerning), len(_variables)
    return len(loaded)


def save() -> bool:
    """Write the cache's tiles, kerning pairs and shader variables for the next launch, if it holds
    any the file does not (texts sharing an atlas meet pairs of characters without new tiles); True
    when written. Never raises: a launch without a writable cache directory renders its glyphs."""
    global _saved_tiles, _saved_pairs, _saved_parses
    if len(_tiles) <= _saved_tiles and len(_kerning) <= _saved_pairs and len(_variables) <= _saved_parses:
        return False
    entries, parts, start = [], [], 0
    for key, (metrics, tile) in list(_tiles.items()):
        entries.append({"key": list(key), "offset": list(metrics["offset"]), "advance": metrics["advance"],
                        "shape": list(tile.shape[:2]), "start": start})
        parts.append(tile.reshape(-1))
        start += tile.size
    pairs = [[list(k), v] for k, v in list(_kerning.items())]
    parses = {key: [[name, list(v)] for name, v in found.items()] for key, found in list(_variables.items())}
    index = {"glyphs": entries, "kerning": pairs, "variables": parses}
    path = glyph_file()
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        encoded = json.dumps(index).encode("utf-8")
        with open(temporary, "wb") as f:
            f.write(_MAGIC + len(encoded).to_bytes(8, "little") + encoded)
            f.write(np.concatenate(parts).tobytes())
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        return False
    _saved_tiles, _saved_pairs, _saved_parses = len(entries), len(pairs), len(parses)
    return True


def install() -> None:
    """Route VisPy's glyph loading and shader parsing through the caches (once per process)."""
    global _original
    if _original is not None:
        return
    _install_variable_cache()
    shader_compile.install()
    load_saved()
    from vispy.visuals.text import text as vispy_text

    original = _original = vispy_text.TextureFont._load_char

    def load_char(self, char: str) -> None:
        if not isinstance(self._renderer, vispy_text.SDFRendererCPU):
            return original(self, char)
        key = (*_font_key(self._font), char)
        cached = _tiles.get(key)
        if cached is None:
            from vispy.util.fonts._freetype import _load_glyph

            _load_glyph(self._font, char, self._glyphs)
            glyph = self._glyphs[char]
            bitmap = glyph["bitmap"]
            spread, ratio = self._spread, self.ratio
            data = np.zeros((bitmap.shape[0] + 2 * spread, bitmap.shape[1] + 2 * spread), np.uint8)
            data[spread:-spread, spread:-spread] = bitmap
            size = (data.shape[1] // ratio, data.shape[0] // ratio)
            sink = _TileSink(size)
            self._renderer.render_to_texture(data, sink, (0, 0), size)
            _tiles[key] = ({k: glyph[k] for k in ("offset", "bitmap", "advance")}, sink.tile)
            for other in self._glyphs:  # remember the pairs FreeType was just asked for
                _kerning.setdefault((*_font_key(self._font), other, char), glyph["kerning"][other])
                _kerning.setdefault((*_font_key(self._font), char, other), self._glyphs[other]["kerning"][char])
            stats["rendered"] += 1
            _place(self, char, glyph, sink.tile)
            return
        metrics, tile = cached
        glyph = dict(char=char, kerning={}, **metrics)
        self._glyphs[char] = glyph
        for other, other_glyph in self._glyphs.items():
            glyph["kerning"][other] = _kern(self._font, other, char)
            other_glyph["kerning"][char] = _kern(self._font, char, other)
        stats["reused"] += 1
        _place(self, char, glyph, tile)

    vispy_text.TextureFont._load_char = load_char


def _install_variable_cache() -> None:
    from vispy.gloo.program import Program

    parse = Program._parse_variables_from_code

    def parse_once(self, update_variables: bool = True) -> None:
        code = "\n\n".join(shader.code for shader in self._shaders)  # what VisPy's parser reads
        key = hashlib.sha1(code.encode("utf-8")).hexdigest()
        known = _variables.get(key)
        if known is None:
            parse(self, update_variables=False)
            _variables[key] = dict(self._code_variables)
            stats["parsed"] += 1
        else:
            self._code_variables = dict(known)
        if update_variables:
            self._process_pending_variables()

    Program._parse_variables_from_code = parse_once
