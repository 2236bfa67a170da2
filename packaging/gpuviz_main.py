"""The bundle's entry point: the `gpuviz` command, exactly as the console script runs it."""

import multiprocessing
import sys

from gpuviz_app.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen child process must not start another gpuviz
    sys.exit(main())
