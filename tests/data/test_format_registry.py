"""One registry of dataset formats: sniffing, loading, the Open dialog and the desktop's MIME
types are derived from it and agree with the files in packaging/."""

from __future__ import annotations

import configparser
import fnmatch
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gpuviz_app.data.dataset import Dataset
from gpuviz_app.data.formats import LoadContext
from gpuviz_app.data.formats.registry import FOLDER_MIME_TYPE, FORMATS, IMAGES, file_dialog_filter, mime_types
from gpuviz_app.data.formats.sniff import DATA_FORMATS, sniff_file
from gpuviz_app.desktop import APP_ID
from tests.datasets import make
from tests.fresh_python import run_python

PACKAGING = Path(__file__).resolve().parents[2] / "packaging"
MIME_XML = PACKAGING / f"{APP_ID}.mime.xml"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"

# a sample file of each registered format: (maker in tests/datasets.py, file inside what it writes)
SAMPLES = {
    "npz": ("npz", None),
    "npy": ("npy", None),
    "table": ("csv", None),
    "torch": ("pt-dict", None),
    "safetensors": ("safetensors", None),
    "idx": ("idx-folder", "train-images-idx3-ubyte"),
}


def desktop_mime_types() -> list[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str
    parser.read_string((PACKAGING / f"{APP_ID}.desktop").read_text())
    return [t for t in parser["Desktop Entry"]["MimeType"].split(";") if t]


def mime_xml_globs() -> dict[str, list[str]]:
    root = ET.parse(MIME_XML).getroot()
    return {t.get("type"): [g.get("pattern") for g in t.iter(f"{MIME_NS}glob")]
            for t in root.iter(f"{MIME_NS}mime-type")}


def test_format_names_are_unique_and_are_what_sniffing_answers():
    names = [f.name for f in FORMATS]
    assert len(set(names)) == len(names)
    assert set(DATA_FORMATS) == set(names)


def test_every_format_has_a_sample_here():
    """A new format needs a sample file below, so that its loader is exercised."""
    assert set(SAMPLES) == {f.name for f in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS, ids=lambda f: f.name)
def test_every_format_is_sniffed_and_loaded_by_its_registered_loader(fmt, tmp_path):
    maker, inside = SAMPLES[fmt.name]
    sample = make(maker, tmp_path)
    path = sample.paths[0] / inside if inside else sample.paths[0]
    assert sniff_file(path) == fmt.name
    assert any(fnmatch.fnmatch(path.name.lower(), p) for p in fmt.patterns), \
        f"{path.name} is not matched by the {fmt.name} format's patterns"
    dataset = fmt.load(path, LoadContext(path=path))
    assert isinstance(dataset, Dataset)
    assert len(dataset.y) == sample.samples and len(dataset.classes) == sample.classes


def test_every_pattern_is_in_the_open_dialogs_filter():
    first, rest = file_dialog_filter().split(";;", 1)
    assert first.startswith("Datasets (") and first.endswith(")")
    offered = first[len("Datasets ("):-1].split()
    assert sorted(offered) == sorted(p for f in FORMATS for p in f.patterns)
    assert rest == "All files (*)"


def test_the_desktop_entry_declares_exactly_the_registered_mime_types():
    declared = desktop_mime_types()
    assert len(set(declared)) == len(declared)
    assert set(declared) == set(mime_types())
    assert FOLDER_MIME_TYPE in declared and set(IMAGES.mime_types) <= set(declared)


def test_the_mime_xml_defines_exactly_the_private_registered_types():
    """Types shared-mime-info lacks (`x-`) are defined by gpuviz's MIME XML, and it defines no others."""
    private = {t for t in mime_types() if "/x-" in t}
    assert set(mime_xml_globs()) == private


def test_files_the_desktop_types_name_are_offered_by_the_open_dialog():
    """Each glob of gpuviz's MIME XML names files that its format's patterns match."""
    patterns = {t: f.patterns for f in FORMATS for t in f.mime_types}
    for mime_type, globs in mime_xml_globs().items():
        assert globs, f"{mime_type} has no glob"
        for glob in globs:
            example = glob.replace("*", "train")
            assert any(fnmatch.fnmatch(example, p) for p in patterns[mime_type]), (mime_type, glob)


def test_the_registry_and_the_dialog_filter_load_neither_torch_nor_a_loader():
    code = (
        "import sys\n"
        "from gpuviz_app.data.formats.registry import file_dialog_filter, mime_types\n"
        "file_dialog_filter(), mime_types()\n"
        "loaders = ('table', 'numpy_files', 'tensor_files', 'idx')\n"
        "heavy = ('torch', 'safetensors', *(f'gpuviz_app.data.formats.{m}' for m in loaders))\n"
        "loaded = [m for m in heavy if m in sys.modules]\n"
        "print(loaded)\n"
    )
    proc = run_python(code, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.strip() == "[]"
