"""One colour (and marker) per method and FuRL variant, used by every figure of the report.

A reader who learns "clip is red" in one figure can rely on it in every other. Colours are the Okabe-Ito
colour-blind-safe set plus greys; methods that often draw on top of each other get different markers and line styles
as well, so a point or line hidden under another still shows (``nearest-language`` and ``nearest-clip`` copy the same
source policy whenever both rank it first, and then their runs are identical).
"""

from __future__ import annotations

# CLIP-RL transfer methods (as spelled on the command line) and the library-size study's methods.
METHOD_COLOURS = {
    "scratch": "#555555",
    "language": "#0072B2",          # Algorithm 1: blue
    "clip": "#D55E00",              # Algorithm 2 (CLIP-RL): vermilion
    "uniform": "#009E73",           # green
    "nearest-language": "#56B4E9",  # light blue: the language family
    "nearest-clip": "#E69F00",      # orange: the clip family
    "oracle-group": "#CC79A7",      # purple
}
METHOD_MARKERS = {"scratch": "o", "language": "s", "clip": "D", "uniform": "^", "nearest-language": "v",
                  "nearest-clip": "x", "oracle-group": "P"}
METHOD_LINESTYLES = {"nearest-language": (0, (4, 2)), "nearest-clip": (0, (1, 1.5))}

# FuRL variants: SAC grey, the VLM baselines in cool colours, relay and FuRL in warm ones.
VARIANT_COLOURS = {
    "sac": "#555555",
    "vlm-rm": "#56B4E9",
    "vlm-rm-gb": "#0072B2",
    "vlm": "#009E73",
    "vlm-proj": "#8FBF3F",
    "relay": "#CC79A7",
    "furl-no-goal": "#E69F00",
    "furl": "#D55E00",
}
_FALLBACK = ("#000000", "#7F7F7F", "#B15928", "#6A3D9A")


def method_colour(method: str) -> str:
    """The colour of a transfer method or FuRL variant (a fixed fallback, chosen by name, for an unknown one)."""
    if method in METHOD_COLOURS:
        return METHOD_COLOURS[method]
    if method in VARIANT_COLOURS:
        return VARIANT_COLOURS[method]
    return _FALLBACK[sum(map(ord, method)) % len(_FALLBACK)]


def method_marker(method: str) -> str:
    return METHOD_MARKERS.get(method, "o")


def method_linestyle(method: str) -> object:
    return METHOD_LINESTYLES.get(method, "-")
