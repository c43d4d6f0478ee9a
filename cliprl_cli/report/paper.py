"""The two papers' published numbers the report sets beside ours.

Kept apart from the code that reads artifacts and draws tables so that a reader can check them against the papers
in one place. Nothing here is computed: every value is copied from the paper it names.
"""

from __future__ import annotations

import re

CLIP_RL_PAPER = ("CLIP-RL (arXiv 2512.01616) reports about 50% fewer training steps than Algorithm 1 (language-only "
                 "transfer) on average, i.e. a clip/language ratio of about 0.5, with the gain growing with grid "
                 "size (8, 10, 15, 25; 10 trials). The text gives no per-size numbers.")
CLIP_RL_PAPER_RATIO = 0.5
PAPER_GRID_SIZES = (8, 10, 15, 25)

# FuRL (ICML 2024) Table 1: MT10, sparse reward, fixed goal, success (%) at the last step of the evaluation
# episodes, mean over 5 seeds after 1e6 steps. Columns: SAC, VLM-RMs, VLM-RMs-GB, LIV, LIV-Proj, Relay,
# FuRL w/o goal-image, FuRL.
FURL_PAPER_COLUMNS = ("sac", "vlm-rm", "vlm-rm-gb", "vlm", "vlm-proj", "relay", "furl-no-goal", "furl")
FURL_PAPER_COLUMN_NAMES = {"sac": "SAC", "vlm-rm": "VLM-RMs", "vlm-rm-gb": "VLM-RMs-GB", "vlm": "LIV",
                           "vlm-proj": "LIV-Proj", "relay": "Relay", "furl-no-goal": "FuRL w/o goal-image",
                           "furl": "FuRL"}
FURL_PAPER_TABLE1 = {
    "button-press-topdown": (0, 0, 0, 0, 0, 60, 80, 100),
    "door-open": (50, 0, 0, 0, 0, 80, 100, 100),
    "drawer-close": (100, 0, 0, 100, 100, 100, 100, 100),
    "drawer-open": (20, 0, 0, 0, 0, 40, 80, 80),
    "peg-insert-side": (0, 0, 0, 0, 0, 0, 0, 0),
    "pick-place": (0, 0, 0, 0, 0, 0, 0, 0),
    "push": (0, 0, 0, 0, 0, 0, 40, 80),
    "reach": (60, 0, 0, 80, 80, 100, 100, 100),
    "window-close": (60, 0, 0, 60, 40, 80, 100, 100),
    "window-open": (80, 0, 0, 40, 20, 80, 100, 100),
}
FURL_PAPER_AVERAGE = dict(zip(FURL_PAPER_COLUMNS, (37.0, 0.0, 0.0, 28.0, 24.0, 54.0, 70.0, 76.0)))
FURL_PAPER_NOTE = ("FuRL paper Table 1: MT10, sparse reward, fixed goal, success (%) at the last step, mean of 5 "
                   "seeds after 1e6 env steps, Meta-World v2 tasks, LIV as the VLM (its 'LIV' and 'LIV-Proj' "
                   "columns are our 'vlm' and 'vlm-proj' variants).")


def furl_paper_success(task: str, variant: str) -> float | None:
    """The FuRL paper's Table 1 success (%) for ``task`` (v2 or v3 name) and our ``variant``, or None.

    The paper used Meta-World v2 task names; our runs use v3, so the version suffix is dropped before the lookup.
    """
    base = re.sub(r"-v\d+$", "", task)
    row = FURL_PAPER_TABLE1.get(base)
    if row is None or variant not in FURL_PAPER_COLUMNS:
        return None
    return float(row[FURL_PAPER_COLUMNS.index(variant)])
