"""The `gpuviz` command: parse the arguments into options objects, then launch or run a subcommand.

Only `LaunchOptions` and `RecordOptions` travel down; nothing in the package imports this module.
Subcommand modules are imported only when used, so `gpuviz --version` and the window's start-up
stay fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable, Sequence

from gpuviz_app import __version__
from gpuviz_app.core.allocator import keep_freed_memory
from gpuviz_app.core.view_names import DASHBOARD, VIEW_NAMES
from gpuviz_app.export.record_options import RecordOptions, StoredRecordOptions, parse_size, parse_step_range
from gpuviz_app.ui.launch_options import LaunchOptions

DEVICES = ("auto", "cpu", "cuda")
TRAINING_OPTIONS = ("model", "optimizer", "lr", "batch_size", "seed")


def add_training_options(parser: argparse.ArgumentParser) -> None:
    """Options left unset (None) take the last session's value in the window, else the default."""
    parser.add_argument("--model", choices=("auto", "mlp", "cnn"),
                        help="model to train (default auto: CNN for images, MLP for vectors)")
    parser.add_argument("--device", default="auto", choices=DEVICES,
                        help="training device (auto: CUDA when available, else CPU)")
    parser.add_argument("--optimizer", choices=("sgd", "adam", "adamw"), help="default adam")
    parser.add_argument("--lr", type=float, help="learning rate (default 0.001)")
    parser.add_argument("--batch-size", type=int, help="default 64")
    parser.add_argument("--seed", type=int, help="default 0")


def train_changes(args: argparse.Namespace) -> dict[str, Any]:
    """Only the training options given on the command line (the ones left out stay unset)."""
    return {key: getattr(args, key) for key in TRAINING_OPTIONS if getattr(args, key, None) is not None}


def checked_train_changes(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    """`train_changes`, or exit 2 with one line naming the first bad option and why
    (`gpuviz: --lr nan: the learning rate must be a finite number above 0`)."""
    from gpuviz_app.core.config import setting_problem

    changes = train_changes(args)
    for key, value in changes.items():
        problem = setting_problem(key, value)
        if problem:
            parser.exit(2, f"{parser.prog}: --{key.replace('_', '-')} {value}: {problem}\n")
    return changes


def add_runs_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runs", metavar="DIR", default=None,
                        help="directory where runs are kept (default: GPUVIZ_RUNS, else gpuviz/runs under "
                             "$XDG_DATA_HOME, by default ~/.local/share)")


