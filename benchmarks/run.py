"""Run the benchmarks from a checkout: `python benchmarks/run.py [--quick] [--json] [--only TOPIC ...]`.

The same as `gpuviz bench`; the measuring code lives in `gpuviz_app/bench/` so that an
installed gpuviz can measure the machine it runs on.
"""

import sys

from gpuviz_app.cli import cmd_bench

if __name__ == "__main__":
    sys.exit(cmd_bench(sys.argv[1:]))
