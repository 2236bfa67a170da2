"""`gpuviz install-desktop`: the launcher entry, file types and icons under the user's XDG data dir.

The entry installed runs the very `gpuviz` that installed it (console script, bundle, or the
interpreter with `-m gpuviz_app`), by absolute path, so the launcher works whatever PATH a
desktop session starts with. Every file is rewritten only when its content changes, so
running it twice is harmless, and `--uninstall` removes exactly what it wrote.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from gpuviz_app.resources import resource, resource_dir

APP_ID = "io.github.gpuviz.gpuviz"
ICON_SIZES = (16, 24, 32, 48, 64, 128, 256, 512)
# Characters that oblige an Exec argument to be quoted (Desktop Entry spec, "The Exec key").
_RESERVED = set(" \t\n\"'\\><~|&;$*?#()`")


def data_home() -> Path:
    """$XDG_DATA_HOME when set to an absolute path, else ~/.local/share (XDG Base Directory spec)."""
    value = os.environ.get("XDG_DATA_HOME", "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / ".local" / "share"


def desktop_source(name: str) -> Path:
    """A file of packaging/: shipped as resources/desktop in the wheel and bundle, or in a checkout."""
    for folder in (resource_dir() / "desktop", Path(__file__).resolve().parent.parent / "packaging"):
        if (folder / name).is_file():
            return folder / name
    raise FileNotFoundError(f"gpuviz desktop file {name!r} is missing from this installation")


def launcher_command() -> list[str]:
    """The absolute command that runs this same gpuviz."""
    if getattr(sys, "frozen", False):  # a bundle: its own executable
        return [os.path.abspath(sys.executable)]
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.name == "gpuviz" and script.is_file():
        return [os.path.abspath(script)]
    beside = Path(sys.executable).parent / "gpuviz"  # the console script of this environment
    if beside.is_file() and os.access(beside, os.X_OK):
        return [os.path.abspath(beside)]
    return [os.path.abspath(sys.executable), "-m", "gpuviz_app"]


def exec_argument(arg: str) -> str:
    """One argument of an Exec value, quoted and escaped as the Desktop Entry spec asks."""
    arg = arg.replace("%", "%%")
    if any(c in _RESERVED for c in arg):
        quoted = "".join("\\" + c if c in '"`$\\' else c for c in arg)
        arg = f'"{quoted}"'
    return arg.replace("\\", "\\\\")  # the value itself is a string with backslash escapes


def render_entry(template: str, command: list[str]) -> str:
    """The template's entry with its Exec and TryExec pointing at `command`."""
    lines = []
    for line in template.splitlines():
        key, sep, value = line.partition("=")
        if sep and key == "Exec":
            program, _, rest = value.partition(" ")
            if program == "gpuviz":
                value = " ".join([*(exec_argument(a) for a in command), rest]).strip()
            line = f"Exec={value}"
        elif sep and key == "TryExec":
            line = "TryExec=" + command[0].replace("\\", "\\\\")
        lines.append(line)
    return "\n".join(lines) + "\n"


def _sources() -> list[tuple[str, str]]:
    """(path under the data dir, where it comes from) for each file `install` writes."""
    pairs = [
        (f"applications/{APP_ID}.desktop", f"desktop:{APP_ID}.desktop"),
        (f"mime/packages/{APP_ID}.xml", f"desktop:{APP_ID}.mime.xml"),
        (f"metainfo/{APP_ID}.metainfo.xml", f"desktop:{APP_ID}.metainfo.xml"),
        (f"icons/hicolor/scalable/apps/{APP_ID}.svg", "icons/gpuviz.svg"),
    ]
    pairs += [(f"icons/hicolor/{n}x{n}/apps/{APP_ID}.png", f"icons/gpuviz-{n}.png") for n in ICON_SIZES]
    return pairs


def installed_paths() -> list[str]:
    """Paths, relative to the data dir, that `install` writes and `uninstall` removes."""
    return [rel for rel, _ in _sources()]


def planned_files(command: list[str]) -> dict[str, bytes]:
    """What `install` writes, by path relative to the data dir."""
    files = {}
    for rel, source in _sources():
        if source.startswith("desktop:"):
            content = desktop_source(source.removeprefix("desktop:")).read_bytes()
        else:
            content = resource(source).read_bytes()
        if rel.startswith("applications/"):
            content = render_entry(content.decode("utf-8"), command).encode("utf-8")
        files[rel] = content
    return files


def _write_if_changed(path: Path, content: bytes) -> bool:
    if path.is_file() and path.read_bytes() == content:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return True


def refresh_caches(root: Path) -> list[str]:
    """Run the cache tools that exist; a missing or failing tool only delays what the desktop shows."""
    jobs = (
        ("update-desktop-database", ["-q", str(root / "applications")]),
        ("update-mime-database", [str(root / "mime")]),
        ("gtk-update-icon-cache", ["-q", "-t", "-f", str(root / "icons" / "hicolor")]),
    )
    ran = []
    for tool, args in jobs:
        exe = shutil.which(tool)
        if exe is None or not Path(args[-1]).is_dir():
            continue
        try:
            subprocess.run([exe, *args], capture_output=True, timeout=120, check=False)
            ran.append(tool)
        except (OSError, subprocess.SubprocessError):
            pass
    return ran


def install(root: Path | None = None, command: list[str] | None = None) -> list[Path]:
    """Write the entry, MIME types, metadata and icons; return the files that changed."""
    root = root or data_home()
    changed = [root / rel for rel, content in planned_files(command or launcher_command()).items()
               if _write_if_changed(root / rel, content)]
    refresh_caches(root)
    return changed


def uninstall(root: Path | None = None) -> list[Path]:
    """Remove what `install` wrote; return the files removed."""
    root = root or data_home()
    removed = []
    for rel in installed_paths():
        path = root / rel
        if path.is_file() or path.is_symlink():
            path.unlink()
            removed.append(path)
    refresh_caches(root)
    return removed


def install_desktop_command(remove: bool) -> int:
    root = data_home()
    try:
        if remove:
            removed = uninstall(root)
            print(f"removed {len(removed)} gpuviz desktop files from {root}" if removed
                  else f"no gpuviz desktop files to remove under {root}")
            return 0
        command = launcher_command()
        changed = install(root, command)
    except OSError as exc:
        print(f"error: {getattr(exc, 'filename', None) or root}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    state = f"installed {len(changed)} files" if changed else "already installed, nothing changed"
    print(f"gpuviz desktop entry {state} under {root}")
    print(f"the launcher runs: {' '.join(command)}")
    return 0