def use_runs_dir(directory: str | None) -> str:
    """Make `--runs DIR` the runs directory of this process (before the window starts); the problem
    ("DIR: reason") when it cannot be made or written to, else ""."""
    if directory is None:
        return ""
    import os
    import tempfile

    from gpuviz_app.store.layout import RUNS_ENV

    path = os.path.abspath(os.path.expanduser(directory))
    try:
        os.makedirs(path, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        reason = "not a directory" if isinstance(exc, FileExistsError) else (exc.strerror or str(exc))
        return f"{directory}: {reason[:1].lower()}{reason[1:]}"
    os.environ[RUNS_ENV] = path
    return ""


class DatasetPaths(argparse.Action):
    """Positional dataset paths: None for none, the path for one, the list for several.

    A file manager passes every selected file (`Exec=gpuviz %F`); several files form one
    dataset (an images/labels pair, say), which `data.open.load_dataset` accepts as a list.
    """

    def __call__(self, parser, namespace, values, option_string=None) -> None:
        values = list(values or [])
        setattr(namespace, self.dest, None if not values else values[0] if len(values) == 1 else values)


def view_list(text: str) -> tuple[str, ...]:
    """'all' or comma-separated view names; the metrics view is always shown."""
    names = VIEW_NAMES if text.strip() == "all" else tuple(n.strip() for n in text.split(",") if n.strip())
    unknown = sorted(set(names) - set(VIEW_NAMES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown view {', '.join(unknown)} (choose from {', '.join(VIEW_NAMES)})")
    return names


def launch_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gpuviz",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Watch a neural network learn, live: opens the window, which stays open until closed\n"
                    "(with --steps N --quit-when-done it exits by itself).\n\n"
                    "subcommands (gpuviz SUBCOMMAND --help for each one's options):\n"
                    "  record            train with no display (or draw a stored run); save a screenshot or video\n"
                    "  run               run your own training script in the window (or save a screenshot or video)\n"
                    "  open              show a stored run or TensorBoard log, with a timeline to move through it\n"
                    "  export            write a stored run's metrics as CSV or Parquet\n"
                    "  inspect           print what the loader finds in a dataset\n"
                    "  bench             measure gpuviz against the tools it replaces\n"
                    "  install-desktop   add (or --uninstall) the desktop launcher entry and file types",
    )
    p.add_argument("path", nargs="*", action=DatasetPaths, metavar="PATH",
                   help="dataset file or folder to open, or several files forming one dataset "
                        "(default: the built-in digits)")
    add_training_options(p)
    p.add_argument("--steps", type=int, default=None, help="stop training after N steps")
    p.add_argument("--quit-when-done", action="store_true", help="exit once --steps are trained")
    p.add_argument("--screenshot", metavar="PNG",
                   help="with --quit-when-done: save the window first, as PNG (or JPEG for .jpg/.jpeg)")
    p.add_argument("--force", action="store_true", help="let --screenshot overwrite an existing file")
    p.add_argument("--views", type=view_list, default=None, metavar="NAMES",
                   help="views to show side by side, e.g. metrics,embedding, or 'all' (default: the saved "
                        "layout; metrics plus tabbed docks the first time)")
    p.add_argument("--listen", default="", metavar="ADDRESS",
                   help="where scripts calling gpuviz_app.attach in other processes reach this window: "
                        "ipc://PATH or tcp://HOST:PORT (default: GPUVIZ_ADDRESS, else a socket private to "
                        "you; a network address needs GPUVIZ_TOKEN, which senders must give too)")
    p.add_argument("--no-listen", action="store_true", help="do not listen for scripts in other processes")
    add_runs_option(p)
    p.add_argument("--version", action="version", version=f"gpuviz {__version__}")
    return p


def launch_options(argv: Sequence[str]) -> LaunchOptions:
    """The window's options from the launch command's arguments (exits with usage on an error)."""
    parser = launch_parser()
    args = parser.parse_args(list(argv))
    if args.screenshot and not args.quit_when_done:
        parser.error("--screenshot needs --quit-when-done (and usually --steps)")
    if args.screenshot:
        from gpuviz_app.export.outputs import output_problem

        problem = output_problem(image=args.screenshot, overwrite=args.force)
        if problem:
            parser.exit(2, f"error: {problem}\n")  # before the window opens and training starts
    problem = use_runs_dir(args.runs)
    if problem:
        parser.exit(2, f"error: {problem}\n")
    return LaunchOptions(path=args.path, device=args.device, steps=args.steps,
                         quit_when_done=args.quit_when_done, screenshot=args.screenshot, force=args.force,
                         views=args.views, listen=None if args.no_listen else args.listen,
                         train_changes=checked_train_changes(parser, args))


def record_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="gpuviz record",
                                description="Train with no display and save a screenshot or video of a view; with "
                                            "--from-run, draw a stored run's frames instead (nothing is trained).")
    p.add_argument("path", nargs="?", help="dataset file or folder (default: the built-in digits)")
    p.add_argument("--view", default="metrics", choices=(DASHBOARD, *VIEW_NAMES),
                   help=f"the view to draw, or {DASHBOARD} for all of them in one picture (default metrics)")
    p.add_argument("--steps", default=None,
                   help="train this many steps, then write the outputs; with --from-run, the stored steps A:B "
                        "to draw (both included, either end may be left out; default all)")
    p.add_argument("--from-run", metavar="RUN", default=None,
                   help="a run directory or TensorBoard log directory: draw each of its stored frames in "
                        "--steps A:B, as the window's timeline shows them, instead of training")
    p.add_argument("--out", metavar="FILE", help="video file: .mp4 (H.264), .webm (VP9) or .gif")
    p.add_argument("--screenshot", metavar="PNG", help="the final frame as PNG (or JPEG for .jpg/.jpeg)")
    p.add_argument("--csv", metavar="CSV", help="the metric history as CSV")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="layout size in pixels (default: the view's; 1280x720 for the dashboard)")
    p.add_argument("--fps", type=float, default=30.0, help="frames per second of the video (default 30)")
    p.add_argument("--every", type=int, default=None, metavar="K",
                   help="one video frame every K steps: ceil(N/K)+1 frames (default: K so the clip "
                        "lasts at most 10 s; with --from-run, every stored frame)")
    p.add_argument("--scale", type=float, default=1.0,
                   help="render video and screenshot at S times --size: same layout, sharper (default 1)")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    add_training_options(p)
    return p


