"""The attach bench says when a peer is missing instead of failing, and reports it without a ratio.

That every figure of the topic is produced and finite is checked by `test_bench.py`, which runs
the whole quick bench; no timing is asserted here.
"""

import math
import os
from pathlib import Path

import pytest

from gpuviz_app.bench import attach
from gpuviz_app.bench.attach import ARMS, Measured, figures, run_arm


def _without(tmp_path: Path, package: str) -> dict:
    """An environment in which importing `package` fails, as when it is not installed."""
    shim = tmp_path / "shim" / package
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(f"raise ImportError('No module named {package}')\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(shim.parent), env.get("PYTHONPATH")]))
    return env


@pytest.mark.parametrize("arm_key, package", [("wandb_1", "wandb"), ("tensorboard_1", "tensorboard")])
def test_an_arm_whose_peer_is_missing_says_so(tmp_path, arm_key, package):
    arm = next(a for a in ARMS if a.key == arm_key)
    script = tmp_path / "train.py"
    script.write_text(attach.SCRIPT)
    result = run_arm(arm, steps=3, script=script, env=_without(tmp_path, package))
    assert set(result) == {"missing"}
    assert package in result["missing"]


def _measured(missing: dict[str, str]) -> Measured:
    rates = {"bare": [10.0, 10.2, 9.8], "in_process": [9.0, 9.1, 8.9], "remote_weights": [9.5, 9.4, 9.6],
             "wandb_1": [5.0, 5.1, 4.9], "tensorboard_1": [4.0, 4.2, 3.8]}
    for key in missing:
        rates[key] = []
    return Measured(rates, missing, latency=[0.01, 0.02, 0.03], repeats=3, steps=60, skip=10)


def test_a_missing_peer_is_reported_without_a_ratio():
    report = {f.key: f for f in figures(_measured({"wandb_1": "No module named 'wandb'"}))}
    wandb = report["attach.vs_wandb"]
    assert wandb.peer is None and wandb.ratio is None and wandb.passed is None
    assert "not installed" in wandb.note and "wandb" in wandb.note
    assert report["attach.vs_tensorboard"].peer is not None  # the other peer is still compared
    assert all(math.isfinite(f.ours) and f.ours > 0 for f in report.values())


def test_overheads_are_per_step_times_against_the_bare_script():
    report = {f.key: f for f in figures(_measured({}))}
    tb = report["attach.vs_tensorboard"]
    # bare 10 steps/s, TensorBoard 4: each step takes 2.5x as long, 150% overhead
    assert tb.extra["peer_overhead_percent"] == pytest.approx(150.0)
    assert tb.extra["overhead_percent"] == pytest.approx(100 * (10.0 / 9.5 - 1))
    assert tb.ratio == pytest.approx(150.0 / (100 * (10.0 / 9.5 - 1)))
    assert report["attach.out_of_process"].ratio == pytest.approx(0.95)
    assert report["attach.latency_p95"].ours == pytest.approx(29.0)


def test_an_arm_that_crashed_at_exit_is_reported_with_its_figure():
    m = _measured({})
    m.exit_errors["remote_weights"] = "exited -6 after its last step (terminate called)"
    report = {f.key: f for f in figures(m)}
    assert "exited -6" in report["attach.out_of_process"].note
    assert "exited -6" in report["attach.vs_wandb"].note
    assert "exited" not in report["attach.in_process"].note


def test_the_share_of_the_loop_inside_viz_step_is_the_median_over_repeats():
    m = _measured({})
    m.logging["remote_weights"] = [0.07, 0.05, 0.30]
    report = {f.key: f for f in figures(m)}
    figure = report["attach.out_of_process"]
    assert figure.extra["inside_step_percent"] == pytest.approx(7.0)
    assert "7.0% of the loop's time inside viz.step" in figure.note
    assert report["attach.in_process"].extra["inside_step_percent"] is None  # not measured: not said


def test_the_script_reports_the_time_inside_its_logging_call(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(attach.SCRIPT)
    result = run_arm(ARMS[0], steps=6, script=script)
    assert 0.0 <= result["logging"] < result["times"][-1] - result["times"][0]
