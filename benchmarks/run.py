"""Run the benchmarks from a checkout: `python benchmarks/run.py [--quick] [--json] [--only TOPIC ...]`.

The same as `gpuviz bench` (through the same entry point, so the allocator is set up as for
`gpuviz`); the measuring code lives in `gpuviz_app/bench/` so that an installed gpuviz can
measure the machine it runs on.
"""

import sys

from gpuviz_app.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
