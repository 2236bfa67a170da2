"""`gpuviz inspect`: what the loader finds, or one line saying why it refuses."""

from __future__ import annotations

import json
import sys
from typing import Sequence

from gpuviz_app.data.dataset import DatasetError
from gpuviz_app.data.open import load_dataset


def inspect_command(paths: Sequence[str], as_json: bool = False) -> int:
    try:
        dataset = load_dataset(paths if len(paths) > 1 else paths[0])
    except DatasetError as exc:
        print(f"error: {exc.path}: {exc.reason}", file=sys.stderr)
        return 2
    info = dataset.describe()
    if as_json:
        print(json.dumps(info, indent=2))
        return 0
    print(f"{info['name']}  ({info['source']})")
    print(f"  samples   {info['samples']}")
    print(f"  shape     {tuple(info['shape'])}  {info['dtype']}  ({info['kind']})")
    counts = ", ".join(f"{n}: {c}" for n, c in zip(info["class_names"], info["class_counts"]))
    print(f"  classes   {info['classes']}  ({counts})")
    print(f"  skipped   {info['skipped']}")
    for w in info["warnings"]:
        print(f"  warning   {w}")
    return 0
