"""Options that several commands share, defined once (help text, flags, metavar)."""

from __future__ import annotations

from typing import Any

import typer
import typer.core

FLAG = " "  # the metavar of an on/off flag: it takes no value (Typer would print "<bool>")


def quiet_option(**kw: Any) -> Any:
    return typer.Option(False, "--quiet", "-q", help="No progress output.", metavar=FLAG, **kw)


# rich reads "[tensorboard]" as markup and prints "pip install 'cliprl'": escape it where rich draws the help
_EXTRA = "cliprl\\[tensorboard]" if typer.core.HAS_RICH else "cliprl[tensorboard]"


TENSORBOARD_HELP = (f"Also write the learning curves as TensorBoard scalars under DIR once the run has finished "
                    f"(needs: pip install '{_EXTRA}'); keep DIR outside DVC-tracked outputs.")


def tensorboard_option(**kw: Any) -> Any:
    return typer.Option(None, "--tensorboard", metavar="DIR", help=TENSORBOARD_HELP, **kw)
