"""The report's first screen: one verdict per question, computed from the runs, with its interval and the paper's
claim beside it, marked evidence or not by its run count; and one colour per method in every figure."""

from __future__ import annotations

import pytest
from test_report import PARAMS, make_artifacts

from cliprl_cli.report import build_report
from cliprl_cli.report.collect import RatioRow, TransferRow, TransferSection
from cliprl_cli.report.palette import METHOD_COLOURS, VARIANT_COLOURS, method_colour
from cliprl_cli.report.verdicts import (EVIDENCE, NOT_EVIDENCE, clip_rl_verdicts, estimate_text, furl_verdicts,
                                        read_ratio)


def test_estimate_text_gives_no_interval_below_three_runs():
    assert estimate_text(3.6071, (2.8, 4.6667), 10) == "3.61 [2.80, 4.67]"
    assert estimate_text(3.6071, (3.6, 3.6), 2) == "3.61 (n = 2: no interval)"
    assert estimate_text(1.0, None, 5) == "1.00 (no interval)"
    assert estimate_text(12.0, (-3.0, 30.0), 5, digits=0, unit=" points") == "12 points [-3, 30]"


@pytest.mark.parametrize("ci, words", [
    ((2.8, 4.67), "slower than Algorithm 1: the paper's claim does not reproduce"),
    ((0.45, 0.79), "faster than Algorithm 1, as much as the paper claims"),
    ((0.6, 0.9), "faster than Algorithm 1, but by less than the paper's half"),
    ((0.2, 0.4), "by more than the paper claims"),
    ((0.7, 1.3), "no clear difference"),
])
def test_ratio_is_read_against_its_interval_and_the_claim(ci, words):
    assert words in read_ratio(sum(ci) / 2, ci, 10)


def test_ratio_without_interval_says_point_estimate_only():
    assert read_ratio(3.0, (1.0, 5.0), 2).startswith("point estimate only: CLIP-RL took more steps")


def _section(n: int, ratio: float, ci) -> TransferSection:
    rows = [TransferRow(8, m, n, 0, 1000.0, 1000.0, 1000.0, (900.0, 1100.0), 10**6) for m in ("clip", "language")]
    return TransferSection(rows, [RatioRow(8, ratio, ci)], {}, {})


def test_clip_rl_verdict_is_evidence_only_at_the_papers_trial_count():
    full, = clip_rl_verdicts(_section(10, 3.61, (2.8, 4.67)))
    assert full.status == EVIDENCE and full.ours == "3.61 [2.80, 4.67]" and "about 0.5" in full.paper
    assert full.question.startswith("CLIP-RL vs Algorithm 1, 8x8")
    smoke, = clip_rl_verdicts(_section(2, 3.5, (1.8, 5.5)))
    assert smoke.status == NOT_EVIDENCE and smoke.ours == "3.50 (n = 2: no interval)"


def test_report_leads_with_the_answers_and_ends_with_provenance_once(tmp_path):
    data = build_report(make_artifacts(tmp_path / "a"), tmp_path / "r", params=PARAMS, plots=False)
    v = {x["question"]: x for x in data["verdicts"]}
    clip = v["CLIP-RL vs Algorithm 1, 5x5: steps to convergence, clip / language"]
    # test_report's trials: clip 1000/1500/2000, language 2000 x3 -> ratio 0.75 (3 trials: an interval, no evidence)
    assert clip["ours"].startswith("0.75 [") and clip["status"] == NOT_EVIDENCE
    furl = v["FuRL vs SAC, reach-v3: success at the last step, FuRL minus SAC"]
    assert furl["status"] == "random-weight VLM: not evidence" and "(2 seed(s))" in furl["ours"]
    assert "FuRL 100% vs SAC 60%" in furl["paper"]
    md = (tmp_path / "r" / "report.md").read_text()
    assert md.index("## Answers") < md.index("## CLIP-RL: policy transfer") < md.index("## Missing or incomplete") \
        < md.index("## Provenance")
    assert md.count("Profile: test profile") == 1 and md.count("**Parameters:**") == 1
    html = (tmp_path / "r" / "report.html").read_text()
    assert html.index("id='answers'") < html.index("<h2>CLIP-RL: policy transfer") < html.index("id='provenance'")
    assert html.count("Profile: test profile") == 1 and html.count("<dt>Parameters</dt>") == 1
    assert "class='v smoke'" in html and "smoke scale: not evidence" in html


def test_furl_verdict_interval_over_seeds():
    class P:  # a final evaluation point
        def __init__(self, s):
            self.success_last = s

    class R:
        def __init__(self, variant, s, steps=1_000_000, random_vlm=False):
            self.task, self.variant, self.final, self.steps, self.random_vlm = "push-v3", variant, P(s), steps, \
                random_vlm

    class F:
        runs = [R("furl", s) for s in (0.8, 1.0, 0.6, 0.8, 0.8)] + [R("sac", s) for s in (0, 0.2, 0, 0, 0.2)]

    out, = furl_verdicts(F)
    assert out.status == EVIDENCE and out.ours.startswith("72 points [") and out.reading == "FuRL ahead of SAC"
    assert "FuRL 80% vs SAC 0% (+80 points)" == out.paper


def test_one_colour_per_method_in_one_place():
    assert len(set(METHOD_COLOURS.values())) == len(METHOD_COLOURS)
    assert method_colour("clip") == METHOD_COLOURS["clip"] and method_colour("furl") == VARIANT_COLOURS["furl"]
    assert method_colour("nearest-language") != method_colour("nearest-clip")
    assert method_colour("something-new") == method_colour("something-new")
