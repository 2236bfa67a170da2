"""Recording cost: training throughput while the 1280x720 dashboard is recorded at 30 fps.

Side by side in one process, alternating arms of equal length so that drift and noise
fall on both: training on its thread (as in the window) with the dashboard displayed as
the window displays it (frame pacer, EGL canvas), without and with a recording (MP4, the
window's capture policy: extra display budget that also pays for encoding, frames read
back after each draw and encoded on a background thread behind a bounded queue).

"30 fps" is the video's clock, not a promise of 30 draws a second: where a frame costs
~30 ms of CPU (software GL), 30 draws a second would take half of a 2-core machine, so the
capture rate is what the display budget allows and the video holds frames in between.
The achieved capture rate is reported next to the throughput ratio. Offscreen, each draw
is a render into a framebuffer plus a read-back in both arms (the window reads back only
while recording), which slightly flatters the recording arm.

Runs in a subprocess so that its EGL context and threads stay out of the other topics.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gpuviz_app.bench.common import Figure

SIZE = (1280, 720)
FPS = 30.0


def _measure(quick: bool) -> dict:
    from gpuviz_app.render.offscreen import use_offscreen_backend

    use_offscreen_backend()
    from gpuviz_app.core.probes import probe_factories
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.builtin import digits
    from gpuviz_app.export.recorder import Recording, extra_display_budget
    from gpuviz_app.render.canvas import ViewCanvas
    from gpuviz_app.render.views import VIEW_CLASSES, make_view
    from gpuviz_app.ui.pacing import FramePacer

    views = [make_view(n) for n in VIEW_CLASSES]
    session = TrainingSession(digits, device="cpu", probes=probe_factories({v.probe for v in views if v.probe}))
    canvas = ViewCanvas(views, size=SIZE)
    canvas.settle()
    worker = threading.Thread(target=session.run, name="bench-training", daemon=True)
    worker.start()
    while session.trainer is None or session.mailbox.peek() is None:
        time.sleep(0.05)
    pacer = FramePacer()
    arm_s, rounds = (1.0, 4) if quick else (1.0, 30)
    folder = Path(tempfile.mkdtemp(prefix="gpuviz-bench-"))
    rec = Recording(folder / "bench.mp4", SIZE, fps=FPS)
    totals = {"display": [0, 0.0, 0], "record": [0, 0.0, 0], "alone": [0, 0.0, 0]}  # steps, seconds, draws
    paired: list[float] = []
    captured = skipped = 0

    def arm(kind: str, seconds: float) -> float:
        """Run one arm; returns its training steps per second."""
        recording = kind == "record"
        pacer.set_extra(extra_display_budget() if recording else 0.0)
        pacer.restart()
        draws = 0
        start_steps, start = session.trainer.step_count, time.perf_counter()
        while time.perf_counter() - start < seconds:
            time.sleep(0.016)  # the window's frame timer
            pacer.charge(rec.take_encoder_cpu())  # as the window does: encoding is paid from the budget
            if kind == "alone" or not pacer.ready():
                continue
            snap = session.mailbox.take()
            if snap is None or not canvas.push(snap):
                continue
            pixels = canvas.canvas.render()  # the draw (and, offscreen, its read-back)
            draws += 1
            if recording and rec.wants(snap.step):
                rec.add(pixels, snap.step)
        steps, elapsed = session.trainer.step_count - start_steps, time.perf_counter() - start
        t = totals[kind]
        t[0] += steps
        t[1] += elapsed
        t[2] += draws
        return steps / elapsed

    try:
        arm("record", 1.0)  # warm-up: shaders, encoder, allocations
        arm("display", 0.5)
        totals = {k: [0, 0.0, 0] for k in totals}
        frames_before, skipped_before = rec.frames, rec.skipped
        for i in range(rounds):
            order = ("display", "record") if i % 2 == 0 else ("record", "display")
            rates = {kind: arm(kind, arm_s) for kind in order}
            if rates["display"] > 0:
                paired.append(rates["record"] / rates["display"])
        captured, skipped = rec.frames - frames_before, rec.skipped - skipped_before
        arm("alone", arm_s * 2)
    finally:
        session.stop()
        worker.join(10)
        canvas.close()
        try:
            rec.finish()
        finally:
            for p in folder.iterdir():
                p.unlink()
            folder.rmdir()
    encode_cpu, encoded = rec.encoder.cpu_s, rec.encoder.encoded

    def rate(kind: str) -> float:
        steps, secs, _ = totals[kind]
        return steps / secs if secs else 0.0

    record_s = totals["record"][1]
    return {
        "steps_per_s_display": rate("display"),
        "steps_per_s_record": rate("record"),
        "steps_per_s_alone": rate("alone"),
        "draws_per_s_display": totals["display"][2] / max(totals["display"][1], 1e-9),
        "draws_per_s_record": totals["record"][2] / max(record_s, 1e-9),
        "captured_fps": captured / max(record_s, 1e-9),
        "skipped": skipped,
        "encode_ms_per_frame": 1000 * encode_cpu / max(encoded, 1),
        "paired_ratio_median": sorted(paired)[len(paired) // 2] if paired else None,
        "seconds_per_arm": arm_s,
        "rounds": rounds,
        "views": list(VIEW_CLASSES),
    }


def run(quick: bool) -> list[Figure]:
    cmd = [sys.executable, "-m", "gpuviz_app.bench.recording"] + (["--quick"] if quick else [])
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"recording benchmark failed: {proc.stderr.strip()[-500:]}")
    m = json.loads(proc.stdout.strip().splitlines()[-1])
    note = (f"capture {m['captured_fps']:.1f} of {FPS:g} fps (display-paced: {m['draws_per_s_record']:.1f} draws/s "
            f"recording, {m['draws_per_s_display']:.1f} without), {m['skipped']} frames skipped, "
            f"H.264 {m['encode_ms_per_frame']:.1f} ms/frame; median of {m['rounds']} paired arms "
            f"{m['paired_ratio_median']:.2f}x; training alone {m['steps_per_s_alone']:.0f} steps/s")
    return [
        Figure(key="recording.throughput", title="Training while recording 1280x720 @30fps",
               ours=m["steps_per_s_record"], peer=m["steps_per_s_display"], unit="steps/s",
               peer_name="same run, dashboard displayed but not recorded", higher_is_better=True,
               goal=0.9, goal_text=">=0.90x", note=note, extra=m),
        Figure(key="recording.capture_fps", title="Recording capture rate (1280x720 dashboard)",
               ours=m["captured_fps"], peer=FPS, unit="fps", peer_name="requested video rate",
               higher_is_better=True, note="informational: throttled by the display's CPU budget", extra=m),
    ]


def main() -> None:
    from gpuviz_app.core.allocator import keep_freed_memory

    keep_freed_memory()  # as `gpuviz` itself does
    quick = "--quick" in sys.argv[1:]
    print(json.dumps(_measure(quick)))


if __name__ == "__main__":
    main()
