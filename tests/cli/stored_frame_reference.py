"""Run as a script: a stored run played through the window's replay source step by step, drawn
on a fresh offscreen canvas as the window draws what the replay publishes. Saves the first step's
RGBA pixels (.npy) and that picture as a one-frame video, and the last step's pixels (.npy).

`python -m tests.cli.stored_frame_reference RUN VIEW STEP,STEP,... WxH FIRST.npy FIRST.mp4 LAST.npy`
(its own process: the test's may hold another VisPy backend than EGL).
"""

from __future__ import annotations

import sys
import threading

import numpy as np


def main(run: str, view: str, steps: list[int], size: tuple[int, int], first_pixels: str, first_video: str,
         last_pixels: str) -> None:
    from gpuviz_app.render.offscreen import use_offscreen_backend

    use_offscreen_backend(None)
    from gpuviz_app.export.frames import render_view
    from gpuviz_app.export.video import VideoWriter
    from gpuviz_app.render.canvas import ViewCanvas
    from gpuviz_app.render.views import make_view
    from gpuviz_app.sources.stored import ReplaySource, ShowStep
    from gpuviz_app.store.reader import open_run

    frames = open_run(run)
    replay = ReplaySource(frames, step=steps[0])
    published = threading.Event()
    replay.mailbox.observer = lambda snapshot: published.set()
    thread = threading.Thread(target=replay.run, daemon=True)
    thread.start()
    canvas = ViewCanvas([make_view(view)], size=size)
    canvas.settle()
    for i, step in enumerate(steps):
        if i:
            replay.send(ShowStep(step))  # the timeline moved on
        assert published.wait(60), f"the replay published nothing for step {step}"
        published.clear()
        snapshot = replay.mailbox.take()
        assert snapshot.step == step
        canvas.push(snapshot)
        if i == 0:
            pixels = render_view(canvas)
            np.save(first_pixels, pixels)
            with VideoWriter(first_video, size) as writer:
                writer.write(pixels)
    np.save(last_pixels, render_view(canvas))
    replay.stop()
    thread.join(60)
    canvas.close()
    frames.close()


if __name__ == "__main__":
    run, view, steps, size, first_pixels, first_video, last_pixels = sys.argv[1:]
    w, h = (int(v) for v in size.split("x"))
    main(run, view, [int(s) for s in steps.split(",")], (w, h), first_pixels, first_video, last_pixels)
