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

# FuRL paper Table 3 (Section 5.5): the same setting with CLIP as the VLM; per task, success (%) and its std over 5
# seeds. "CLIP" is the SAC agent with task reward + rho x zero-shot CLIP reward (our `vlm` variant), "CLIP-FuRL" is
# FuRL on CLIP (our `furl`). The paper ran no other variant with CLIP.
FURL_PAPER_TABLE3_COLUMNS = ("vlm", "furl")
FURL_PAPER_TABLE3_COLUMN_NAMES = {"vlm": "CLIP", "furl": "CLIP-FuRL"}
FURL_PAPER_TABLE3 = {
    "button-press-topdown": ((0, 0), (80, 40)),
    "door-open": ((60, 49), (100, 0)),
    "drawer-close": ((100, 0), (100, 0)),
    "drawer-open": ((0, 0), (80, 40)),
    "peg-insert-side": ((0, 0), (0, 0)),
    "pick-place": ((0, 0), (0, 0)),
    "push": ((0, 0), (60, 49)),
    "reach": ((80, 40), (100, 0)),
    "window-close": ((60, 49), (100, 0)),
    "window-open": ((80, 40), (80, 40)),
}
FURL_PAPER_TABLE3_AVERAGE = {"vlm": 38.0, "furl": 70.0}
FURL_PAPER_TABLE3_NOTE = ("FuRL paper Table 3: the same MT10 fixed-goal setting with CLIP as the VLM: 'CLIP' (our "
                          "'vlm' variant) and 'CLIP-FuRL' (our 'furl'); no other variant was run with CLIP.")


def vlm_family(vlm: str | None) -> str | None:
    """The paper table a run's VLM belongs with: ``"liv"`` (Table 1) for LIV, ``"clip"`` (Table 3) for every other
    open_clip model (CLIP and the tiny random-weight stand-in), None for a run without a VLM (``sac``).

    ``vlm`` is the run's VLM identity (``"<model>|<weights>..."``, from config.json) or a model name.
    """
    if not vlm:
        return None
    return "liv" if vlm.split("|", 1)[0] == "liv" else "clip"


def furl_paper_reference(task: str, variant: str, family: str | None) -> tuple[float | None, str | None]:
    """``(success %, "Table 1" | "Table 3")``: the paper's number to set beside a run of ``variant`` on ``task``
    with a VLM of ``family`` (:func:`vlm_family`); ``(None, None)`` when the paper has none.

    LIV runs and runs without a VLM (``sac``) compare with Table 1; CLIP runs with Table 3, which has only the
    ``vlm`` and ``furl`` variants: a CLIP run of another VLM variant has no reference (Table 1's numbers are LIV's).
    """
    base = re.sub(r"-v\d+$", "", task)
    if family == "clip" and variant != "sac":
        row = FURL_PAPER_TABLE3.get(base)
        if row is None or variant not in FURL_PAPER_TABLE3_COLUMNS:
            return None, None
        return float(row[FURL_PAPER_TABLE3_COLUMNS.index(variant)][0]), "Table 3"
    value = furl_paper_success(task, variant)
    return (value, "Table 1") if value is not None else (None, None)


def furl_paper_average(variant: str, table: str | None) -> float | None:
    """The paper's MT10 average for ``variant`` in ``table`` ("Table 1" or "Table 3"), or None."""
    if table == "Table 3":
        return FURL_PAPER_TABLE3_AVERAGE.get(variant)
    return FURL_PAPER_AVERAGE.get(variant) if table == "Table 1" else None


def furl_paper_success(task: str, variant: str) -> float | None:
    """The FuRL paper's Table 1 success (%) for ``task`` (v2 or v3 name) and our ``variant``, or None.

    The paper used Meta-World v2 task names; our runs use v3, so the version suffix is dropped before the lookup.
    """
    base = re.sub(r"-v\d+$", "", task)
    row = FURL_PAPER_TABLE1.get(base)
    if row is None or variant not in FURL_PAPER_COLUMNS:
        return None
    return float(row[FURL_PAPER_COLUMNS.index(variant)])