def record_options(argv: Sequence[str]) -> RecordOptions | StoredRecordOptions:
    """`gpuviz record`'s options from its arguments (exits with usage on an error)."""
    parser = record_parser()
    args = parser.parse_args(list(argv))
    if not args.out and not args.screenshot and not args.csv:
        parser.error("give --out FILE, --screenshot PNG and/or --csv CSV")
    if args.every is not None and args.every < 1:
        parser.error("--every must be >= 1")
    if not (args.fps > 0 and 0 < args.scale <= 8):
        parser.error("--fps must be > 0 and --scale in (0, 8]")
    try:
        size = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    if args.from_run is not None:
        return stored_record_options(parser, args, size)
    if args.steps is None:
        parser.error("--steps N is needed: how many steps to train (or --from-run RUN to draw a stored run)")
    try:
        steps = int(args.steps)
    except ValueError:
        parser.error(f"--steps expects a number of steps to train, like 200, not {args.steps!r} "
                     "(a range A:B goes with --from-run)")
    if steps < 0:
        parser.error("--steps must be >= 0")
    return RecordOptions(steps=steps, view=args.view, path=args.path, out=args.out,
                         screenshot=args.screenshot, csv=args.csv, size=size, fps=args.fps, every=args.every,
                         scale=args.scale, force=args.force, device=args.device,
                         train_changes=checked_train_changes(parser, args))


def stored_record_options(parser: argparse.ArgumentParser, args: argparse.Namespace,
                          size: tuple[int, int] | None) -> StoredRecordOptions:
    """`gpuviz record --from-run RUN`: nothing trains, so a dataset or training option is refused."""
    given = [f"--{key.replace('_', '-')}" for key in TRAINING_OPTIONS if getattr(args, key) is not None]
    if args.device != "auto":
        given.append("--device")
    if args.path is not None:
        given.insert(0, f"the dataset {args.path}")
    if given:
        parser.error(f"{given[0]} applies only when training; with --from-run nothing is trained")
    try:
        steps = parse_step_range(args.steps)
    except ValueError as exc:
        parser.error(str(exc))
    return StoredRecordOptions(run=args.from_run, view=args.view, steps=steps, out=args.out,
                               screenshot=args.screenshot, csv=args.csv, size=size, fps=args.fps,
                               every=args.every, scale=args.scale, force=args.force)


def cmd_launch(argv: Sequence[str]) -> int:
    options = launch_options(argv)
    from gpuviz_app.ui.app import run_app

    return run_app(options)


def cmd_record(argv: Sequence[str]) -> int:
    options = record_options(argv)
    if isinstance(options, StoredRecordOptions):
        from gpuviz_app.export.stored_record import record_stored

        return record_stored(options)
    from gpuviz_app.export.headless import record

    return record(options)


