"""The allocator setting that keeps loss-surface workers from faulting in fresh pages."""

import platform
import sys

import pytest

from tests.fresh_python import run_python

LIBC, LIBC_VERSION = platform.libc_ver()
# mallinfo2, which the probe reads, came with glibc 2.33
GLIBC = sys.platform.startswith("linux") and LIBC == "glibc" and \
    tuple(int(p) for p in LIBC_VERSION.split(".")[:2]) >= (2, 33)

# Run in a fresh interpreter, where nothing has set the thresholds yet: one 20 MiB block is
# allocated and freed with libc's own malloc, and glibc's counters say where it came from.
PROBE = """
import ctypes
from gpuviz_app.core.allocator import keep_freed_memory

class Mallinfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks",
                                                "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Mallinfo2
libc.malloc.restype = ctypes.c_void_p
libc.malloc.argtypes = [ctypes.c_size_t]
libc.free.argtypes = [ctypes.c_void_p]
if {apply}:
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True  # a second call keeps them set
size = 20 << 20
before = libc.mallinfo2().hblks
block = libc.malloc(size)
mapped = libc.mallinfo2().hblks - before
libc.free(block)
print(mapped, int(libc.mallinfo2().keepcost >= size))
"""


def allocate_and_free(apply: bool) -> tuple[int, int]:
    proc = run_python(PROBE.format(apply=apply), timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    mapped, kept = proc.stdout.split()
    return int(mapped), int(kept)


@pytest.mark.skipif(not GLIBC, reason="mallopt thresholds are a glibc feature (mallinfo2: 2.33+)")
def test_glibc_keeps_a_freed_block_in_the_heap_once_the_thresholds_are_set():
    assert allocate_and_free(apply=True) == (0, 1)  # from the heap, and kept there once freed


@pytest.mark.skipif(not GLIBC, reason="mallopt thresholds are a glibc feature (mallinfo2: 2.33+)")
def test_without_the_setting_glibc_maps_and_returns_the_same_block():
    """The control: the probe above can tell the setting apart from glibc's defaults."""
    assert allocate_and_free(apply=False) == (1, 0)


def test_the_cli_sets_them_before_any_command(monkeypatch):
    from gpuviz_app import cli

    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(True))
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert calls == [True]
