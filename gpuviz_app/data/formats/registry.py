"""The one list of dataset file formats gpuviz reads.

Sniffing, the loaders, the Open dialog's filter and the MIME types the desktop entry declares
are all derived from `FORMATS`, so they cannot disagree. Adding a format is one loader module
and one line here. Loaders import their module on first use: this module stays free of torch
and of the loaders' dependencies, so the window can build its dialog filter at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

if TYPE_CHECKING:
    from gpuviz_app.data.dataset import Dataset
    from gpuviz_app.data.formats.context import LoadContext

Loader = Callable[[Path, "LoadContext"], "Dataset"]


@dataclass(frozen=True)
class FileFormat:
    """`name` is what `sniff_file` answers; `patterns` are file-name globs (the dialog's filter);
    `mime_types` are the desktop's names for these files."""

    name: str
    patterns: tuple[str, ...]
    mime_types: tuple[str, ...]
    load: Loader

    @property
    def suffixes(self) -> frozenset[str]:
        return suffixes(self.patterns)


@dataclass(frozen=True)
class FolderContents:
    """Files gpuviz reads only inside a dropped folder (one subfolder per class), never alone."""

    patterns: tuple[str, ...]
    mime_types: tuple[str, ...]

    @property
    def suffixes(self) -> frozenset[str]:
        return suffixes(self.patterns)


def suffixes(patterns: tuple[str, ...]) -> frozenset[str]:
    """The plain `*.ext` patterns as lower-case suffixes (".csv")."""
    return frozenset(p[1:].lower() for p in patterns if p.startswith("*.") and "*" not in p[1:])


def _load_npz(path: Path, ctx: LoadContext) -> Dataset:
    from gpuviz_app.data.formats.numpy_files import load_npz

    return load_npz(path, ctx)


def _load_npy(path: Path, ctx: LoadContext) -> Dataset:
    from gpuviz_app.data.formats.numpy_files import load_npy

    return load_npy(path, ctx)


def _load_idx(path: Path, ctx: LoadContext) -> Dataset:
    from gpuviz_app.data.formats.idx import load_idx

    return load_idx(path, ctx)


def _load_torch(path: Path, ctx: LoadContext) -> Dataset:
    from gpuviz_app.data.formats.tensor_files import load_torch

    return load_torch(path, ctx)


def _load_safetensors(path: Path, ctx: LoadContext) -> Dataset:
    from gpuviz_app.data.formats.tensor_files import load_safetensors

    return load_safetensors(path, ctx)


def _load_table(path: Path, ctx: LoadContext) -> Dataset:
    from gpuviz_app.data.formats.table import load_table

    return load_table(path, ctx)


FORMATS: tuple[FileFormat, ...] = (
    FileFormat("npz", ("*.npz",), ("application/x-npz",), _load_npz),
    FileFormat("npy", ("*.npy",), ("application/x-npy",), _load_npy),
    FileFormat("table", ("*.csv", "*.tsv", "*.tab", "*.txt", "*.data"), ("text/csv", "text/tab-separated-values"),
               _load_table),
    FileFormat("torch", ("*.pt", "*.pth"), ("application/x-pytorch",), _load_torch),
    FileFormat("safetensors", ("*.safetensors",), ("application/x-safetensors",), _load_safetensors),
    # IDX files are named like train-images-idx3-ubyte(.gz); compressed ones may be any *.gz
    FileFormat("idx", ("*ubyte*", "*.idx", "*.gz"), ("application/x-idx", "application/x-idx+gzip"), _load_idx),
)

IMAGES = FolderContents(("*.png", "*.jpg", "*.jpeg", "*.bmp", "*.gif", "*.webp", "*.tif", "*.tiff"),
                        ("image/png", "image/jpeg", "image/bmp", "image/webp"))
FOLDER_MIME_TYPE = "inode/directory"

BY_NAME: dict[str, FileFormat] = {f.name: f for f in FORMATS}


def data_format(name: str) -> FileFormat:
    """The format `sniff_file` named."""
    return BY_NAME[name]


def file_dialog_filter() -> str:
    """The Open dialog's name filters, in Qt's `;;`-separated form: every dataset file, then all files."""
    patterns = " ".join(p for f in FORMATS for p in f.patterns)
    return f"Datasets ({patterns});;All files (*)"


def mime_types() -> tuple[str, ...]:
    """Every MIME type gpuviz opens: the desktop entry's `MimeType=` list, in order."""
    return (*(t for f in FORMATS for t in f.mime_types), *IMAGES.mime_types, FOLDER_MIME_TYPE)
