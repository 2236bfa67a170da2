"""Loading files and folders by what they contain (content first, then the name).

`load_path` takes one file or folder, `load_paths` several dropped together (an IDX
images/labels pair, an x/y pair of .npy files, or class folders of images). Each raises
DatasetError with a one-sentence reason naming the file for anything unusable.
"""

from __future__ import annotations

import errno
import stat
from pathlib import Path
from typing import Sequence

from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats.context import LoadCancelled, LoadContext, LoadOptions

__all__ = ["LoadCancelled", "LoadContext", "LoadOptions", "load_file", "load_path", "load_paths"]


def _stat(path: Path):
    try:
        return path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            raise DatasetError(path, "is a symbolic link to something that does not exist") from None
        raise DatasetError(path, "does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetError(path, "is a symbolic link loop") from None
        raise DatasetError(path, f"could not be read ({exc.strerror or exc})") from None


def load_file(path: Path, ctx: LoadContext) -> Dataset:
    from gpuviz_app.data.formats.registry import data_format
    from gpuviz_app.data.formats.sniff import sniff_file

    ctx.path = ctx.path or path
    return data_format(sniff_file(path)).load(path, ctx)


def load_path(path: Path, ctx: LoadContext | None = None) -> Dataset:
    ctx = ctx or LoadContext(path=path)
    ctx.path = ctx.path or path
    st = _stat(path)
    if stat.S_ISDIR(st.st_mode):
        from gpuviz_app.data.formats.folders import load_folder

        return load_folder(path, ctx)
    if not stat.S_ISREG(st.st_mode):
        raise DatasetError(path, "is not a regular file or folder")
    return load_file(path, ctx)


def load_paths(paths: Sequence[Path], ctx: LoadContext | None = None) -> Dataset:
    """Several paths dropped together, which must form one dataset."""
    from gpuviz_app.data.formats.sniff import sniff_file

    ctx = ctx or LoadContext(path=paths[0])
    stats = [_stat(p) for p in paths]
    if all(stat.S_ISDIR(s.st_mode) for s in stats):
        return _load_class_folders(list(paths), ctx)
    if any(stat.S_ISDIR(s.st_mode) for s in stats):
        raise DatasetError(paths[0], "was dropped with other files and folders, which together are not one "
                                     "dataset (drop one folder or file)")
    kinds = [sniff_file(p) for p in paths]
    if all(k == "idx" for k in kinds):
        from gpuviz_app.data.formats.idx import load_idx_files

        return load_idx_files(list(paths), ctx)
    if len(paths) == 2 and kinds == ["npy", "npy"]:
        from gpuviz_app.data.formats.numpy_files import load_npy_pair, pair_npy_paths

        return load_npy_pair(*pair_npy_paths(paths[0], paths[1]), ctx)
    names = ", ".join(p.name for p in paths[:4])
    raise DatasetError(paths[0], f"was dropped with other files ({names}), which do not form one dataset "
                                 "(an IDX images/labels pair or an x/y pair of .npy files do)")


def _load_class_folders(folders: list[Path], ctx: LoadContext) -> Dataset:
    """Class folders selected and dropped together: each is one class."""
    from gpuviz_app.data.formats.folders import class_images, walk_files
    from gpuviz_app.data.formats.images import load_image_files

    parent = folders[0].parent
    for f in folders:
        walk_files(f, f, ctx)
    files, classes, ignored = class_images(parent, folders, ctx)
    if not files:
        raise DatasetError(folders[0], "and the other dropped folders hold no images (several folders dropped "
                                       "together are read as one class each)")
    return load_image_files(parent, files, classes, ctx, ignored)
