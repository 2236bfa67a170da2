"""What a file holds, told from its first bytes, then from its name."""

from __future__ import annotations

import gzip
import re
import struct
import zipfile
import zlib
from pathlib import Path

from gpuviz_app.data.dataset import DatasetError
from gpuviz_app.data.formats.context import read_head
from gpuviz_app.data.formats.registry import BY_NAME, IMAGES

IMAGE_EXTENSIONS = IMAGES.suffixes
TABLE_EXTENSIONS = BY_NAME["table"].suffixes
TORCH_EXTENSIONS = BY_NAME["torch"].suffixes
# formats whose first bytes are a signature: a file named like one that lacks it is refused
SIGNED_SUFFIXES = frozenset().union(*(BY_NAME[n].suffixes for n in ("npz", "npy", "torch", "safetensors")))
IDX_TYPES = frozenset({0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E})
PICKLE_EXTENSIONS = frozenset({".pkl", ".pickle", ".joblib"})

# What `sniff_file` may answer: the registered formats (images are read only as part of a folder).
DATA_FORMATS = tuple(BY_NAME)

PICKLE_REASON = ("is a Python pickle, which can run code when opened, so gpuviz does not open it "
                 "(save the arrays as .npz or safetensors instead)")


def is_idx_header(head: bytes) -> bool:
    return len(head) >= 8 and head[0] == 0 and head[1] == 0 and head[2] in IDX_TYPES and 1 <= head[3] <= 4 \
        and len(head) >= 4 + 4 * head[3]


def is_image_header(head: bytes) -> bool:
    return (head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff") or head.startswith(b"GIF8")
            or head.startswith(b"BM") or head.startswith(b"II*\x00") or head.startswith(b"MM\x00*")
            or (head.startswith(b"RIFF") and head[8:12] == b"WEBP"))


def is_safetensors_header(head: bytes, size: int) -> bool:
    if len(head) < 10:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= size - 8 and head[8:9] == b"{"


def is_pickle_header(head: bytes) -> bool:
    return len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5


def is_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    printable = sum(32 <= b < 127 or b in (9, 10, 13) or b >= 128 for b in head)
    return printable >= 0.95 * len(head)


def sniff_file(path: Path) -> str:
    """One of DATA_FORMATS, or a DatasetError saying why the file is not a dataset."""
    head = read_head(path, 1024)
    suffix = path.suffix.lower()
    if not head:
        raise DatasetError(path, "is empty")
    size = path.stat().st_size
    if suffix in PICKLE_EXTENSIONS:
        raise DatasetError(path, PICKLE_REASON)
    if head.startswith(b"\x93NUMPY"):
        return "npy"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return _sniff_zip(path)
    if head.startswith(b"\x1f\x8b"):
        return _sniff_gzip(path)
    if is_idx_header(head):
        return "idx"
    if is_safetensors_header(head, size):
        return "safetensors"
    if is_pickle_header(head):
        if suffix in TORCH_EXTENSIONS:
            raise DatasetError(path, "is a PyTorch file in the old pickle format, which gpuviz does not open "
                                     "(re-save it with a current torch.save)")
        raise DatasetError(path, PICKLE_REASON)
    if is_image_header(head):
        raise DatasetError(path, "is a single image; drop a folder that holds one subfolder of images per class")
    if head.startswith(b"\x89HDF"):
        raise DatasetError(path, "is an HDF5 file, which gpuviz does not read (save the arrays as .npz)")
    if suffix not in TABLE_EXTENSIONS and _named_idx(path.name.lower()):
        raise DatasetError(path, f"has the wrong magic number (0x{head[:4].hex()}) for an IDX file")
    if suffix in SIGNED_SUFFIXES:
        raise DatasetError(path, f"does not hold what its {suffix} name promises (its first bytes are "
                                 "not that format's signature)")
    if suffix and suffix not in TABLE_EXTENSIONS and not suffix[1:].isdigit():
        raise DatasetError(path, f"has the suffix {suffix}, which is not a format gpuviz knows (.npz, .npy, "
                                 ".csv/.tsv, IDX, .pt/.pth, safetensors, or a folder of images; rename a table "
                                 "to .csv)")
    if suffix in TABLE_EXTENSIONS or is_text(head):
        if not is_text(head):
            raise DatasetError(path, "is not text, so it cannot be read as a table")
        return "table"
    raise DatasetError(path, "is not in a format gpuviz knows (.npz, .npy, .csv/.tsv, IDX, .pt/.pth, "
                             "safetensors, or a folder of images)")


def _named_idx(name: str) -> bool:
    return name.endswith((".idx", ".idx.gz")) or "ubyte" in name or re.search(r"idx\d", name) is not None


def _sniff_zip(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise DatasetError(path, f"is a damaged zip archive ({exc})") from None
    if any(n.endswith("data.pkl") for n in names):
        return "torch"
    if names and all(n.endswith(".npy") for n in names):
        return "npz"
    if any(Path(n).suffix.lower() in IMAGE_EXTENSIONS for n in names):
        raise DatasetError(path, "is a zip archive of images; unpack it and drop the folder")
    if not names:
        raise DatasetError(path, "is an empty zip archive")
    raise DatasetError(path, "is a zip archive holding neither NumPy arrays nor a PyTorch file")


def _sniff_gzip(path: Path) -> str:
    try:
        with gzip.open(path, "rb") as f:
            inner = f.read(64)
    except (OSError, EOFError, zlib.error) as exc:
        raise DatasetError(path, f"is a damaged gzip file ({exc})") from None
    if is_idx_header(inner):
        return "idx"
    if not inner:
        raise DatasetError(path, "is a gzip file with nothing in it")
    raise DatasetError(path, "is a gzip file that holds no IDX data (the only compressed format gpuviz reads)")
