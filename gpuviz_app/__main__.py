"""`python -m gpuviz_app` behaves exactly like the `gpuviz` command."""

import sys

from gpuviz_app.cli import main

sys.exit(main())
