"""What a folder holds: class subfolders of images, an IDX pair, or one data file.

The walk follows symbolic links but refuses a loop (a link back to a folder it is inside),
stops at a depth and a file count no dataset needs, and checks for cancel as it goes.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats.arrays import SPLITS
from gpuviz_app.data.formats.context import LoadContext
from gpuviz_app.data.formats.sniff import IMAGE_EXTENSIONS, is_idx_header, is_pickle_header

MAX_DEPTH = 8
MAX_FILES = 2_000_000
IGNORED_NAMES = frozenset({"__MACOSX", "Thumbs.db", "desktop.ini"})


@dataclass
class Listing:
    """Files and subfolders of one folder (hidden entries left out)."""

    files: list[Path] = field(default_factory=list)
    folders: list[Path] = field(default_factory=list)


def _identity(path: Path, root: Path) -> tuple[int, int]:
    try:
        st = path.stat()
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetError(root, f"holds a symbolic link loop ({_rel(root, path)})") from None
        raise DatasetError(root, f"could not be read at {_rel(root, path)} ({exc.strerror or exc})") from None
    return st.st_dev, st.st_ino


def _rel(root: Path, path: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def list_folder(folder: Path, root: Path) -> Listing:
    listing = Listing()
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetError(root, f"holds a symbolic link loop ({_rel(root, folder)})") from None
        raise DatasetError(root if folder != root else folder,
                           f"could not be listed ({exc.strerror or exc})") from None
    for entry in entries:
        if entry.name.startswith(".") or entry.name in IGNORED_NAMES:
            continue
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir(follow_symlinks=True)
            is_file = not is_dir and entry.is_file(follow_symlinks=True)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise DatasetError(root, f"holds a symbolic link loop ({_rel(root, path)})") from None
            continue
        if is_dir:
            listing.folders.append(path)
        elif is_file:
            listing.files.append(path)
        elif entry.is_symlink():
            try:
                os.stat(path)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    raise DatasetError(root, f"holds a symbolic link loop ({_rel(root, path)})") from None
    return listing


def walk_files(top: Path, root: Path, ctx: LoadContext, ancestors: tuple[tuple[int, int], ...] = (),
               depth: int = 0, found: list[Path] | None = None) -> list[Path]:
    """Every file under `top`, refusing symbolic link loops."""
    found = [] if found is None else found
    me = _identity(top, root)
    if me in ancestors:
        raise DatasetError(root, f"holds a symbolic link loop ({_rel(root, top)} leads back to a folder above it)")
    if depth > MAX_DEPTH:
        raise DatasetError(root, f"nests folders more than {MAX_DEPTH} deep ({_rel(root, top)})")
    listing = list_folder(top, root)
    found.extend(listing.files)
    if len(found) > MAX_FILES:
        raise DatasetError(root, f"holds more than {MAX_FILES:,} files, more than any dataset gpuviz trains on")
    ctx.check()
    for sub in listing.folders:
        walk_files(sub, root, ctx, ancestors + (me,), depth + 1, found)
    return found


def _head(path: Path, n: int = 64) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except OSError:
        return b""


def _is_idx(path: Path) -> bool:
    head = _head(path)
    if head[:2] == b"\x1f\x8b":
        import gzip
        import zlib

        try:
            with gzip.open(path, "rb") as f:
                head = f.read(64)
        except (OSError, EOFError, zlib.error):
            return False
    return is_idx_header(head)


def _refuse_broken_idx(files: list[Path], idx: list[Path]) -> None:
    """A file meant as IDX (gzip, or named like IDX) that is not readable as IDX: raise the
    reason the file alone gets (a damaged gzip, a wrong magic number) rather than blame its
    partner or the folder."""
    from gpuviz_app.data.formats.sniff import TABLE_EXTENSIONS, _named_idx, sniff_file

    for path in files:
        if path in idx:
            continue
        named = path.suffix.lower() not in TABLE_EXTENSIONS and _named_idx(path.name.lower())
        if named or _head(path, 2) == b"\x1f\x8b":
            sniff_file(path)  # raises the file's own reason; a file that passes is left to the caller


def _is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


def _data_files(files: list[Path]) -> list[Path]:
    from gpuviz_app.data.formats.sniff import SIGNED_SUFFIXES, TABLE_EXTENSIONS

    known = SIGNED_SUFFIXES | TABLE_EXTENSIONS
    return [f for f in files if f.suffix.lower() in known and f.name.lower() not in ("readme.txt", "license.txt")
            and not f.name.lower().endswith(".meta.txt")]


def class_images(root: Path, class_folders: list[Path], ctx: LoadContext,
                 class_name: Callable[[Path], str] = lambda p: p.name) -> tuple[list[tuple[Path, int]], list[str], int]:
    """(image, class index) pairs, the class names, and how many other files were ignored."""
    names = sorted({class_name(f) for f in class_folders})
    index = {n: i for i, n in enumerate(names)}
    files: list[tuple[Path, int]] = []
    ignored = 0
    for folder in class_folders:
        for path in walk_files(folder, root, ctx):
            if _is_image(path):
                files.append((path, index[class_name(folder)]))
            else:
                ignored += 1
    return files, names, ignored


def _has_images(folder: Path, root: Path, ctx: LoadContext) -> bool:
    return any(_is_image(p) for p in walk_files(folder, root, ctx))


def load_folder(root: Path, ctx: LoadContext, depth: int = 0) -> Dataset:
    from gpuviz_app.data.formats import load_file
    from gpuviz_app.data.formats.idx import load_idx_files
    from gpuviz_app.data.formats.images import load_image_files

    if depth == 0:
        walk_files(root, root, ctx)  # refuses loops, and absurd trees, before anything is read
    listing = list_folder(root, root)
    if not listing.files and not listing.folders:
        raise DatasetError(root, "is an empty folder")
    idx = [f for f in listing.files if _is_idx(f)]
    if len(idx) >= 2:
        return load_idx_files(idx, ctx, name=root.name)
    if len(idx) == 1:
        _refuse_broken_idx(listing.files, idx)  # the partner is there but unreadable: say so about it
        raise DatasetError(idx[0], "is an IDX file with no partner in its folder (an images file needs a labels file)")
    pickles = [f for f in listing.files if f.suffix.lower() in (".pkl", ".pickle") or is_pickle_header(_head(f, 2))]
    image_folders = [f for f in listing.folders if _has_images(f, root, ctx)]
    if len(image_folders) == 1 and depth < 3 and any(_has_images(f, root, ctx)
                                                     for f in list_folder(image_folders[0], root).folders):
        return load_folder(image_folders[0], ctx, depth + 1)  # a wrapper folder, as unzipping often makes
    if image_folders:
        split_names = {f.name.lower() for f in image_folders}
        if split_names <= set(SPLITS):  # train/ and test/ each holding class folders
            inner = [c for split in image_folders for c in list_folder(split, root).folders]
            if inner:
                files, classes, ignored = class_images(root, inner, ctx)
                warnings = [f"joined the {', '.join(sorted(split_names))} folders"] if len(image_folders) > 1 else []
                return load_image_files(root, files, classes, ctx, ignored, warnings)
        files, classes, ignored = class_images(root, image_folders, ctx)
        loose = sum(_is_image(f) for f in listing.files)
        warnings = [f"{loose} image(s) directly in the folder belong to no class and were left out"] if loose else []
        return load_image_files(root, files, classes, ctx, ignored, warnings)
    if any(_is_image(f) for f in listing.files):
        raise DatasetError(root, "holds images but no class subfolders (put each class's images in a subfolder "
                                 "named after the class)")
    data = _data_files(listing.files)
    if len(data) == 1:
        return load_file(data[0], ctx)
    if len(data) == 2 and all(f.suffix.lower() == ".npy" for f in data):
        from gpuviz_app.data.formats.numpy_files import load_npy_pair, pair_npy_paths

        return load_npy_pair(*pair_npy_paths(*data), ctx)
    if len(data) > 1:
        shown = ", ".join(f.name for f in data[:4])
        raise DatasetError(root, f"holds several data files ({shown}) and gpuviz cannot tell which to open "
                                 "(drop one of them)")
    if pickles:
        shown = ", ".join(f.name for f in pickles[:3])
        raise DatasetError(root, f"holds Python pickles ({shown}), which can run code when opened, so gpuviz "
                                 "does not open them (CIFAR's python version is pickles: convert it to .npz)")
    if not listing.files and len(listing.folders) == 1 and depth < 3:
        return load_folder(listing.folders[0], ctx, depth + 1)  # a wrapper folder, as unzipping often makes
    _refuse_broken_idx(listing.files, idx)
    raise DatasetError(root, "holds no dataset layout gpuviz knows (class subfolders of images, an IDX "
                             "images/labels pair, or one data file)")
