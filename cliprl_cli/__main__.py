"""``python -m cliprl_cli``: the same program as the ``cliprl`` command (same options, errors and exit codes)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