def run_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gpuviz run",
        description="Run your own training script (which calls gpuviz_app.attach) in the window, in place of the "
                    "built-in training; with --screenshot or --out, with no display, saving a picture or video "
                    "of a view instead. The script's code runs, as if started with python.")
    p.add_argument("--steps", type=int, default=None, help="stop the script at its N-th viz.step (default: "
                                                             "let it run to its end)")
    p.add_argument("--quit-when-done", action="store_true", help="window: exit once the script has ended "
                                                                  "(status 1 if it raised)")
    p.add_argument("--views", type=view_list, default=None, metavar="NAMES",
                   help="window: views to show side by side, e.g. metrics,weights, or 'all'")
    p.add_argument("--view", default=None, choices=(DASHBOARD, *VIEW_NAMES),
                   help="with --screenshot/--out: the view to draw (default metrics)")
    p.add_argument("--screenshot", metavar="PNG", help="no window: the final frame as PNG (or JPEG for .jpg/.jpeg)")
    p.add_argument("--out", metavar="FILE", help="no window: video file: .mp4 (H.264), .webm (VP9) or .gif")
    p.add_argument("--size", default=None, metavar="WxH",
                   help="layout size in pixels (default: the view's; 1280x720 for the dashboard)")
    p.add_argument("--fps", type=float, default=None, help="frames per second of the video (default 30)")
    p.add_argument("--every", type=int, default=None, metavar="K", help="one video frame every K steps")
    p.add_argument("--force", action="store_true", help="overwrite existing output files")
    add_runs_option(p)
    p.add_argument("script", metavar="SCRIPT.py", help="the training script to run")
    p.add_argument("args", nargs=argparse.REMAINDER, metavar="...", help="the script's own arguments")
    return p


HEADLESS_ONLY = ("view", "size", "fps", "every")


def cmd_run(argv: Sequence[str]) -> int:
    """With --screenshot or --out: headless, as `gpuviz record`; otherwise the window runs the script."""
    parser = run_parser()
    args = parser.parse_args(list(argv))
    if args.steps is not None and args.steps < 1:
        parser.error("--steps must be >= 1")
    problem = use_runs_dir(args.runs)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not args.out and not args.screenshot:
        return run_in_window(parser, args)
    if args.views is not None:
        parser.error("--views is for the window; with --screenshot/--out, --view names the view to draw")
    fps = 30.0 if args.fps is None else args.fps
    if (args.every is not None and args.every < 1) or not fps > 0:
        parser.error("--every must be >= 1 and --fps > 0")
    try:
        size = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    from gpuviz_app.export.run_options import RunScriptOptions
    from gpuviz_app.export.run_script import run_script

    return run_script(RunScriptOptions(script=args.script, args=list(args.args), steps=args.steps,
                                       view=args.view or "metrics", out=args.out, screenshot=args.screenshot,
                                       size=size, fps=fps, every=args.every, force=args.force))


