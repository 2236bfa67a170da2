"""`gpuviz install-desktop [--uninstall]` into a temporary XDG data dir, as a user runs it."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess

import pytest

import gpuviz_app
from gpuviz_app import __version__
from gpuviz_app.desktop import APP_ID, ICON_SIZES

ENTRY = f"applications/{APP_ID}.desktop"
CHECKOUT = os.path.dirname(os.path.dirname(os.path.abspath(gpuviz_app.__file__)))


def entry_value(text: str, key: str) -> str:
    return next(line.split("=", 1)[1] for line in text.splitlines() if line.startswith(f"{key}="))


def test_install_writes_entry_types_and_icons_and_uninstall_removes_them(run_gpuviz, tmp_path):
    home = tmp_path / "share"
    env = {"XDG_DATA_HOME": str(home)}
    first = run_gpuviz("install-desktop", display=False, env=env)
    assert first.returncode == 0, first.stderr
    entry = home / ENTRY
    assert entry.is_file()
    assert (home / f"mime/packages/{APP_ID}.xml").is_file()
    assert (home / f"icons/hicolor/scalable/apps/{APP_ID}.svg").is_file()
    for size in ICON_SIZES:
        assert (home / f"icons/hicolor/{size}x{size}/apps/{APP_ID}.png").is_file()
    text = entry.read_text()
    assert entry_value(text, "Icon") == APP_ID

    # Exec runs this very gpuviz by absolute path, with the files the launcher passes.
    command = shlex.split(entry_value(text, "Exec"))
    assert command[-1] == "%F"
    assert os.path.isabs(command[0]) and os.access(command[0], os.X_OK)
    assert entry_value(text, "TryExec") == command[0]
    version = subprocess.run([*command[:-1], "--version"], capture_output=True, text=True, timeout=120,
                             env={**os.environ, "PYTHONPATH": CHECKOUT})
    assert version.stdout.strip() == f"gpuviz {__version__}", version.stderr

    if shutil.which("update-mime-database"):  # the MIME types were compiled for the desktop
        assert (home / "mime/application/x-npz.xml").is_file()
        assert (home / "mime/application/x-idx+gzip.xml").is_file()
    if shutil.which("update-desktop-database"):
        assert f"application/x-npz={APP_ID}.desktop" in (home / "applications/mimeinfo.cache").read_text()
    if shutil.which("desktop-file-validate"):
        check = subprocess.run(["desktop-file-validate", str(entry)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr

    # A second install changes nothing.
    stamps = {p: p.stat().st_mtime_ns for p in home.rglob(f"{APP_ID}*")}
    second = run_gpuviz("install-desktop", display=False, env=env)
    assert second.returncode == 0, second.stderr
    assert "nothing changed" in second.stdout
    assert {p: p.stat().st_mtime_ns for p in home.rglob(f"{APP_ID}*")} == stamps

    removed = run_gpuviz("install-desktop", "--uninstall", display=False, env=env)
    assert removed.returncode == 0, removed.stderr
    assert not list(home.rglob(f"{APP_ID}*"))
    if shutil.which("update-desktop-database"):
        assert APP_ID not in (home / "applications/mimeinfo.cache").read_text()
    again = run_gpuviz("install-desktop", "--uninstall", display=False, env=env)
    assert again.returncode == 0, again.stderr
    assert "no gpuviz desktop files" in again.stdout


def test_install_reports_an_unwritable_data_dir_in_one_line(run_gpuviz, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    proc = run_gpuviz("install-desktop", display=False, env={"XDG_DATA_HOME": str(blocker)})
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: ") and len(proc.stderr.strip().splitlines()) == 1
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("argv, expected", [
    ([], None),
    (["a.npz"], "a.npz"),
    (["imgs.gz", "labels.gz"], ["imgs.gz", "labels.gz"]),
    (["--model", "mlp", "x.csv"], "x.csv"),
])
def test_the_launch_command_takes_one_or_several_paths(argv, expected):
    from gpuviz_app.cli import launch_options

    assert launch_options(argv).path == expected
