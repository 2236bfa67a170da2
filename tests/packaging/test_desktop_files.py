"""The files in packaging/ are valid for the tools desktops use, and agree with each other.

The validators are Debian packages (desktop-file-utils, appstream) that CI installs from
scripts/system-packages.txt; a test skips only when its validator binary is missing.
"""

from __future__ import annotations

import configparser
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from PIL import Image

from gpuviz_app.desktop import APP_ID, ICON_SIZES, render_entry

ROOT = Path(__file__).resolve().parents[2]
PACKAGING = ROOT / "packaging"
DESKTOP = PACKAGING / f"{APP_ID}.desktop"
METAINFO = PACKAGING / f"{APP_ID}.metainfo.xml"
MIME = PACKAGING / f"{APP_ID}.mime.xml"
MIME_NS = "{http://www.freedesktop.org/standards/shared-mime-info}"


def validator(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (CI installs it from scripts/system-packages.txt)")
    return path


def desktop_entry(text: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str
    parser.read_string(text)
    return parser["Desktop Entry"]


def run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


def test_desktop_entry_validates():
    proc = run(validator("desktop-file-validate"), str(DESKTOP))
    assert proc.returncode == 0 and not proc.stdout.strip(), proc.stdout + proc.stderr


@pytest.mark.parametrize("exe", ["/opt/gpu viz/gpuviz", "/home/u/$HOME`x`/\"q\"/50%/gpuviz"])
def test_installed_entry_with_an_awkward_path_validates_and_quotes_it(tmp_path, exe):
    text = render_entry(DESKTOP.read_text(), [exe])
    path = tmp_path / f"{APP_ID}.desktop"
    path.write_text(text)
    proc = run(validator("desktop-file-validate"), str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    exec_line = desktop_entry(text)["Exec"]
    assert exec_line.startswith('"') and exec_line.endswith(" %F")


def test_metainfo_validates():
    proc = run(validator("appstreamcli"), "validate", "--no-net", "--pedantic", str(METAINFO))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_entry_opens_files_and_names_the_types_gpuviz_reads():
    entry = desktop_entry(DESKTOP.read_text())
    assert entry["Exec"] == "gpuviz %F"
    assert entry["Icon"] == APP_ID
    assert entry["StartupWMClass"] == "gpuviz"  # Qt's WM_CLASS on X11: the application name ui.app sets
    types = set(filter(None, entry["MimeType"].split(";")))
    for wanted in ("text/csv", "text/tab-separated-values", "application/x-npz", "application/x-npy",
                   "application/x-safetensors", "application/x-pytorch", "application/x-idx+gzip",
                   "image/png", "image/jpeg", "inode/directory"):
        assert wanted in types
    defined = {t.get("type") for t in ET.parse(MIME).getroot().iter(f"{MIME_NS}mime-type")}
    assert {t for t in types if "/x-" in t} <= defined, "every private type is defined in the MIME XML"


def test_mime_types_compile_and_match_their_files(tmp_path):
    tool = validator("update-mime-database")
    (tmp_path / "mime/packages").mkdir(parents=True)
    shutil.copy(MIME, tmp_path / "mime/packages" / MIME.name)
    proc = run(tool, str(tmp_path / "mime"))
    assert proc.returncode == 0, proc.stderr
    globs = (tmp_path / "mime/globs2").read_text()
    for line in ("application/x-npz:*.npz", "application/x-npy:*.npy", "application/x-safetensors:*.safetensors",
                 "application/x-pytorch:*.pt", "application/x-idx+gzip:*-idx3-ubyte.gz",
                 "application/x-idx:*-idx1-ubyte"):
        assert line in globs


def test_metainfo_agrees_with_the_entry_and_its_screenshot_is_in_the_repository():
    root = ET.parse(METAINFO).getroot()
    assert root.findtext("id") == APP_ID
    assert root.find("launchable").text == DESKTOP.name
    assert root.findtext("project_license") == "MIT"
    image = root.find("screenshots/screenshot/image")
    assert image.text.endswith("/docs/screenshot.png")
    with Image.open(ROOT / "docs/screenshot.png") as shot:
        assert shot.size == (int(image.get("width")), int(image.get("height")))
        assert shot.text.get("gpuviz:step")  # made by the app (it writes the run into the PNG)


def test_icons_exist_at_every_size():
    icons = ROOT / "resources/icons"
    assert ET.parse(icons / "gpuviz.svg").getroot().tag.endswith("svg")
    for size in ICON_SIZES:
        with Image.open(icons / f"gpuviz-{size}.png") as image:
            assert image.size == (size, size)
            assert image.mode == "RGBA"
            assert image.getpixel((size // 2, size // 2))[3] == 255  # the tile is opaque in the middle
            assert image.getpixel((0, 0))[3] == 0  # and the corners are transparent
