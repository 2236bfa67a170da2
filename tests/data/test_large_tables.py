"""Numbers-only tables take NumPy's C reader (large ones in a process of their own) and give
exactly what the exact reader gives; anything else falls back to it, errors included."""

import numpy as np
import pytest

from gpuviz_app.data.dataset import DatasetError
from gpuviz_app.data.formats import table, table_exact, table_fast
from gpuviz_app.data.formats.context import LoadCancelled, LoadContext

TABLES = {
    "header": "a,b,label\n1,2,0\n3.5,4,1\n-1e-3,2,1\n",
    "no header": "1,2,0\n3.5,4,1\n5,6,1\n",
    "id column": "id,a,b,y\n1,0.5,2,3\n2,1.5,4,7\n3,2.5,6,3\n",
    "label first": "label,a,b\n1,0.5,2\n0,1.5,4\n",
    "tabs": "a\tb\tc\n1\t2\t0\n3\t4\t1\n",
    "spaces after commas": "a, b, label\n1, 2, 0\n3, 4, 1\n",
    "crlf and bom": "\ufeffa,b,label\r\n1,2,0\r\n3,4,1\r\n",
    "quoted numbers": 'a,b,label\n"1.5",2,0\n3,"4",1\n',
    "blank lines": "a,b,label\n1,2,0\n\n3,4,1\n\n",
    "negative labels": "a,b,label\n1,2,-1\n3,4,1\n5,6,-1\n",
    "text labels": "a,b,label\n1,2,cat\n3,4,dog\n",
    "comments": "# made by hand\na,b,label\n1,2,0\n3,4,1\n",
    "decimal commas": "a;b;label\n1,5;2;0\n3,5;4;1\n",
    "trailing delimiter": "a,b,label,\n1,2,0,\n3,4,1,\n",
    "whitespace table": "1 2 0\n3 4 1\n5 6 1\n",
}


def exact(path):
    return table_exact.load_table_exact(path, LoadContext())


@pytest.mark.parametrize("name", sorted(TABLES))
def test_the_fast_reader_gives_what_the_exact_reader_gives(tmp_path, name):
    path = tmp_path / "t.csv"
    path.write_bytes(TABLES[name].encode("utf-8"))
    want = exact(path)
    for got in (table_fast.load_table_here(path, LoadContext()),
                __import__("gpuviz_app.data.formats.table_process", fromlist=["x"]).load_in_process(
                    path, LoadContext())):
        assert got.x.dtype == np.float32 and got.x.shape == want.x.shape
        np.testing.assert_array_equal(got.x, want.x)
        np.testing.assert_array_equal(got.y, want.y)
        assert (got.classes, got.warnings, got.name, got.kind) == (want.classes, want.warnings, want.name,
                                                                  want.kind)


@pytest.mark.parametrize("text, reason", [
    ("a,b,label\n1,2,0\n3,x,1\n", "has a non-numeric feature at line 3, column 'b': 'x'"),
    ("a,b,label\n1,2,0\n3,4\n", "has a ragged row: line 3 has 2 fields where the first row has 3"),
    ("a,b,label\n1,2,0\n3,nan,1\n", "holds a NaN or infinite value at line 3, column 'b'"),
    ("a,b,label\n1,2,0\n3,4,0.5\n", "has labels that are not whole numbers in column 'label'"),
])
def test_errors_are_worded_by_the_exact_reader_in_either_process(tmp_path, text, reason):
    from gpuviz_app.data.formats.table_process import load_in_process

    path = tmp_path / "bad.csv"
    path.write_text(text)
    for load in (table_fast.load_table_here, load_in_process):
        with pytest.raises(DatasetError) as err:
            load(path, LoadContext())
        assert err.value.reason.startswith(reason), load
        assert err.value.path == str(path)


def test_a_large_table_streams_from_its_own_process_with_progress_and_little_memory(tmp_path, monkeypatch):
    from gpuviz_app.bench.loading import write_large_csv

    path = tmp_path / "large.csv"
    rows = write_large_csv(path, 12, features=20)
    monkeypatch.setattr(table, "PROCESS_BYTES", 1 << 20)
    seen = []
    made = []
    real = table_fast.parse_numeric
    monkeypatch.setattr(table_fast, "parse_numeric", lambda *a, **k: made.append(a) or real(*a, **k))
    data = table.load_table(path, LoadContext(progress=lambda f, m: seen.append(f)))
    assert data.x.shape == (rows, 20) and len(data.classes) == 10
    assert not made  # parsed in the child: this process only received the rows
    assert len(seen) > 5 and seen == sorted(seen) and seen[-1] == 1.0
    assert data.x.base is None or data.x.base.nbytes <= 1.1 * data.x.nbytes
    first = table_exact.load_table_exact(path, LoadContext())
    np.testing.assert_array_equal(first.x, data.x)
    np.testing.assert_array_equal(first.y, data.y)


def test_cancelling_a_large_load_stops_its_process(tmp_path, monkeypatch):
    import subprocess

    from gpuviz_app.bench.loading import write_large_csv

    path = tmp_path / "large.csv"
    write_large_csv(path, 12, features=20)
    monkeypatch.setattr(table, "PROCESS_BYTES", 1 << 20)
    procs = []
    real = subprocess.Popen
    monkeypatch.setattr(subprocess, "Popen", lambda *a, **k: procs.append(real(*a, **k)) or procs[-1])
    calls = []
    with pytest.raises(LoadCancelled):
        table.load_table(path, LoadContext(progress=lambda f, m: calls.append(f), cancel=lambda: len(calls) > 2))
    assert procs and procs[0].poll() is not None  # the child was stopped, not left parsing
