"""A corpus of inputs gpuviz must refuse, each written at test time.

Every case makes its input under a folder and returns what to open plus the file the
reason must name; `expect` is a word the reason must contain (what went wrong).
"""

from __future__ import annotations

import gzip
import os
import struct
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from tests.datasets import idx_images, make_idx_folder, write_idx


@dataclass
class Case:
    name: str
    make: Callable[[Path], tuple[object, Path]]  # -> (spec to open, the path the reason must name)
    expect: str


def _write(path: Path, data: bytes | str) -> Path:
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


def _one(path: Path) -> tuple[object, Path]:
    return str(path), path


def empty_csv(root):
    return _one(_write(root / "empty.csv", b""))


def empty_npz(root):
    return _one(_write(root / "empty.npz", b""))


def truncated_idx(root):
    x, _ = idx_images(100)
    path = write_idx(root / "train-images-idx3-ubyte", x)
    path.write_bytes(path.read_bytes()[: 16 + 50 * 784])
    labels = write_idx(root / "train-labels-idx1-ubyte", np.arange(100, dtype=np.uint8) % 10)
    return [str(path), str(labels)], path


def truncated_idx_gz(root):
    x, y = idx_images(100)
    path = write_idx(root / "train-images-idx3-ubyte.gz", x, gz=True)
    path.write_bytes(path.read_bytes()[:-2000])
    labels = write_idx(root / "train-labels-idx1-ubyte.gz", y, gz=True)
    return [str(path), str(labels)], path


def wrong_magic_idx(root):
    x, y = idx_images(10)
    path = write_idx(root / "train-images-idx3-ubyte", x)
    data = bytearray(path.read_bytes())
    data[0:2] = b"\x08\x03"
    path.write_bytes(bytes(data))
    labels = write_idx(root / "train-labels-idx1-ubyte", y)
    return [str(path), str(labels)], path


def wrong_magic_npy(root):
    path = root / "array.npy"
    np.save(path, np.zeros((4, 3)))
    path.write_bytes(b"\x93NUMPX" + path.read_bytes()[6:])
    return _one(path)


def idx_length_mismatch(root):
    x, y = idx_images(60)
    a = write_idx(root / "train-images-idx3-ubyte", x)
    b = write_idx(root / "train-labels-idx1-ubyte", y[:50])
    return [str(a), str(b)], b


def npz_length_mismatch(root):
    path = root / "mismatch.npz"
    np.savez(path, x=np.zeros((10, 3)), y=np.arange(9) % 2)
    return _one(path)


def ragged_csv(root):
    return _one(_write(root / "ragged.csv", "a,b,label\n1,2,x\n3,4,y\n5,6,7,z\n8,9,x\n"))


def non_numeric_csv(root):
    return _one(_write(root / "words.csv", "a,b,label\n1,2,x\n3,four,y\n5,6,x\n"))


def single_class_csv(root):
    return _one(_write(root / "one-class.csv", "a,b,label\n1,2,x\n3,4,x\n5,6,x\n"))


def npz_no_labels(root):
    path = root / "features-only.npz"
    np.savez(path, x=np.zeros((10, 3)))
    return _one(path)


def npy_no_labels(root):
    path = root / "images.npy"
    np.save(path, np.zeros((10, 8, 8), np.uint8))
    return _one(path)


def nan_csv(root):
    return _one(_write(root / "nan.csv", "a,b,label\n1,2,x\n3,nan,y\n5,6,x\n"))


def inf_npz(root):
    path = root / "inf.npz"
    x = np.ones((10, 3), np.float32)
    x[4, 1] = np.inf
    np.savez(path, x=x, y=np.arange(10) % 2)
    return _one(path)


def unknown_binary(root):
    return _one(_write(root / "blob.bin", bytes(range(256)) * 4))


def unknown_layout_folder(root):
    folder = root / "documents"
    folder.mkdir()
    _write(folder / "report.docx", b"PK\x03\x04 not really")
    _write(folder / "photo.raw", b"\x01\x02\x03")
    return _one(folder)


def empty_folder(root):
    folder = root / "nothing-here"
    folder.mkdir()
    return _one(folder)


def symlink_cycle(root):
    folder = root / "looped"
    (folder / "cats").mkdir(parents=True)
    from PIL import Image

    Image.new("L", (4, 4)).save(folder / "cats" / "a.png")
    os.symlink(folder, folder / "cats" / "back-up")
    return _one(folder)


def self_symlink(root):
    path = root / "self.csv"
    os.symlink(path, path)
    return _one(path)


def absurd_idx_header(root):
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">BBBBIII", 0, 0, 8, 3, 4_000_000_000, 28, 28) + b"\x00" * 784)
    labels = write_idx(root / "train-labels-idx1-ubyte", np.zeros(1, np.uint8))
    return [str(path), str(labels)], path


def absurd_idx_gz_header(root):
    """A gzip whose header and trailer agree on a size no machine has: refused before allocating."""
    dims = (1_000_000_000, 784)
    body = struct.pack(">BBBBII", 0, 0, 8, 2, *dims) + b"\x00" * 1000
    data = bytearray(gzip.compress(body, mtime=0))
    declared = (12 + dims[0] * dims[1]) % (1 << 32)
    data[-4:] = struct.pack("<I", declared)
    path = _write(root / "huge-images-idx2-ubyte.gz", bytes(data))
    labels = write_idx(root / "huge-labels-idx1-ubyte.gz", np.zeros(3, np.uint8), gz=True)
    return [str(path), str(labels)], path


def absurd_npy_header(root):
    path = root / "huge.npy"
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 2), }"
    header += " " * (63 - (len(header) + 10) % 64) + "\n"
    _write(path, b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + b"\x00" * 64)
    return _one(path)


def safetensors_bad_offsets(root):
    import json

    header = json.dumps({"x": {"dtype": "F32", "shape": [1000, 10], "data_offsets": [0, 40000]},
                         "y": {"dtype": "I64", "shape": [1000], "data_offsets": [40000, 48000]}}).encode()
    path = root / "short.safetensors"
    _write(path, struct.pack("<Q", len(header)) + header + b"\x00" * 100)
    return _one(path)


def pickle_file(root):
    import pickle

    return _one(_write(root / "data.pkl", pickle.dumps({"x": [1, 2], "y": [0, 1]})))


def cifar_python_batch(root):
    import pickle

    folder = root / "cifar-10-batches-py"
    folder.mkdir()
    batch = {b"data": np.zeros((4, 3072), np.uint8).tolist(), b"labels": [0, 1, 2, 3]}
    _write(folder / "data_batch_1", pickle.dumps(batch, protocol=2))
    _write(folder / "batches.meta", pickle.dumps({b"label_names": [b"a"]}, protocol=2))
    return _one(folder)


def object_array_npz(root):
    path = root / "objects.npz"
    np.savez(path, x=np.array([{"a": 1}, {"b": 2}], dtype=object), y=np.array([0, 1]))
    return _one(path)


def pt_arbitrary_object(root):
    import argparse

    import torch

    path = root / "namespace.pt"
    torch.save({"x": torch.zeros(4, 2), "y": torch.tensor([0, 1, 0, 1]), "meta": argparse.Namespace(a=1)}, path)
    return _one(path)


def pt_legacy_pickle(root):
    import torch

    path = root / "old.pt"
    torch.save({"x": torch.zeros(4, 2), "y": torch.tensor([0, 1, 0, 1])}, path, _use_new_zipfile_serialization=False)
    return _one(path)


def pt_state_dict(root):
    import torch

    path = root / "model.pth"
    torch.save(torch.nn.Linear(3, 2).state_dict(), path)
    return _one(path)


def all_images_broken(root):
    folder = root / "broken-images"
    for c in ("a", "b"):
        (folder / c).mkdir(parents=True)
        _write(folder / c / "1.png", b"\x89PNG\r\n\x1a\n garbage")
        _write(folder / c / "2.jpg", b"\xff\xd8\xff garbage")
    return _one(folder)


def images_without_classes(root):
    from PIL import Image

    folder = root / "flat-images"
    folder.mkdir()
    for i in range(3):
        Image.new("L", (4, 4)).save(folder / f"{i}.png")
    return _one(folder)


def regression_csv(root):
    return _one(_write(root / "prices.csv", "a,b,price\n1,2,3.25\n3,4,1.5\n5,6,9.75\n"))


def header_only_csv(root):
    return _one(_write(root / "header.csv", "a,b,label\n"))


def one_column_csv(root):
    return _one(_write(root / "column.csv", "label\n1\n2\n1\n"))


def gzip_not_idx(root):
    return _one(_write(root / "notes.gz", gzip.compress(b"hello world, nothing to see")))


def zip_not_npz(root):
    path = root / "archive.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.md", "hello")
    return _one(path)


def damaged_npz(root):
    path = root / "cut.npz"
    np.savez_compressed(path, x=np.random.default_rng(0).normal(size=(200, 20)), y=np.arange(200) % 2)
    path.write_bytes(path.read_bytes()[:1500])
    return _one(path)


def idx_labels_alone(root):
    return _one(write_idx(root / "train-labels-idx1-ubyte", np.arange(10, dtype=np.uint8)))


def single_image(root):
    from PIL import Image

    path = root / "cat.png"
    Image.new("RGB", (8, 8)).save(path)
    return _one(path)


def unrelated_pair(root):
    a = _write(root / "a.csv", "x,label\n1,a\n2,b\n")
    b = root / "b.npz"
    np.savez(b, x=np.zeros((2, 1)), y=np.array([0, 1]))
    return [str(a), str(b)], a


def dangling_symlink(root):
    path = root / "gone.csv"
    os.symlink(root / "does-not-exist.csv", path)
    return _one(path)


def structured_npy(root):
    path = root / "records.npy"
    np.save(path, np.zeros(4, dtype=[("a", "<f4"), ("b", "<i4")]))
    return _one(path)


def missing_file(root):
    return _one(root / "no-such-file.csv")


