"""A writer killed mid-write leaves a hidden `.part` file; the next write to that folder removes it."""

import os
import signal
import subprocess
import sys

from gpuviz_app.export.atomic import atomic_path, remove_stale_parts

WRITER = """
import sys, time
from gpuviz_app.export.atomic import AtomicFile
f = AtomicFile(sys.argv[1])
with open(f.tmp, "wb") as out:
    out.write(b"x" * 100_000)
    out.flush()
    print(f.tmp, flush=True)
    time.sleep(60)
"""


def start_writer(target):
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    tmp = proc.stdout.readline().strip()
    assert tmp, "the writer did not start"
    return proc, tmp


def parts(folder):
    return sorted(p.name for p in folder.iterdir() if ".part" in p.name)


def test_the_part_file_of_a_killed_writer_is_removed_by_the_next_write(tmp_path):
    proc, tmp = start_writer(tmp_path / "k.mp4")
    assert f".{proc.pid}." in os.path.basename(tmp)  # the writer's pid is in the name
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert parts(tmp_path) == [os.path.basename(tmp)]  # the debris the kill left
    with atomic_path(tmp_path / "other.png") as out:
        out.write_bytes(b"png")
    assert parts(tmp_path) == []
    assert (tmp_path / "other.png").read_bytes() == b"png"
    assert not (tmp_path / "k.mp4").exists()


def test_the_part_file_of_a_running_writer_is_kept(tmp_path):
    proc, tmp = start_writer(tmp_path / "k.mp4")
    try:
        with atomic_path(tmp_path / "k2.mp4") as out:
            out.write_bytes(b"data")
        assert parts(tmp_path) == [os.path.basename(tmp)]
        assert os.path.getsize(tmp) == 100_000
    finally:
        proc.kill()
        proc.wait()


def test_only_names_of_the_part_pattern_are_touched(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    keep = [".notes.txt", f"notes.{dead}.abcdefgh.part.txt", f".notes.{dead}.part.txt", "data.csv"]
    for name in keep:
        (tmp_path / name).write_text("mine")
    stale = tmp_path / f".clip.{dead}.ab_12xyz.part.mp4"
    stale.write_bytes(b"half")
    mine = tmp_path / f".live.{os.getpid()}.zz_12xyz.part.png"  # this process is running
    mine.write_bytes(b"live")
    assert remove_stale_parts(tmp_path) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(keep + [mine.name])
