"""`gpuviz record`: train with no display and write a screenshot (and video) of a View."""

from __future__ import annotations

import argparse
import sys
import time

from gpuviz_app.data.dataset import DatasetError


def dashboard_views() -> list[str]:
    from gpuviz_app.render.views import VIEW_CLASSES

    return list(VIEW_CLASSES)


class Progress:
    """Terminal progress: one rewritten line on a terminal, a line per 10% otherwise."""

    def __init__(self, total: int, stream=sys.stderr) -> None:
        self.total = max(total, 1)
        self.stream = stream
        self.tty = stream.isatty()
        self._last_decile = -1
        self.start = time.perf_counter()

    def show(self, step: int, extra: str = "") -> None:
        frac = min(step / self.total, 1.0)
        line = f"step {step}/{self.total} ({frac:4.0%}) {extra}"
        if self.tty:
            self.stream.write("\r" + line.ljust(70))
            self.stream.flush()
        elif int(frac * 10) != self._last_decile:
            self._last_decile = int(frac * 10)
            self.stream.write(line + "\n")

    def done(self, message: str) -> None:
        if self.tty:
            self.stream.write("\n")
        self.stream.write(f"{message} in {time.perf_counter() - self.start:.1f} s\n")


def record(args: argparse.Namespace) -> int:
    from gpuviz_app.core.device import resolve_device
    from gpuviz_app.render.offscreen import use_offscreen_backend

    try:
        device = resolve_device(args.device)
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    cuda_index = (device.index or 0) if device.type == "cuda" else None
    use_offscreen_backend(cuda_index)

    from gpuviz_app.cli import config_from_args, parse_size
    from gpuviz_app.core.probes import probe_factories
    from gpuviz_app.core.session import TrainingSession
    from gpuviz_app.data.open import load_dataset
    from gpuviz_app.export.atomic import OutputExists
    from gpuviz_app.export.image import save_png, snapshot_metadata
    from gpuviz_app.render.canvas import ViewCanvas
    from gpuviz_app.render.views import make_view

    try:
        dataset = load_dataset(args.path)
    except DatasetError as exc:
        print(f"error: {exc.path}: {exc.reason}", file=sys.stderr)
        return 2
    names = dashboard_views() if args.view == "dashboard" else [args.view]
    views = [make_view(n) for n in names]
    size = parse_size(args.size) or ((1280, 720) if len(views) > 1 else views[0].render_size)
    config = config_from_args(args)
    session = TrainingSession(lambda: dataset, config=config, device=str(device), max_steps=args.steps,
                              probes=probe_factories({v.probe for v in views if v.probe}))
    for view in views:
        if view.probe and hasattr(view, "probe_options"):
            session.configure_probe(view.probe, view.probe_options())
    canvas = ViewCanvas(views, size=size)
    canvas.settle()
    progress = Progress(args.steps)
    every = args.every or max(1, args.steps // 50)
    try:
        # settle: background work (the loss surface) completes before each frame, so frames
        # do not depend on timing
        snapshot = session.advance(0, settle=True)
        upload = canvas.configure_upload(snapshot.device)
        print(f"upload path: {upload.name} ({upload.reason})", file=sys.stderr)
        canvas.push(snapshot)
        while not session.finished and args.steps > 0:
            snapshot = session.advance(every, settle=True)
            canvas.push(snapshot)
            progress.show(snapshot.step, f"loss {snapshot.latest.get('train_loss', float('nan')):.4f}")
    finally:
        session.close()
    canvas.push(snapshot)
    if args.screenshot:
        pixels = canvas.render(scale=args.scale)
        try:
            save_png(pixels, args.screenshot, snapshot_metadata(snapshot), overwrite=True)
        except OutputExists as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    progress.done(f"trained {snapshot.step} steps on {snapshot.device_name}")
    canvas.close()
    return 0
