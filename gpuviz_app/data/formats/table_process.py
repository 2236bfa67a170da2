"""A large table parsed in a child process, its rows streamed back through a pipe.

Parsing text is interpreter-bound work: on a thread of the window's process it would take the
interpreter lock from the GUI and training threads for seconds. The child holds only the block
being parsed; the parent reads each block of float32 rows straight into its one growing array
(the lock released while it waits), reports the child's progress, and kills it on cancel.

Protocol on the child's stdout, one line each: `P <fraction> <message>` (progress),
`S <rows> <width>` (expect about this many rows), `B <rows>` then their float32 bytes,
`X` (forget the rows so far: the exact reader starts over), and last either
`E <json reason>` or `R <json header>` then the int64 bytes of the labels.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

from gpuviz_app.data.dataset import Dataset, DatasetError
from gpuviz_app.data.formats.context import LoadContext, require_memory

_READ_BYTES = 4 << 20


def load_in_process(path: Path, ctx: LoadContext) -> Dataset:
    """`table.load_table_here(path)` run in a child process; progress and cancel as usual."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    try:
        proc = subprocess.Popen([sys.executable, "-m", "gpuviz_app.data.formats.table_process", str(path)],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env)
    except OSError:  # cannot start a process here: parse in this one
        from gpuviz_app.data.formats.table_fast import load_table_here

        return load_table_here(path, ctx)
    try:
        return _receive(path, proc, ctx)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def _receive(path: Path, proc: subprocess.Popen, ctx: LoadContext) -> Dataset:
    from gpuviz_app.data.formats.table_fast import GrownRows

    out = proc.stdout
    rows: GrownRows | None = None
    while True:
        line = out.readline()
        if not line:
            proc.wait()
            tail = proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise DatasetError(path, f"could not be parsed: the reading process stopped "
                                     f"({tail[-1] if tail else f'exit status {proc.returncode}'})")
        kind, _, rest = line.decode().rstrip("\n").partition(" ")
        if kind == "P":
            fraction, _, message = rest.partition(" ")
            ctx.report(0.99 * float(fraction), message)
        elif kind == "S":
            n, width = (int(v) for v in rest.split())
            if rows is None or rows.array.shape[1] != width:
                require_memory(path, n * width * 4, "its table")
                rows = GrownRows(n, width)
        elif kind == "B" and rows is not None:
            n = int(rest)
            _read_into(path, out, rows.reserve(n))
            rows.n += n
        elif kind == "X" and rows is not None:
            rows.n = 0
        elif kind == "E":
            raise DatasetError(path, json.loads(rest))
        elif kind == "R" and rows is not None:
            break
        else:
            raise DatasetError(path, f"could not be parsed: the reading process said {line[:40]!r}")
    head = json.loads(rest)
    x = rows.rows()
    del rows
    y = np.empty(len(x), np.int64)
    _read_into(path, out, y)
    ctx.report(1.0)
    return Dataset(name=head["name"], x=x, y=y, classes=head["classes"], kind=head["kind"],
                   source=head["source"], skipped=head["skipped"], warnings=head["warnings"])


def _read_into(path: Path, out, array: np.ndarray) -> None:
    view = memoryview(array.reshape(-1).view(np.uint8)) if array.flags.c_contiguous else None
    if view is None:
        raise DatasetError(path, "could not be parsed: the rows arrived out of order")
    done = 0
    while done < len(view):
        n = out.readinto(view[done : done + _READ_BYTES])
        if not n:
            raise DatasetError(path, "could not be parsed: the reading process stopped while sending the data")
        done += n


class _Stream:
    """The child's collector: each block of rows goes to the parent as it is parsed."""

    def __init__(self, out, rows: int, width: int) -> None:
        self.out = out
        self.n = 0
        self.width = width
        out.write(f"S {rows} {width}\n".encode())

    def append(self, block: np.ndarray) -> None:
        block = np.ascontiguousarray(block, np.float32)
        self.out.write(f"B {len(block)}\n".encode())
        self.out.write(memoryview(block).cast("B"))
        self.n += len(block)

    def rows(self) -> np.ndarray:
        """A stand-in of the right shape (the rows are with the parent already)."""
        return np.broadcast_to(np.float32(0), (self.n, self.width))


def _child(path: Path) -> int:
    from gpuviz_app.data.formats.table_exact import load_table_exact
    from gpuviz_app.data.formats.table_fast import parse_numeric

    out = sys.stdout.buffer
    parent = os.getppid()
    try:  # below the window and training in the CPU's queue: on few cores they must not wait for the parse
        os.nice(10)
    except (AttributeError, OSError):
        pass

    def progress(fraction: float, message: str) -> None:
        if os.getppid() != parent:  # the parent is gone: nobody waits for the result
            raise SystemExit(1)
        out.write(f"P {fraction:.4f} {message}\n".encode())
        out.flush()

    streams: list[_Stream] = []

    def collector(rows: int, width: int) -> _Stream:
        streams.append(_Stream(out, rows, width))
        return streams[-1]

    ctx = LoadContext(progress=progress, path=path)
    try:
        data = parse_numeric(path, path.stat().st_size, ctx, collector)
        if data is None:
            if streams and streams[-1].n:
                out.write(b"X\n")
            data = load_table_exact(path, ctx)
            x = np.ascontiguousarray(data.x, np.float32).reshape(len(data.x), -1)
            stream = _Stream(out, len(x), x.shape[1])
            for start in range(0, len(x), 65536):
                stream.append(x[start : start + 65536])
    except DatasetError as exc:
        out.write(f"E {json.dumps(exc.reason)}\n".encode())
        out.flush()
        return 1
    head = {"name": data.name, "classes": [str(c) for c in data.classes], "kind": data.kind,
            "source": data.source, "skipped": int(data.skipped), "warnings": list(data.warnings)}
    out.write(f"R {json.dumps(head)}\n".encode())
    out.write(memoryview(np.ascontiguousarray(data.y, np.int64)).cast("B"))
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(_child(Path(sys.argv[1])))
