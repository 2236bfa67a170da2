"""Runs the benchmark topics, prints a table, and optionally JSON."""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback

from gpuviz_app.bench.common import Figure, cpu_times, machine, stolen_share

# Topic modules, in the order of the goals they measure.
TOPICS = [
    "gpuviz_app.bench.startup",
    "gpuviz_app.bench.training",
    "gpuviz_app.bench.upload",
    "gpuviz_app.bench.loading",
    "gpuviz_app.bench.landscape",
    "gpuviz_app.bench.recording",
    "gpuviz_app.bench.weights",
    "gpuviz_app.bench.embedding",
    "gpuviz_app.bench.attach",
    "gpuviz_app.bench.distributed",
    "gpuviz_app.bench.ipc",
    "gpuviz_app.bench.tensorboard",
    "gpuviz_app.bench.store",
]


def run_topics(quick: bool, only: list[str] | None = None,
               topics: dict[str, dict] | None = None) -> tuple[list[Figure], list[str]]:
    """Each topic's figures; `topics` gets each one's seconds and the share of the machine's CPU
    time its host took for others meanwhile (None where the system does not say)."""
    figures: list[Figure] = []
    errors: list[str] = []
    for name in TOPICS:
        short = name.rsplit(".", 1)[1]
        if only and short not in only:
            continue
        start, times = time.perf_counter(), cpu_times()
        print(f"[bench] {short} ...", file=sys.stderr, flush=True)
        try:
            module = importlib.import_module(name)
            figures.extend(module.run(quick=quick))
        except Exception as exc:  # noqa: BLE001 - one broken topic must not hide the others
            errors.append(f"{short}: {exc}")
            traceback.print_exc()
        seconds, stolen = time.perf_counter() - start, stolen_share(times, cpu_times())
        if topics is not None:
            topics[short] = {"seconds": round(seconds, 1), "stolen": None if stolen is None else round(stolen, 3)}
        said = "" if stolen is None else f" (CPU time taken by the host for others: {stolen:.0%})"
        print(f"[bench] {short} done in {seconds:.1f} s{said}", file=sys.stderr, flush=True)
    return figures, errors


def format_table(figures: list[Figure]) -> str:
    head = f"{'figure':<46} {'ours':>12} {'peer':>12} {'ratio':>8}  {'goal':<10} verdict"
    lines = [head, "-" * len(head)]
    for f in figures:
        peer = f"{f.peer:.4g}" if f.peer is not None else "-"
        ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "-"
        verdict = {True: "pass", False: "MISS", None: "no verdict" if f.goal is not None and f.ratio else ""}[f.passed]
        lines.append(f"{f.title:<46} {f.ours:>10.4g} {f.unit:<1} {peer:>12} {ratio:>8}  "
                     f"{f.goal_text:<10} {verdict}")
        if f.peer_name:
            lines.append(f"{'':<4}peer: {f.peer_name}" + (f"; {f.note}" if f.note else ""))
        elif f.note:
            lines.append(f"{'':<4}{f.note}")
    return "\n".join(lines)


def markdown_table(report: dict) -> str:
    """A `--json` report as the Markdown table the README shows."""
    lines = ["| figure | ours | peer | ratio | goal | verdict |", "|---|---|---|---|---|---|"]
    for f in report["figures"]:
        peer = f"{f['peer']:.4g} {f['unit']}" if f["peer"] is not None else "—"
        ratio = f"{f['ratio']:.2f}x" if f["ratio"] is not None else "—"
        verdict = {True: "pass", False: "**miss**",
                   None: "no verdict (noise)" if f.get("goal") is not None and f["ratio"] else ""}[f["passed"]]
        who = f" ({f['peer_name']})" if f["peer_name"] else ""
        lines.append(f"| {f['title']} | {f['ours']:.4g} {f['unit']} | {peer}{who} | {ratio} | "
                     f"{f['goal_text']} | {verdict} |")
    return "\n".join(lines)


def bench_command(as_json: bool = False, quick: bool = False, only: list[str] | None = None) -> int:
    topics: dict[str, dict] = {}
    figures, errors = run_topics(quick, only, topics)
    report = {
        "machine": machine(),
        "quick": quick,
        "topics": topics,
        "figures": [f.to_dict() for f in figures],
        "errors": errors,
    }
    if as_json:
        print(json.dumps(report, indent=2))
    else:
        print(format_table(figures))
        for e in errors:
            print(f"error: {e}")
    return 1 if errors else 0
