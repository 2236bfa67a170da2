"""Bad training settings are refused before anything starts; a run that diverges says so."""

import csv

import numpy as np
import pytest


@pytest.mark.parametrize("command", [("record", "--steps", "30", "--screenshot", "n.png"), ("--steps", "5",
                                     "--quit-when-done")])
@pytest.mark.parametrize("option, value, reason", [
    ("--lr", "nan", "the learning rate must be a finite number above 0"),
    ("--lr", "-1", "the learning rate must be a finite number above 0"),
    ("--batch-size", "0", "the batch size must be a whole number of 1 or more"),
    ("--seed", "-1", "the seed must be a whole number from 0"),
])
def test_a_bad_setting_is_refused_in_one_line_naming_it(run_gpuviz, tmp_path, command, option, value, reason):
    proc = run_gpuviz(*command, option, value, display=False, cwd=tmp_path)
    prog = "gpuviz record" if command[0] == "record" else "gpuviz"
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"{prog}: {option} {float(value) if option == '--lr' else value}: ")
    assert reason in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "n.png").exists()


def test_a_diverging_record_writes_its_outputs_and_warns_once(run_gpuviz, tmp_path):
    out = tmp_path / "m.csv"
    proc = run_gpuviz("record", "--steps", "20", "--model", "mlp", "--optimizer", "sgd", "--lr", "1e6",
                      "--csv", str(out), display=False)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if "diverged" in line]
    assert warnings == ["warning: training diverged at step 3: the loss is NaN"]
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    train = {int(r["first_step"]): float(r["mean"]) for r in rows if r["series"] == "train_loss"}
    assert np.isfinite(train[1]) and np.isnan(train[3]) and max(train) == 20
