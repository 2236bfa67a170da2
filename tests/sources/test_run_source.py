"""Run sources: what the window uses of one, and what importing one costs."""

import json

from gpuviz_app.core.commands import CommandMethods, ConfigureProbe, ProbeAction, Reset, SetPaused, SetShownProbes
from gpuviz_app.sources import RunSource
from tests.fresh_python import run_python


class RecordingSource(CommandMethods):
    """The least a source needs: a mailbox, `send`, and its loop's controls."""

    def __init__(self):
        from gpuviz_app.core.mailbox import Mailbox

        self.mailbox = Mailbox()
        self.sent = []
        self.stopped = False

    def send(self, command):
        self.sent.append(command)

    def pace_probes(self):
        pass

    def want_probes(self):
        pass

    def run(self):
        pass

    def stop(self):
        self.stopped = True


def test_a_source_built_on_command_methods_is_a_run_source_and_its_methods_send_commands():
    source = RecordingSource()
    assert isinstance(source, RunSource)
    source.set_paused(True)
    source.reset()
    source.set_active_probes({"weights"})
    source.configure_probe("landscape", {"resolution": 11})
    source.probe_action("landscape", "recentre")
    assert source.sent == [SetPaused(True), Reset(), SetShownProbes(frozenset({"weights"})),
                           ConfigureProbe("landscape", {"resolution": 11}), ProbeAction("landscape", "recentre")]


def test_an_object_without_send_is_not_a_run_source():
    class NoSend:
        mailbox = None

    assert not isinstance(NoSend(), RunSource)


def test_sources_and_commands_import_neither_torch_nor_qt_nor_vispy():
    result = run_python(
        "import json, sys\n"
        "import gpuviz_app.sources, gpuviz_app.core.commands, gpuviz_app.core.probe_host, gpuviz_app.core.session\n"
        "print(json.dumps(sorted(m for m in ('torch', 'PySide6', 'vispy') if m in sys.modules)))\n"
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == []
