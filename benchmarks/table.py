"""Print a `gpuviz bench --json` report as the README's Markdown table: `python benchmarks/table.py report.json`."""

import json
import sys

from gpuviz_app.bench.runner import markdown_table

if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(markdown_table(json.load(f)))
