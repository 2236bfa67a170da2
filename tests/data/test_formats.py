"""Every format loads with the right sample and class counts, and each format's rules hold."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest

from gpuviz_app.data.dataset import DatasetError
from gpuviz_app.data.formats import LoadCancelled, LoadOptions
from gpuviz_app.data.open import load_dataset
from tests.datasets import BUILTIN_COUNTS, MAKERS, idx_images, make, write_idx


@pytest.mark.parametrize("name", list(MAKERS))
def test_every_format_loads_with_the_right_counts(tmp_path, name):
    sample = make(name, tmp_path)
    data = load_dataset(sample.spec)
    info = data.describe()
    assert (info["samples"], info["classes"]) == (sample.samples, sample.classes)
    assert data.kind == sample.kind and data.skipped == sample.skipped
    assert data.x.dtype == np.float32 and np.isfinite(data.x).all()
    assert sum(info["class_counts"]) == sample.samples
    if data.kind == "images":
        assert data.x.ndim == 4 and data.x.shape[1] in (1, 3)
        assert data.x.min() >= 0 and data.x.max() <= 1


@pytest.mark.parametrize("name", list(BUILTIN_COUNTS))
def test_builtins_load_and_are_the_same_every_time(name):
    a, b = load_dataset(f"builtin:{name}"), load_dataset(f"builtin:{name}")
    assert (len(a), len(a.classes)) == BUILTIN_COUNTS[name]
    assert np.array_equal(a.x, b.x) and np.array_equal(a.y, b.y)
    if name != "digits":
        assert a.input_shape == (2,) and a.kind == "vectors"


# -- images ---------------------------------------------------------------------------------------------
def _images(root, spec: dict[str, list[tuple[str, str, tuple[int, int]]]]):
    from PIL import Image

    rng = np.random.default_rng(0)
    for cls, items in spec.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i, (ext, mode, size) in enumerate(items):
            Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).convert(mode) \
                .save(root / cls / f"{i}.{ext}")
    return root


def test_all_gray_images_load_as_one_channel_and_mixed_as_rgb(tmp_path):
    gray = _images(tmp_path / "gray", {"a": [("png", "L", (9, 9))] * 3, "b": [("jpg", "L", (9, 9))] * 3})
    assert load_dataset(str(gray)).x.shape == (6, 1, 9, 9)
    mixed = _images(tmp_path / "mixed", {"a": [("png", "L", (9, 9))] * 3, "b": [("png", "RGB", (9, 9))] * 3})
    assert load_dataset(str(mixed)).x.shape == (6, 3, 9, 9)


def test_the_common_size_comes_from_the_data_and_is_capped(tmp_path):
    root = _images(tmp_path / "s", {"a": [("png", "L", (30, 20))] * 3 + [("png", "L", (50, 50))],
                                    "b": [("png", "L", (30, 20))] * 2})
    data = load_dataset(str(root))
    assert data.input_shape == (1, 20, 30)  # the most common size, (width 30, height 20)
    assert any("resized" in w for w in data.warnings)
    capped = load_dataset(str(root), options=LoadOptions(image_max_side=15))
    assert capped.input_shape == (1, 10, 15)
    forced = load_dataset(str(root), options=LoadOptions(image_size=(7, 5)))
    assert forced.input_shape == (1, 7, 5)


def test_broken_images_are_skipped_counted_and_named(tmp_path):
    root = _images(tmp_path / "s", {"a": [("png", "L", (8, 8))] * 4, "b": [("png", "L", (8, 8))] * 4})
    (root / "a" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 broken")
    good = (root / "b" / "0.png").read_bytes()
    (root / "b" / "cut.png").write_bytes(good[: len(good) // 2])  # a valid header, truncated pixel data
    data = load_dataset(str(root))
    assert len(data) == 8 and data.skipped == 2
    assert any("a/bad.jpg" in w for w in data.warnings)


def test_train_and_test_split_folders_are_joined(tmp_path):
    root = tmp_path / "set"
    _images(root / "train", {"cat": [("png", "L", (6, 6))] * 3, "dog": [("png", "L", (6, 6))] * 3})
    _images(root / "test", {"cat": [("png", "L", (6, 6))] * 2, "dog": [("png", "L", (6, 6))] * 2})
    data = load_dataset(str(root))
    assert (len(data), data.classes) == (10, ["cat", "dog"])


def test_a_wrapper_folder_is_looked_into(tmp_path):
    _images(tmp_path / "outer" / "inner", {"a": [("png", "L", (6, 6))] * 2, "b": [("png", "L", (6, 6))] * 2})
    assert len(load_dataset(str(tmp_path / "outer"))) == 4


# -- tables ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("delimiter", [",", ";", "\t", "|", " "])
def test_the_delimiter_is_sniffed(tmp_path, delimiter):
    rows = [delimiter.join([f"{i}.5", f"{i * 2}", f"{'ab'[i % 2]}"]) for i in range(12)]
    path = tmp_path / "t.txt"
    path.write_text("\n".join(rows))
    data = load_dataset(str(path))
    assert (len(data), data.input_shape, data.classes) == (12, (2,), ["a", "b"])


def test_a_named_label_column_is_used_wherever_it_is(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("Id,SPECIES,f1,f2\n1,x,1,2\n2,y,3,4\n3,x,5,6\n4,y,7,8\n")
    data = load_dataset(str(path))
    assert data.classes == ["x", "y"] and data.input_shape == (2,)
    assert data.x[0].tolist() == [1, 2]  # the Id column is not a feature
    assert any("Id" in w for w in data.warnings)


def test_integer_labels_and_no_header(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("0.1,0.2,3\n0.3,0.4,1\n0.5,0.6,3\n0.7,0.8,1.0\n")
    data = load_dataset(str(path))
    assert len(data) == 4 and data.classes == ["1", "3"] and data.y.tolist() == [1, 0, 1, 0]


def test_quoted_fields_and_trailing_delimiters(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text('a,b,label,\n1,2,"big, red",\n3,4,"small",\n5,6,"big, red",\n')
    data = load_dataset(str(path))
    assert data.classes == ["big, red", "small"] and len(data) == 3


def test_latin1_fallback(tmp_path):
    path = tmp_path / "t.csv"
    path.write_bytes(b"a,b,label\n1,2,caf\x81\n3,4,th\xe9\n")  # 0x81 is undefined in cp1252
    data = load_dataset(str(path))
    assert data.classes == ["caf\x81", "th\u00e9"]
    assert any("Latin-1" in w for w in data.warnings)


# -- arrays ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("keys", [("X", "y"), ("data", "target"), ("features", "labels"), ("images", "labels"),
                                  ("arr_0", "arr_1"), ("inputs", "targets")])
def test_npz_key_conventions(tmp_path, keys):
    path = tmp_path / "a.npz"
    np.savez(path, **{keys[0]: np.zeros((6, 3)) + np.arange(6)[:, None], keys[1]: np.arange(6) % 3})
    data = load_dataset(str(path))
    assert (len(data), len(data.classes)) == (6, 3)


def test_npz_class_names_and_two_unnamed_arrays(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, x=np.zeros((4, 2)), y=np.array([0, 1, 0, 1]), class_names=np.array(["no", "yes"]))
    assert load_dataset(str(path)).classes == ["no", "yes"]
    other = tmp_path / "b.npz"
    np.savez(other, pixels=np.zeros((4, 2)), kinds=np.array([0, 1, 0, 1]))
    assert len(load_dataset(str(other))) == 4


def test_one_hot_labels_and_channels_last_images(tmp_path):
    path = tmp_path / "a.npz"
    y = np.eye(3)[[0, 1, 2, 1]]
    np.savez(path, x=np.full((4, 5, 5, 3), 255, np.uint8), y=y)
    data = load_dataset(str(path))
    assert data.input_shape == (3, 5, 5) and data.y.tolist() == [0, 1, 2, 1]
    assert data.x.max() == pytest.approx(1.0)


def test_a_bare_npy_finds_its_labels_sibling(tmp_path):
    np.save(tmp_path / "x_train.npy", np.zeros((5, 4)))
    np.save(tmp_path / "y_train.npy", np.array([0, 1, 0, 1, 1]))
    assert len(load_dataset(str(tmp_path / "x_train.npy"))) == 5
    assert len(load_dataset(str(tmp_path / "y_train.npy"))) == 5  # dropping the labels side works too
    assert len(load_dataset(str(tmp_path))) == 5  # and the folder holding the pair


def test_idx_torchvision_layout_with_two_pairs(tmp_path):
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", 30), ("t10k", 10)):
        x, y = idx_images(n)
        y[:2] = [0, 1]
        for gz in (False, True):
            write_idx(raw / f"{prefix}-images-idx3-ubyte{'.gz' if gz else ''}", x, gz)
            write_idx(raw / f"{prefix}-labels-idx1-ubyte{'.gz' if gz else ''}", y % 2, gz)
    data = load_dataset(str(tmp_path / "MNIST"))
    assert len(data) == 40 and data.input_shape == (1, 28, 28)
    assert any("joined 2" in w for w in data.warnings)


def test_a_single_idx_file_finds_its_partner(tmp_path):
    sample = make("idx-folder", tmp_path)
    data = load_dataset(str(sample.paths[0] / "train-images-idx3-ubyte"))
    assert len(data) == sample.samples


def test_torch_dict_class_names_and_bfloat16(tmp_path):
    import torch

    path = tmp_path / "d.pt"
    torch.save({"features": torch.randn(6, 3, dtype=torch.bfloat16), "target": torch.tensor([0, 1, 2] * 2),
                "class_names": ["r", "g", "b"]}, path)
    data = load_dataset(str(path))
    assert data.classes == ["r", "g", "b"] and data.x.dtype == np.float32


def test_safetensors_bfloat16_and_metadata_class_names(tmp_path):
    import torch
    from safetensors.torch import save_file

    path = tmp_path / "d.safetensors"
    save_file({"x": torch.randn(6, 3).to(torch.bfloat16), "y": torch.tensor([0, 1] * 3)}, str(path),
              metadata={"classes": json.dumps(["off", "on"])})
    data = load_dataset(str(path))
    assert data.classes == ["off", "on"] and len(data) == 6


# -- progress, cancel, memory -----------------------------------------------------------------------------
def test_progress_moves_forward_to_the_end(tmp_path):
    x, y = idx_images(3000)
    a = write_idx(tmp_path / "train-images-idx3-ubyte.gz", x, gz=True)
    b = write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y, gz=True)
    seen = []
    load_dataset([str(a), str(b)], progress=lambda f, m: seen.append(f))
    assert len(seen) > 5
    assert seen == sorted(seen) and seen[-1] == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["images", "idx-folder", "csv", "npz"])
def test_cancel_stops_a_load(tmp_path, name):
    sample = make(name, tmp_path)
    with pytest.raises(LoadCancelled):
        load_dataset(sample.spec, cancel=lambda: True)


def test_inputs_larger_than_free_memory_are_refused_before_reading(tmp_path, monkeypatch):
    from gpuviz_app.data.formats import context

    sample = make("idx-folder", tmp_path)
    monkeypatch.setattr(context, "available_memory", lambda: 100_000)
    with pytest.raises(DatasetError, match="memory"):
        load_dataset(sample.spec)


def test_gzip_idx_is_read_without_trusting_the_header_alone(tmp_path):
    """A gzip member whose header promises more than the stream holds is refused, not allocated."""
    x, y = idx_images(20)
    path = write_idx(tmp_path / "train-images-idx3-ubyte.gz", x, gz=True)
    data = gzip.decompress(path.read_bytes())
    path.write_bytes(gzip.compress(data[:-100]))
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", y, gz=True)
    with pytest.raises(DatasetError, match="truncated"):
        load_dataset(str(tmp_path))


def test_a_single_idx_file_next_to_raw_and_gzipped_partners(tmp_path):
    x, y = idx_images(12)
    y[:2] = [0, 1]
    write_idx(tmp_path / "train-images-idx3-ubyte", x)
    for gz in (False, True):
        write_idx(tmp_path / f"train-labels-idx1-ubyte{'.gz' if gz else ''}", y % 2, gz)
    assert len(load_dataset(str(tmp_path / "train-images-idx3-ubyte"))) == 12
