"""`gpuviz bench --quick` produces every figure, each finite (no timing is asserted)."""

import json
import math
import subprocess
import sys

import numpy as np
import pytest

EXPECTED = {
    "startup.window_shown", "startup.first_training_frame", "startup.launch_to_trained_frame",
    "training.metrics_live", "training.all_views_live", "training.vs_tensorboard",
    "upload.buffer_1mb", "upload.texture_1mb",
    "loading.idx", "loading.images",
    "landscape.grid_cpu", "landscape.grid_vs_channels_last_peer_cpu", "landscape.first_picture",
    "landscape.training_while_refining", "landscape.model_cnn_cpu", "landscape.model_mlp_cpu",
    "landscape.model_bn_cnn_cpu", "landscape.model_resnet_cpu", "landscape.model_transformer_cpu",
    "recording.throughput", "recording.capture_fps",
    "weights.per_step_cpu", "weights.hist_1m_cpu", "weights.hist_all_cpu",
    "embedding.update_100000", "embedding.update_1000000", "embedding.pca_cpu",
    "attach.in_process", "attach.out_of_process", "attach.vs_wandb", "attach.vs_tensorboard",
    "attach.latency_p95", "ipc.payload_16mb",
    "distributed.ddp_2_ranks", "distributed.metrics_view", "distributed.gathers_only",
    "tensorboard.open_logdir",
    "store.training_ratio", "store.cpu_share", "store.size_per_10k_steps", "store.scrub_jump_p95", "store.scrub_step_p95",
}


@pytest.fixture(scope="module")
def quick_report():
    proc = subprocess.run([sys.executable, "-m", "gpuviz_app", "bench", "--quick", "--json"],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


def test_quick_bench_produces_every_figure(quick_report):
    assert quick_report["errors"] == []
    keys = {f["key"] for f in quick_report["figures"]}
    assert EXPECTED <= keys, f"missing: {sorted(EXPECTED - keys)}"
    assert quick_report["machine"]["cores"] >= 1


def test_each_topic_reports_its_time_and_the_cpu_its_host_took(quick_report):
    topics = quick_report["topics"]
    assert {f["key"].split(".")[0] for f in quick_report["figures"]} <= set(topics)
    for name, topic in topics.items():
        assert topic["seconds"] > 0, name
        assert topic["stolen"] is None or 0.0 <= topic["stolen"] <= 1.0, name


def test_the_stolen_share_is_steal_over_all_cpu_time_between_two_readings():
    from gpuviz_app.bench.common import cpu_times, stolen_share

    before = [100, 0, 50, 800, 0, 0, 0, 50, 0, 0]
    after = [350, 0, 100, 1000, 0, 0, 0, 150, 0, 0]  # 600 ticks, 100 of them steal
    assert stolen_share(before, after) == pytest.approx(100 / 600)
    assert stolen_share(before, before) is None and stolen_share(None, after) is None
    now = cpu_times()
    assert now is None or (len(now) >= 8 and all(v >= 0 for v in now))


def test_every_figure_and_ratio_is_finite(quick_report):
    for figure in quick_report["figures"]:
        assert math.isfinite(figure["ours"]) and figure["ours"] > 0, figure
        if figure["peer"] is not None:
            assert math.isfinite(figure["peer"]) and figure["peer"] > 0, figure
            assert math.isfinite(figure["ratio"]), figure
        if figure["goal"] is not None and figure["peer"] is not None:
            # (a figure with an interval has a verdict only when the interval is on one side of its goal)
            assert figure["passed"] in ((True, False) if figure["interval"] is None else (True, False, None)), figure


def test_peers_installed_by_the_test_extra_are_measured(quick_report):
    by_key = {f["key"]: f for f in quick_report["figures"]}
    for key in ("training.vs_tensorboard", "landscape.grid_cpu", "weights.hist_all_cpu", "embedding.pca_cpu",
                "attach.vs_wandb", "attach.vs_tensorboard", "tensorboard.open_logdir"):
        assert by_key[key]["peer"] is not None, f"{key}: {by_key[key]['note']}"


def test_a_figure_with_an_interval_has_a_verdict_only_when_the_interval_clears_its_goal():
    from gpuviz_app.bench.common import Figure

    def verdict(low, high):
        return Figure("k", "t", 1.0, "x", peer=1.0, higher_is_better=True, goal=0.97, interval=(low, high)).passed

    assert verdict(0.98, 1.2) is True
    assert verdict(0.8, 0.96) is False
    assert verdict(0.9, 1.1) is None
    assert Figure("k", "t", 0.9, "x", peer=1.0, higher_is_better=True, goal=0.97).passed is False


def test_the_store_bench_pairs_neighbouring_blocks_of_each_state():
    from gpuviz_app.bench.common import median_interval
    from gpuviz_app.bench.store import alternating_rates

    states = [True, False, False, True, True, False, False, True, True]  # as the window switches them
    switches = [(float(i), on) for i, on in enumerate(states)] + [(float(len(states)), states[-1])]
    samples, step = [], 0.0
    for i, on in enumerate(states):  # 90 steps/s recording, 100 not, sampled ten times a second
        for k in range(10):
            samples.append((step + (90 if on else 100) * k / 10, i + k / 10))
        step += 90 if on else 100
    samples.append((step, float(len(states))))
    on, off, pairs = alternating_rates(samples, switches, skip_steps=150)  # (the first block and a half skipped)
    assert on == pytest.approx(90) and off == pytest.approx(100)
    assert len(pairs) == 3 and pairs == pytest.approx([0.9] * 3)
    low, high = median_interval([0.8, 0.9, 1.0, 1.1, 0.95])
    assert 0.8 <= low <= 0.95 <= high <= 1.1


def test_time_slices_let_one_arm_run_at_a_time_each_in_every_place_of_the_order():
    import signal

    from gpuviz_app.bench.slices import run_slices

    signals = []

    class Arm:
        def __init__(self, arm):
            self.arm = arm

        def signal(self, sig):
            signals.append((self.arm, sig))

    slices = run_slices([Arm("a"), Arm("b"), Arm("c")], rounds=3, slice_s=0.001)
    # each slice runs its arm alone: continued, then stopped before the next arm is continued
    assert signals == [(arm.arm, sig) for _, arm, _, _ in slices for sig in (signal.SIGCONT, signal.SIGSTOP)]
    orders = [[arm.arm for r, arm, _, _ in slices if r == k] for k in range(3)]
    assert orders == [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]]
    assert all(start < end for _, _, start, end in slices)
    assert all(before[3] <= after[2] for before, after in zip(slices, slices[1:]))


def test_a_slice_counts_the_steps_that_ended_within_it():
    from gpuviz_app.bench.common import median_interval
    from gpuviz_app.bench.slices import steps_within

    clock = np.array([0.5, 1.0, 1.5, 2.0, 2.5, 0.0, 0.0])  # zeros: steps not ended yet
    assert steps_within(clock, 1.0, 2.0).tolist() == [2, 3]
    assert steps_within(clock, 2.5, 9.0).tolist() == []
    low, high = median_interval([0.8, 0.9, 1.0, 1.1, 0.95])
    assert 0.8 <= low <= 0.95 <= high <= 1.1

