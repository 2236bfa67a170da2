"""Asking for probes imports nothing heavy: the window asks for them on its own thread."""

from tests.fresh_python import run_python

CODE = """
import sys
from gpuviz_app.core.probes import PROBES, probe_factories
factories = probe_factories(set(PROBES) | {"no-such-probe"})
assert set(factories) == set(PROBES), factories
assert "torch" not in sys.modules, "asking for probe factories imported torch"
from gpuviz_app.core.config import TrainConfig
from gpuviz_app.core.trainer import Trainer
from gpuviz_app.data.builtin import digits
from gpuviz_app.data.device import DeviceDataset
trainer = Trainer(DeviceDataset(digits(), "cpu"), TrainConfig())
probe = factories["weights"](trainer.context)
assert probe.name == "weights", probe
print("ok")
"""


def test_probe_factories_import_their_modules_only_when_called():
    proc = run_python(CODE)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "ok"