def idx_zero_samples(root):
    path = _write(root / "empty-images-idx3-ubyte", struct.pack(">BBBBIII", 0, 0, 8, 3, 0, 28, 28))
    labels = _write(root / "empty-labels-idx1-ubyte", struct.pack(">BBBBI", 0, 0, 8, 1, 0))
    return [str(path), str(labels)], path


def idx_folder_missing_labels(root):
    sample = make_idx_folder(root)
    folder = sample.paths[0]
    (folder / "train-labels-idx1-ubyte").unlink()
    return str(folder), folder / "train-images-idx3-ubyte"


def idx_folder_damaged_gzip(root):
    folder = root / "mnist-gz"
    folder.mkdir()
    x, y = idx_images(20)
    images = write_idx(folder / "train-images-idx3-ubyte.gz", x, gz=True)
    labels = write_idx(folder / "train-labels-idx1-ubyte.gz", y, gz=True)
    for path in (images, labels):  # the deflate stream broken right after the gzip header
        data = bytearray(path.read_bytes())
        data[10:30] = b"\xff" * 20
        path.write_bytes(bytes(data))
    return str(folder), images


def idx_folder_bad_images_magic(root):
    sample = make_idx_folder(root)
    images = sample.paths[0] / "train-images-idx3-ubyte"
    data = bytearray(images.read_bytes())
    data[0:2] = b"\x12\x34"
    images.write_bytes(bytes(data))
    return str(sample.paths[0]), images


def unknown_suffix_text(root):
    return _one(_write(root / "unknown_format.xyz", "a,b,label\n1,2,0\n3,4,1\n"))


def text_feature_csv(root):
    """Text features under a header naming the label column: the header is not data (line 1)."""
    return _one(_write(root / "people.csv", "name,colour,label\nalice,red,a\nbob,blue,b\n"))


CASES = [
    Case("empty-csv", empty_csv, "empty"),
    Case("empty-npz", empty_npz, "empty"),
    Case("truncated-idx", truncated_idx, "truncated"),
    Case("truncated-idx-gz", truncated_idx_gz, "truncated"),
    Case("wrong-magic-idx", wrong_magic_idx, "magic"),
    Case("wrong-magic-npy", wrong_magic_npy, "signature"),
    Case("idx-length-mismatch", idx_length_mismatch, "labels"),
    Case("npz-length-mismatch", npz_length_mismatch, "labels"),
    Case("ragged-csv", ragged_csv, "ragged"),
    Case("non-numeric-csv", non_numeric_csv, "non-numeric"),
    Case("single-class", single_class_csv, "single class"),
    Case("npz-no-labels", npz_no_labels, "no labels"),
    Case("npy-no-labels", npy_no_labels, "no labels"),
    Case("nan-csv", nan_csv, "NaN"),
    Case("inf-npz", inf_npz, "infinite"),
    Case("unknown-format", unknown_binary, "format"),
    Case("unknown-layout-folder", unknown_layout_folder, "layout"),
    Case("empty-folder", empty_folder, "empty"),
    Case("symlink-cycle", symlink_cycle, "loop"),
    Case("self-symlink", self_symlink, "loop"),
    Case("absurd-idx-header", absurd_idx_header, "header declares"),
    Case("absurd-idx-gz-header", absurd_idx_gz_header, "memory"),
    Case("absurd-npy-header", absurd_npy_header, "header declares"),
    Case("safetensors-bad-offsets", safetensors_bad_offsets, "damaged"),
    Case("pickle", pickle_file, "pickle"),
    Case("cifar-python-batch", cifar_python_batch, "pickle"),
    Case("object-array", object_array_npz, "Python objects"),
    Case("pt-arbitrary-object", pt_arbitrary_object, "Python objects"),
    Case("pt-legacy-pickle", pt_legacy_pickle, "pickle"),
    Case("pt-state-dict", pt_state_dict, "model weights"),
    Case("all-images-broken", all_images_broken, "could be"),
    Case("images-without-classes", images_without_classes, "class subfolders"),
    Case("regression-csv", regression_csv, "whole numbers"),
    Case("header-only-csv", header_only_csv, "no rows"),
    Case("one-column-csv", one_column_csv, "single column"),
    Case("gzip-not-idx", gzip_not_idx, "gzip"),
    Case("zip-not-npz", zip_not_npz, "zip"),
    Case("damaged-npz", damaged_npz, "damaged"),
    Case("idx-labels-alone", idx_labels_alone, "labels"),
    Case("single-image", single_image, "single image"),
    Case("unrelated-pair", unrelated_pair, "one dataset"),
    Case("dangling-symlink", dangling_symlink, "does not exist"),
    Case("structured-npy", structured_npy, "plain numbers"),
    Case("missing-file", missing_file, "does not exist"),
    Case("idx-zero-samples", idx_zero_samples, "empty"),
    Case("idx-folder-missing-labels", idx_folder_missing_labels, "partner"),
    Case("idx-folder-damaged-gzip", idx_folder_damaged_gzip, "damaged gzip"),
    Case("idx-folder-bad-images-magic", idx_folder_bad_images_magic, "magic"),
    Case("unknown-suffix-text", unknown_suffix_text, "not a format gpuviz knows"),
    Case("text-feature-csv", text_feature_csv, "line 2, column 'name'"),
]
