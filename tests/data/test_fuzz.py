"""Random bytes and mutated valid files, fed to every loader: the only failure allowed is a
DatasetError naming the file; no other exception, and no hang."""

from __future__ import annotations

import os
import signal
import tempfile
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats import LoadContext, load_path
from gpuviz_app.data.formats.idx import load_idx_files
from gpuviz_app.data.formats.images import load_image_files
from gpuviz_app.data.formats.registry import data_format
from tests.datasets import make

HANG_S = 20  # far beyond what any of these small inputs takes: hitting it means a hang


class Hang(BaseException):
    """Not an Exception, so no loader's error handling can swallow it."""


@contextmanager
def hang_guard(seconds: float = HANG_S):
    def fire(signum, frame):
        raise Hang(f"a loader ran for more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


# format -> (maker, the file inside the made sample that is mutated, the loader taking it)
SINGLE_FILE = {
    "csv": "table", "tsv": "table", "csv-cp1252": "table", "npz": "npz", "npz-splits": "npz", "npy": "npy",
    "pt-dict": "torch", "pt-tuple": "torch", "safetensors": "safetensors",
}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory):
    import torch  # noqa: F401 - loaded once here, not inside the first example's time

    root = tmp_path_factory.mktemp("seeds")
    out = {}
    for name in list(SINGLE_FILE) + ["idx-folder", "images"]:
        sample = make(name, root / name)
        out[name] = sample
    return out


@st.composite
def mutated(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "insert", "delete", "overwrite", "big"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif op == "truncate":
            del data[pos:]
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "overwrite":
            chunk = draw(st.sampled_from([b"\x00", b"\xff", b"\x7f", b"9", b","])) * draw(st.integers(1, 16))
            data[pos : pos + len(chunk)] = chunk
        elif op == "big" and len(data) >= 4:  # a size field claiming something huge
            data[pos : pos + 4] = draw(st.sampled_from([b"\xff\xff\xff\x7f", b"\x7f\xff\xff\xff", b"\x00\x00\x00\x00"]))
    return bytes(data)


def contents(seed: bytes):
    return st.one_of(st.binary(max_size=2048), mutated(seed))


def check(outcome, folder: Path) -> None:
    if isinstance(outcome, Dataset):
        assert len(outcome.x) == len(outcome.y) > 0
        assert np.isfinite(outcome.x).all()
        assert len(outcome.classes) >= 2
        return
    assert isinstance(outcome, DatasetError), f"{type(outcome).__name__}: {outcome}"
    assert outcome.reason and "\n" not in outcome.reason
    assert str(folder) in outcome.path, f"the reason does not name the file: {outcome}"


def attempt(fn, *args):
    with hang_guard():
        try:
            return fn(*args)
        except DatasetError as exc:
            return exc


# FUZZ_EXAMPLES=3000 runs a long, randomised campaign; by default a fixed, quick one
LONG_RUN = int(os.environ.get("FUZZ_EXAMPLES", "0"))
FUZZ = settings(max_examples=LONG_RUN or 60, deadline=None, derandomize=not LONG_RUN,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large])


@pytest.mark.parametrize("name", list(SINGLE_FILE))
@FUZZ
@given(data=st.data())
def test_file_loaders_only_refuse_with_a_reason(seeds, name, data):
    sample = seeds[name]
    original = sample.paths[0]
    payload = data.draw(contents(original.read_bytes()))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / original.name
        path.write_bytes(payload)
        loader = data_format(SINGLE_FILE[name]).load
        check(attempt(loader, path, LoadContext(path=path)), Path(tmp))
        check(attempt(load_path, path), Path(tmp))  # the sniffing entry point too


@pytest.mark.parametrize("which", ["images", "labels"])
@FUZZ
@given(data=st.data())
def test_idx_loader_only_refuses_with_a_reason(seeds, which, data):
    folder = seeds["idx-folder"].paths[0]
    files = {"images": folder / "train-images-idx3-ubyte", "labels": folder / "train-labels-idx1-ubyte"}
    payload = data.draw(contents(files[which].read_bytes()))
    gz = data.draw(st.booleans())
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for key, original in files.items():
            raw = payload if key == which else original.read_bytes()
            path = Path(tmp) / (original.name + (".gz" if gz else ""))
            if gz:
                import gzip

                raw = gzip.compress(raw, mtime=0) if data.draw(st.booleans()) else raw
            path.write_bytes(raw)
            paths.append(path)
        check(attempt(load_idx_files, paths, LoadContext(path=paths[0])), Path(tmp))
        check(attempt(load_path, Path(tmp)), Path(tmp))


@FUZZ
@given(data=st.data())
def test_image_folder_loader_only_refuses_with_a_reason(seeds, data):
    folder = seeds["images"].paths[0]
    originals = sorted(p for p in folder.rglob("*") if p.is_file())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "set"
        files = []
        classes = sorted({p.parent.name for p in originals})
        for original in originals[:: data.draw(st.integers(1, 4))]:
            target = root / original.parent.name / original.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data.draw(contents(original.read_bytes())))
            files.append((target, classes.index(original.parent.name)))
        check(attempt(load_image_files, root, files, classes, LoadContext(path=root)), Path(tmp))
        check(attempt(load_path, root), Path(tmp))


@pytest.mark.parametrize("name", ["data.csv", "data.tsv", "x.npz", "x.npy", "m.pt", "m.safetensors",
                                  "train-images-idx3-ubyte", "images.gz", "plain", "pic.png"])
@settings(max_examples=40, deadline=None, derandomize=True)
@given(payload=st.binary(max_size=4096))
def test_random_bytes_under_any_name_are_refused_or_loaded(name, payload):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(payload)
        check(attempt(load_path, path), Path(tmp))
