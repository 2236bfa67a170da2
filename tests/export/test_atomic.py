import os
import stat

import pytest

from gpuviz_app.export.atomic import AtomicFile, OutputExists, atomic_path


def leftovers(folder):
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_the_file_appears_complete_on_success(tmp_path):
    target = tmp_path / "out.txt"
    with atomic_path(target) as tmp:
        tmp.write_text("hello")
        assert not target.exists()  # nothing under the final name while writing
        assert tmp.parent == tmp_path and tmp.name.startswith(".")
    assert target.read_text() == "hello"
    assert leftovers(tmp_path) == []


def test_an_exception_leaves_neither_the_file_nor_the_temporary(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise KeyboardInterrupt
    assert not target.exists()
    assert leftovers(tmp_path) == []


def test_an_existing_file_is_kept_unless_overwriting_is_allowed(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("precious")
    with pytest.raises(OutputExists):
        with atomic_path(target) as tmp:
            tmp.write_text("new")
    assert target.read_text() == "precious"
    with atomic_path(target, overwrite=True) as tmp:
        tmp.write_text("new")
    assert target.read_text() == "new"
    assert leftovers(tmp_path) == []


def test_a_file_that_appears_while_writing_is_not_replaced(tmp_path):
    target = tmp_path / "out.txt"
    file = AtomicFile(target)
    file.tmp.write_text("mine")
    target.write_text("someone else's")
    with pytest.raises(OutputExists):
        file.commit()
    assert target.read_text() == "someone else's"
    assert leftovers(tmp_path) == []


def test_the_file_gets_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        with atomic_path(tmp_path / "out.txt") as tmp:
            tmp.write_text("x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "out.txt").stat().st_mode) == 0o644


def test_a_write_error_names_the_users_file_not_the_temporary(tmp_path):
    import errno

    from gpuviz_app.export.atomic import OutputNotWritable

    target = tmp_path / "a.mp4"
    with pytest.raises(OutputNotWritable) as raised:
        with atomic_path(target) as tmp:
            raise OSError(errno.EROFS, "Read-only file system", str(tmp))
    assert str(raised.value) == f"{target}: cannot be written (Read-only file system)"
    assert ".part" not in str(raised.value)
    assert leftovers(tmp_path) == []


def test_a_folder_that_is_a_file_is_refused_naming_the_target(tmp_path):
    from gpuviz_app.export.atomic import OutputNotWritable, check_writable

    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputNotWritable, match=r"f/out.png: cannot be written"):
        check_writable(tmp_path / "f" / "out.png", overwrite=False)
    with pytest.raises(OutputNotWritable, match="cannot be written"):
        with atomic_path(tmp_path / "f" / "out.png"):
            pass
    with pytest.raises(OutputNotWritable, match="it is a folder"):
        check_writable(tmp_path, overwrite=True)


def test_one_command_may_not_name_a_file_twice(tmp_path):
    from gpuviz_app.export.atomic import SameOutput, check_outputs

    with pytest.raises(SameOutput, match="given as two outputs"):
        check_outputs([str(tmp_path / "a.png"), None, str(tmp_path / "sub" / ".." / "a.png")], overwrite=True)
    check_outputs([str(tmp_path / "a.png"), str(tmp_path / "b.png")], overwrite=False)
