"""`gpuviz record --from-run RUN`: a stored run's frames drawn again with no display, no training.

Each stored step in `--steps A:B` (with `--every K`, the first stored step of each K) is read
with `snapshot_at` and pushed to the same View classes on an offscreen EGL canvas, as the
window's replay pushes it when the timeline is at that step, so a frame shows what the window
shows there. `--screenshot` is the last frame, `--csv` the stored metrics in the range (CSV or
Parquet). Outputs are checked before the run is read; Ctrl+C or SIGTERM leaves no file.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np

from gpuviz_app.core.view_names import DASHBOARD
from gpuviz_app.export.record_options import StepRange, StoredRecordOptions


def chosen_steps(stored: np.ndarray, steps: StepRange = (None, None), every: int | None = None) -> list[int]:
    """The stored steps inside `steps` (both ends included); with `every`, the first of each block
    of `every` steps, and the range's last stored step so the clip ends where the range does."""
    first, last = steps
    stored = np.asarray(stored, np.int64)
    keep = np.ones(len(stored), bool)
    if first is not None:
        keep &= stored >= first
    if last is not None:
        keep &= stored <= last
    chosen = stored[keep]
    if every is not None and len(chosen):
        block = chosen // every
        kept = np.r_[True, block[1:] != block[:-1]]
        kept[-1] = True
        chosen = chosen[kept]
    return [int(s) for s in chosen]


def describe_range(steps: StepRange) -> str:
    first, last = steps
    return f"{'' if first is None else first}:{'' if last is None else last}"


def output_problems(options: StoredRecordOptions) -> str | None:
    from gpuviz_app.export.outputs import output_problem
    from gpuviz_app.export.stored_metrics import export_problem

    problem = output_problem(options.out, options.screenshot, options.csv, options.force)
    if problem is None and options.csv:
        problem = export_problem(options.csv, options.force)
    return problem


def record_stored(options: StoredRecordOptions) -> int:
    """Exit status: 0 written, 2 refused or failed (one `error:` line), 130 cancelled."""
    problem = output_problems(options)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from gpuviz_app.store.open import OpenError, open_frames

    try:
        run = open_frames(options.run)
    except OpenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return _record(run, options)
    finally:
        close = getattr(run, "close", None)
        if callable(close):
            close()


def _record(run: Any, options: StoredRecordOptions) -> int:
    for warning in getattr(run, "warnings", ()):
        print(f"warning: {warning}", file=sys.stderr)
    stored = run.steps()
    steps = chosen_steps(stored, options.steps, options.every)
    if not steps:
        held = f"it holds steps {int(stored[0])} to {int(stored[-1])}" if len(stored) else "it holds none"
        print(f"error: {options.run}: no step was stored in --steps {describe_range(options.steps)} ({held})",
              file=sys.stderr)
        return 2

    from gpuviz_app.render.offscreen import use_offscreen_backend

    use_offscreen_backend(None)  # stored payloads are host arrays: nothing to keep on a GPU

    from gpuviz_app.export.frames import scaled_size
    from gpuviz_app.export.guarded import guarded_outputs
    from gpuviz_app.export.headless import dashboard_views
    from gpuviz_app.render.canvas import ViewCanvas
    from gpuviz_app.render.views import make_view

    names = dashboard_views() if options.view == DASHBOARD else [options.view]
    if any(n not in dashboard_views() for n in names):
        print(f"error: the {options.view} view is not available in this build", file=sys.stderr)
        return 2
    views = [make_view(n) for n in names]
    size = options.size or ((1280, 720) if len(views) > 1 else views[0].render_size)
    frame_size = scaled_size(size, options.scale)
    canvas = ViewCanvas(views, size=size)
    canvas.settle()
    shown: list = []

    def work(encoder) -> list[str]:
        shown.append(_draw(run, canvas, steps, encoder, frame_size))
        return _write_stills(run, options, canvas, shown[-1])

    try:
        status, written = guarded_outputs(work, options.out, frame_size, options.fps, options.force)
    finally:
        canvas.close()
    if status:
        return status
    print(f"wrote {', '.join(written)}", file=sys.stderr)
    return 0


def _draw(run: Any, canvas: Any, steps: list[int], encoder: Any, frame_size: tuple[int, int]) -> Any:
    """Push each chosen step's snapshot to the views, queueing a video frame of each; the last snapshot."""
    from gpuviz_app.export.frames import render_view
    from gpuviz_app.export.headless import Progress

    progress = Progress(len(steps), unit="frame")
    snapshot = None
    for i, step in enumerate(steps, 1):
        snapshot = run.snapshot_at(step)
        canvas.push(snapshot)
        if encoder is not None:
            encoder.put(render_view(canvas, size=frame_size))
        progress.show(i, f"step {step}")
    what = f"{len(steps)} frames of {frame_size[0]}x{frame_size[1]}" if encoder is not None else \
        f"{len(steps)} stored steps"
    progress.done(f"drew {what}, steps {steps[0]} to {steps[-1]}")
    return snapshot


def _write_stills(run: Any, options: StoredRecordOptions, canvas: Any, snapshot: Any) -> list[str]:
    written = []
    if options.screenshot:
        from gpuviz_app.export.frames import render_view
        from gpuviz_app.export.image import save_image, snapshot_metadata

        pixels = render_view(canvas, scale=options.scale)
        save_image(pixels, options.screenshot, snapshot_metadata(snapshot), overwrite=options.force)
        written.append(str(Path(options.screenshot)))
    if options.csv:
        from gpuviz_app.export.stored_metrics import write_stored_metrics

        write_stored_metrics(run, options.csv, options.steps, overwrite=options.force)
        written.append(str(Path(options.csv)))
    return written
