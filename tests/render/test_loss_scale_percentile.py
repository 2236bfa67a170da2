"""The loss axis's percentiles equal NumPy's, without importing numpy.ma on the first trained frame."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from gpuviz_app.render.views.metrics.curves import percentile


@pytest.mark.parametrize("n", [1, 2, 3, 10, 101, 4000])
def test_percentile_equals_numpys_linear_percentile(n):
    values = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    for q in (0, 5, 50, 90, 100):
        assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), rel=1e-6, abs=1e-7)


def test_choosing_the_loss_axis_imports_no_masked_arrays():
    code = (
        "import sys, numpy as np\n"
        "from gpuviz_app.core.history import Decimated\n"
        "from gpuviz_app.render.views.metrics.curves import loss_scale\n"
        "spike = np.array([1.0, 0.9, 500.0, 0.8], np.float32)\n"
        "d = Decimated(np.arange(4.0), spike, spike)\n"
        "assert loss_scale('auto', d)[0] == 'log'\n"
        "assert 'numpy.ma' not in sys.modules, 'numpy.ma was imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
