"""``python -m cliprl_cli``: the same program as the ``cliprl`` command (same options, errors and exit codes)."""

import sys

from .cpu_tuning import pin_numeric_environment

if __name__ == "__main__":
    # Before anything imports torch or NumPy: they read the pins when they load (see cpu_tuning.py).
    pin_numeric_environment()
    from .cli import main

    sys.exit(main())
