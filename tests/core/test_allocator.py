"""The allocator setting that keeps loss-surface workers from faulting in fresh pages."""

import platform
import sys

import pytest

from gpuviz_app.core.allocator import keep_freed_memory


@pytest.mark.skipif(not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc",
                    reason="mallopt thresholds are a glibc feature")
def test_glibc_thresholds_are_set_once_and_stay_set():
    assert keep_freed_memory() is True
    assert keep_freed_memory() is True


def test_the_cli_sets_them_before_any_command(monkeypatch):
    from gpuviz_app import cli

    calls = []
    monkeypatch.setattr(cli, "keep_freed_memory", lambda: calls.append(True))
    with pytest.raises(SystemExit) as exited:
        cli.main(["--version"])
    assert exited.value.code == 0
    assert calls == [True]
