"""`gpuviz record`: train with no display and write a video, a screenshot and/or the metrics CSV.

Training runs on this thread in chunks of `--every` steps (`TrainingSession.advance`), so
the video is the same on every run: a frame at step 0, one after every K steps, and one at
the last step, `ceil(N / K) + 1` frames in all (`frame_steps`). Without `--every`, K is
chosen so the clip lasts at most `CLIP_S` seconds at `--fps` (one frame per step for short
runs). Frames are encoded on a background thread while the next chunk trains. Every
probe is recomputed at each frame's step, so all panels of a frame show the same step.

Outputs are checked before training starts: an existing file is an error unless `--force`.
Ctrl+C or SIGTERM cancels: nothing is left under the output names.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

from gpuviz_app.core.view_names import DASHBOARD
from gpuviz_app.data.dataset import DatasetError
from gpuviz_app.export.guarded import guarded_outputs
from gpuviz_app.export.record_options import RecordOptions

CLIP_S = 10.0  # default clip length (seconds) that --every is chosen for


def dashboard_views() -> list[str]:
    from gpuviz_app.render.views import VIEW_CLASSES

    return list(VIEW_CLASSES)


def default_every(steps: int, fps: float, clip_s: float = CLIP_S) -> int:
    """Steps per frame so that `steps` make at most ~`clip_s` seconds of video."""
    return max(1, math.ceil(steps / (clip_s * fps)))


def frame_steps(steps: int, every: int) -> list[int]:
    """Steps at which frames are taken: 0, K, 2K, ... and `steps` itself (ceil(N/K) + 1 frames)."""
    return list(_frame_steps(steps, every))


def _frame_steps(steps: int, every: int):
    yield from range(0, steps, every)
    yield steps


class Progress:
    """Terminal progress: one rewritten line on a terminal, a line per 10% otherwise."""

    def __init__(self, total: int, stream=sys.stderr, unit: str = "step") -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.unit = unit
        self.tty = stream.isatty()
        self._last_decile = -1
        self.start = time.perf_counter()

    def show(self, step: int, extra: str = "") -> None:
        frac = min(step / self.total, 1.0)
        line = f"{self.unit} {step}/{self.total} ({frac:4.0%}) {extra}"
        if self.tty:
            self.stream.write("\r" + line.ljust(78))
            self.stream.flush()
        elif int(frac * 10) != self._last_decile:
            self._last_decile = int(frac * 10)
            self.stream.write(line + "\n")

    def done(self, message: str) -> None:
        if self.tty:
            self.stream.write("\n")
        self.stream.write(f"{message} in {time.perf_counter() - self.start:.1f} s\n")


def configure_probes(session, views) -> None:
    """Send each view's probe its options, recomputing at every frame (not every k steps), so
    all panels of a frame show the frame's step."""
    for view in views:
        probe_options = view.probe_options()
        if view.probe and probe_options is not None:
            if "every" in probe_options:
                probe_options["every"] = 1
            session.configure_probe(view.probe, probe_options)


def check_outputs(options: RecordOptions) -> str | None:
    """A one-line reason why the outputs cannot be written, or None."""
    from gpuviz_app.export.outputs import output_problem

    return output_problem(options.out, options.screenshot, options.csv, options.force)


def record(options: RecordOptions) -> int:
    """Exit status: 0 written (a run that diverged too, with one `warning:` line), 2 refused or
    failed (one `error:` line), 130 cancelled."""
    problem = check_outputs(options)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2

    from gpuviz_app.core.device import resolve_device
    from gpuviz_app.render.offscreen import use_offscreen_backend

    try:
        device = resolve_device(options.device)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cuda_index = (device.index or 0) if device.type == "cuda" else None
    use_offscreen_backend(cuda_index)

    from gpuviz_app.core.config import TrainConfig
    from gpuviz_app.core.probes import probe_factories
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.open import load_dataset
    from gpuviz_app.export.frames import scaled_size
    from gpuviz_app.render.canvas import ViewCanvas
    from gpuviz_app.render.views import make_view

    try:
        dataset = load_dataset(options.path)
    except DatasetError as exc:
        print(f"error: {exc.path}: {exc.reason}", file=sys.stderr)
        return 2
    names = dashboard_views() if options.view == DASHBOARD else [options.view]
    unknown = [n for n in names if n not in dashboard_views()]
    if unknown:
        print(f"error: the {unknown[0]} view is not available in this build", file=sys.stderr)
        return 2
    views = [make_view(n) for n in names]
    size = options.size or ((1280, 720) if len(views) > 1 else views[0].render_size)
    frame_size = scaled_size(size, options.scale)
    config = TrainConfig().with_changes(**options.train_changes)
    session = TrainingSession(lambda: dataset, config=config, device=str(device), max_steps=options.steps,
                              probes=probe_factories({v.probe for v in views if v.probe}))
    configure_probes(session, views)
    canvas = ViewCanvas(views, size=size)
    canvas.settle()
    if options.out:
        every = options.every or default_every(options.steps, options.fps)
    else:
        every = options.every or max(1, options.steps // 50)

    def work(encoder) -> list[str]:
        snapshots.append(_train(session, canvas, options, every, encoder, frame_size))
        return _write_stills(options, canvas, snapshots[-1])

    snapshots = []
    try:
        status, written = guarded_outputs(work, options.out, frame_size, options.fps, options.force)
    finally:
        session.close()
        canvas.close()
    if status:
        return status
    snapshot = snapshots[-1]
    print(f"wrote {', '.join(written)}", file=sys.stderr)
    if snapshot.diverged:  # the outputs show the run as it went; exit 0, with one line saying so
        print(f"warning: {snapshot.diverged}", file=sys.stderr)
    return 0


def _train(session, canvas, options: RecordOptions, every, encoder, frame_size):
    """Train to `--steps`, rendering and queueing a frame at each of `frame_steps`."""
    from gpuviz_app.export.frames import render_view

    progress = Progress(options.steps)
    total = math.ceil(options.steps / every) + 1
    # settle: background work (the loss surface) completes before each frame, so frames
    # do not depend on timing
    snapshot = session.advance(0, settle=True)
    upload = canvas.configure_upload(snapshot.device)
    print(f"upload path: {upload.name} ({upload.reason})", file=sys.stderr)
    frames = 0
    for target in _frame_steps(options.steps, every):
        if target > snapshot.step:
            snapshot = session.advance(target - snapshot.step, settle=True)
        canvas.push(snapshot)
        if encoder is not None:
            encoder.put(render_view(canvas, size=frame_size))
            frames += 1
        extra = f"loss {snapshot.latest.get('train_loss', float('nan')):.4f}"
        if encoder is not None:
            extra += f"  frame {frames}/{total}"
        progress.show(snapshot.step, extra)
    note = f", {frames} frames of {frame_size[0]}x{frame_size[1]} (one every {every} steps)" if encoder else ""
    progress.done(f"trained {snapshot.step} steps on {snapshot.device_name}{note}")
    return snapshot


def _write_stills(options: RecordOptions, canvas, snapshot) -> list[str]:
    from gpuviz_app.export.image import save_image, snapshot_metadata
    from gpuviz_app.export.metrics_csv import write_metrics_csv

    written = []
    if options.screenshot:
        from gpuviz_app.export.frames import render_view

        pixels = render_view(canvas, scale=options.scale)
        save_image(pixels, options.screenshot, snapshot_metadata(snapshot), overwrite=options.force)
        written.append(str(Path(options.screenshot)))
    if options.csv:
        write_metrics_csv(snapshot.metrics, options.csv, overwrite=options.force)
        written.append(str(Path(options.csv)))
    return written
