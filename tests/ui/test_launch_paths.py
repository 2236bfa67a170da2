"""`gpuviz FILE...` as a launcher runs it (`Exec=gpuviz %F`): the files reach the dataset loader."""

from __future__ import annotations

from tests.ui.conftest import wait_step


def spy_on_loader(monkeypatch) -> list:
    from gpuviz_app.data import open as data_open

    real, seen = data_open.load_dataset, []

    def load(spec=None, **kwargs):
        seen.append(spec)
        return real(None)

    monkeypatch.setattr(data_open, "load_dataset", load)
    return seen


def test_one_file_from_the_launcher_is_loaded(main_window, qtbot, monkeypatch, tmp_path):
    seen = spy_on_loader(monkeypatch)
    path = tmp_path / "my data.npz"
    window = main_window(str(path), "--device", "cpu")
    wait_step(qtbot, window, 1)
    assert seen[0] == str(path)


def test_several_files_from_the_launcher_reach_the_loader_as_one_list(main_window, qtbot, monkeypatch, tmp_path):
    seen = spy_on_loader(monkeypatch)
    images, labels = tmp_path / "train-images-idx3-ubyte.gz", tmp_path / "train-labels-idx1-ubyte.gz"
    window = main_window(str(images), str(labels), "--device", "cpu")
    wait_step(qtbot, window, 1)
    assert seen[0] == [str(images), str(labels)]