def run_in_window(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """`gpuviz run SCRIPT.py` with neither --screenshot nor --out: the window runs the script."""
    given = [f"--{name}" for name in HEADLESS_ONLY if getattr(args, name) is not None]
    if given:
        verb = "applies" if len(given) == 1 else "apply"
        parser.error(f"{', '.join(given)} {verb} only with --screenshot or --out (without them the window opens)")
    from gpuviz_app.export.run_script import script_problem
    from gpuviz_app.ui.launch_options import display_available

    problem = script_problem(args.script)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    if not display_available():
        print("error: no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set); give "
              "--screenshot PNG or --out FILE to run the script without one", file=sys.stderr)
        return 2
    from gpuviz_app.ui.app import run_app

    return run_app(LaunchOptions(steps=args.steps, quit_when_done=args.quit_when_done, views=args.views,
                                 script=args.script, script_args=tuple(args.args)))


def cmd_open(argv: Sequence[str]) -> int:
    """`gpuviz open PATH`: a stored run or TensorBoard log in the window, with the timeline at its
    last step; `gpuviz open A B ...`: those runs compared in lockstep. Anything else is refused
    before a window opens."""
    p = argparse.ArgumentParser(prog="gpuviz open",
                                description="Show a stored run or a TensorBoard log directory in the window, with the "
                                            "timeline to move through its recorded steps. Given two or more, "
                                            "compare them in lockstep: metrics overlaid, weights and embeddings "
                                            "side by side, and the difference of their weight matrices.")
    p.add_argument("paths", nargs="+", metavar="RUN_DIR|TENSORBOARD_LOGDIR",
                   help="a run directory or a TensorBoard log directory (several: compared)")
    p.add_argument("--views", type=view_list, default=None, metavar="NAMES",
                   help="views to show side by side, e.g. metrics,weights, or 'all'")
    add_runs_option(p)
    args = p.parse_args(list(argv))
    problem = use_runs_dir(args.runs)
    if problem:
        print(f"error: {problem}", file=sys.stderr)
        return 2
    from gpuviz_app.store.open import OpenError, check_openable
    from gpuviz_app.ui.launch_options import display_available

    try:
        for path in args.paths:
            check_openable(path)
    except OpenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not display_available():
        print("error: no display to open the window on (neither DISPLAY nor WAYLAND_DISPLAY is set)", file=sys.stderr)
        return 2
    from gpuviz_app.ui.app import run_app

    if len(args.paths) > 1:
        return run_app(LaunchOptions(compare=tuple(args.paths), views=args.views, listen=None))
    return run_app(LaunchOptions(run=args.paths[0], views=args.views, listen=None))


def cmd_export(argv: Sequence[str]) -> int:
    """`gpuviz export RUN --out FILE`: a stored run's (or TensorBoard log's) metrics, no window."""
    p = argparse.ArgumentParser(prog="gpuviz export",
                                description="Write the metrics of a stored run or a TensorBoard log directory as CSV "
                                            "or Parquet: one row per logged value (series, first_step, last_step, "
                                            "min, max, mean, count), exactly as stored. For a video of a stored "
                                            "run, see gpuviz record --from-run.")
    p.add_argument("path", metavar="RUN_DIR|TENSORBOARD_LOGDIR", help="a run directory or a TensorBoard log directory")
    p.add_argument("--out", metavar="FILE", required=True,
                   help="FILE.csv, or FILE.parquet (needs pyarrow: pip install 'gpuviz-app[parquet]')")
    p.add_argument("--steps", default=None, metavar="A:B",
                   help="only the values logged at steps A to B (both included; either end may be left out)")
    p.add_argument("--force", action="store_true", help="overwrite an existing FILE")
    args = p.parse_args(list(argv))
    try:
        steps = parse_step_range(args.steps)
    except ValueError as exc:
        p.error(str(exc))
    from gpuviz_app.export.stored_metrics import export_metrics

    return export_metrics(args.path, args.out, steps, overwrite=args.force)


def cmd_inspect(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="gpuviz inspect", description="Describe what gpuviz finds in a dataset.")
    p.add_argument("path", nargs="+", help="file or folder (or an images/labels pair)")
    p.add_argument("--json", action="store_true", help="print a JSON object")
    p.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="show the load's progress on stderr (default: when stderr is a terminal)")
    args = p.parse_args(argv)
    from gpuviz_app.data.inspect import inspect_command

    return inspect_command(args.path, as_json=args.json, progress=args.progress)


def cmd_bench(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(prog="gpuviz bench",
                                description="Measure gpuviz against the tools it replaces, side by side.")
    p.add_argument("--json", action="store_true", help="print a JSON report")
    p.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (for CI)")
    from gpuviz_app.bench.runner import TOPICS

    topics = [name.rsplit(".", 1)[1] for name in TOPICS]
    p.add_argument("--only", nargs="*", metavar="TOPIC", choices=topics,
                   help=f"run only these topics: {', '.join(topics)}")
    args = p.parse_args(argv)
    from gpuviz_app.bench.runner import bench_command

    return bench_command(as_json=args.json, quick=args.quick, only=args.only)


def cmd_install_desktop(argv: Sequence[str]) -> int:
    p = argparse.ArgumentParser(
        prog="gpuviz install-desktop",
        description="Add gpuviz to this user's application launcher, with its icon and the dataset file "
                    "types it opens (under $XDG_DATA_HOME, by default ~/.local/share).")
    p.add_argument("--uninstall", action="store_true", help="remove what install-desktop added")
    args = p.parse_args(argv)
    from gpuviz_app.desktop import install_desktop_command

    return install_desktop_command(remove=args.uninstall)


COMMANDS: dict[str, Callable[[Sequence[str]], int]] = {
    "record": cmd_record,
    "run": cmd_run,
    "open": cmd_open,
    "export": cmd_export,
    "inspect": cmd_inspect,
    "bench": cmd_bench,
    "install-desktop": cmd_install_desktop,
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    keep_freed_memory()
    if argv and argv[0] in COMMANDS:
        return COMMANDS[argv[0]](argv[1:])
    return cmd_launch(argv)


if __name__ == "__main__":
    sys.exit(main())
