"""`python -m pneumoviewer` → the CLI."""

from __future__ import annotations

import sys

from pneumoviewer.cli import main

if __name__ == "__main__":
    sys.exit(main())
