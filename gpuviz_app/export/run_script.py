"""Headless `gpuviz run SCRIPT.py`: run a user's training script and write a screenshot and/or video.

The script runs on this thread (`ScriptSource.run`), and frames are rendered from inside its
`viz.step`, at steps 0, K, 2K, ... and the last one, with the probes settled first: the EGL
context stays on one thread, nothing waits on another thread, and the pictures are the same on
every run (the same design as `gpuviz record`, whose helpers this reuses). `--steps N` stops the
script at its N-th `viz.step`. A script that raises: one `error:` line naming the script and the
exception, then its traceback, exit status 1, and no output file is left behind.
"""

from __future__ import annotations

import sys
from pathlib import Path

from gpuviz_app.core.view_names import DASHBOARD
from gpuviz_app.export.guarded import Refused, guarded_outputs
from gpuviz_app.export.headless import Progress, dashboard_views, default_every
from gpuviz_app.export.run_options import RunScriptOptions

DEFAULT_EVERY = 50  # steps per frame when the number of steps is not known in advance


def script_problem(script: str) -> str | None:
    """One sentence saying why `script` cannot be run, or None."""
    path = Path(script)
    if not path.exists():
        return f"{script}: no such file"
    if not path.is_file():
        return f"{script}: not a file (give a Python script, like train.py)"
    if path.suffix != ".py":
        return f"{script}: not a Python script (a .py file is expected)"
    return None


def frame_every(options: RunScriptOptions) -> int:
    """Steps between published (and, with --out, encoded) frames."""
    if options.every:
        return options.every
    if options.steps is None:
        return DEFAULT_EVERY
    if options.out:
        return default_every(options.steps, options.fps)
    return max(1, options.steps // 50)


def run_script(options: RunScriptOptions) -> int:
    """Exit status: 0 written, 1 the script raised or never attached, 2 refused, 130 cancelled."""
    from gpuviz_app.export.outputs import output_problem

    problem = script_problem(options.script) or output_problem(options.out, options.screenshot, None, options.force)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    names = dashboard_views() if options.view == DASHBOARD else [options.view]
    if any(n not in dashboard_views() for n in names):
        print(f"error: the {options.view} view is not available in this build", file=sys.stderr)
        return 2

    import torch

    from gpuviz_app.render.offscreen import use_offscreen_backend

    use_offscreen_backend(0 if torch.cuda.is_available() else None)

    from gpuviz_app.core.probes import probe_factories
    from gpuviz_app.export.frames import render_view, scaled_size
    from gpuviz_app.render.canvas import ViewCanvas
    from gpuviz_app.render.views import make_view
    from gpuviz_app.sources.script import ScriptSource

    views = [make_view(n) for n in names]
    size = options.size or ((1280, 720) if len(views) > 1 else views[0].render_size)
    frame_size = scaled_size(size, 1.0)
    canvas = ViewCanvas(views, size=size)
    canvas.settle()
    every = frame_every(options)
    progress = Progress(options.steps or 0)
    state = {"frames": 0, "upload": None, "held": None, "encoder": None}

    def on_publish(snapshot) -> None:
        if state["upload"] is None:
            state["upload"] = canvas.configure_upload(snapshot.device)
            upload = state["upload"]
            print(f"upload path: {upload.name} ({upload.reason})", file=sys.stderr)
        canvas.push(snapshot)
        encoder = state["encoder"]
        if encoder is not None:
            # one frame per step: a step published twice (its final settle) keeps its last picture
            held = state["held"]
            if held is not None and held[0] != snapshot.step:
                encoder.put(held[1])
                state["frames"] += 1
            state["held"] = (snapshot.step, render_view(canvas, size=frame_size))
        if options.steps:
            progress.show(snapshot.step, f"loss {snapshot.latest.get('train_loss', float('nan')):.4f}")

    source = ScriptSource(options.script, options.args, probes=probe_factories({v.probe for v in views if v.probe}),
                          max_steps=options.steps, publish_every=every, on_publish=on_publish)
    for view in views:
        probe_options = view.probe_options()
        if view.probe and probe_options is not None:
            source.configure_probe(view.probe, probe_options)

    def work(encoder) -> list[str]:
        state["encoder"] = encoder
        source.run()
        if source.failure is not None:
            print(f"\nerror: {source.failure.summary}", file=sys.stderr)
            print(source.failure.details.rstrip(), file=sys.stderr)
            raise Refused(1)
        if not source.attached:
            print(f"error: {options.script} finished without calling gpuviz_app.attach: nothing to show",
                  file=sys.stderr)
            raise Refused(1)
        if encoder is not None and state["held"] is not None:
            encoder.put(state["held"][1])
            state["frames"] += 1
        if not options.screenshot:
            return []
        from gpuviz_app.export.image import save_image, snapshot_metadata

        snapshot = source.mailbox.peek()
        canvas.push(snapshot)
        save_image(render_view(canvas), options.screenshot, snapshot_metadata(snapshot), overwrite=options.force)
        return [str(Path(options.screenshot))]

    try:
        status, written = guarded_outputs(work, options.out, frame_size, options.fps, options.force)
    finally:
        canvas.close()
    if status:
        return status
    snapshot = source.mailbox.peek()
    frames = f", {state['frames']} frames (one every {every} steps)" if state["frames"] else ""
    progress.done(f"ran {options.script} for {snapshot.step} steps on {snapshot.device_name}{frames}")
    print(f"wrote {', '.join(written) or 'nothing'}", file=sys.stderr)
    if snapshot.diverged:
        print(f"warning: {snapshot.diverged}", file=sys.stderr)
    return 0
