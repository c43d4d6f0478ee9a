"""The report's HTML on any screen and its provenance block (issue 16).

Static checks always run: the viewport meta tag, every table in its own scrolling box, the provenance block (commit,
date, profile, parameters that differ from the committed params file: the build's part in provenance.js, filled in
when the page is viewed, so the DVC-hashed page is byte-stable), the note on coinciding transfer methods, the
figures' axis labels. When Debian's ``chromium`` is installed the page is also laid out in headless Chromium at
390 px (a phone) and 1280 px (a desktop) and measured there: the page never scrolls sideways, wide tables scroll in
their own box, no figure is wider than the page, and the base-curve figure keeps most of its size on a phone.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from test_report import make_artifacts

from cliprl_cli.store.formats import TransferResults, TransferTrial
from cliprl_cli.report import build_report
from cliprl_cli.report.collect import coinciding_methods
from cliprl_cli.report.provenance import collect_provenance, flatten, param_changes

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

PARAMS = {"profile": {"name": "test profile", "note": "hand-made artifacts"},
          "train_base": {"grid_sizes": [5], "tasks": ["top-left-first", "top-right-first"]},
          "align": {"temperature": 0.1, "head": "mlp"},
          "transfer": {"target": "top left third", "methods": "scratch,language,clip", "trials": 3}}


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "-c", "user.email=t@example.org", "-c", "user.name=t", *args], cwd=repo,
                          check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def experiment(tmp_path):
    """A git repository whose committed params.yaml is PARAMS, then edited the way `dvc exp run -S` edits it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    params = repo / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    _git(repo, "add", "params.yaml")
    _git(repo, "commit", "-q", "-m", "baseline")
    changed = json.loads(json.dumps(PARAMS))
    changed["align"]["temperature"] = 0.2
    changed["transfer"]["methods"] = "scratch,language,clip,uniform"
    del changed["align"]["head"]
    params.write_text(yaml.safe_dump(changed, sort_keys=False))
    return repo, params


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    params = root / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS, sort_keys=False))
    build_report(make_artifacts(root / "artifacts"), root / "out", params=params)
    return root / "out"


# ------------------------------------------------------------------------------------------------ static checks
def test_html_has_a_viewport_and_every_table_scrolls_in_its_own_box(report):
    page = (report / "report.html").read_text()
    assert "<meta name='viewport' content='width=device-width, initial-scale=1'>" in page
    tables = page.count("<table>")
    assert tables >= 5 and page.count("<div class='scroll'><table>") == tables
    assert "overflow-x:auto" in page and "img{max-width:100%;height:auto}" in page
    assert "@media (max-width:600px)" in page


def test_param_changes_by_hand():
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": "x"}) == {"a.b": 1, "a.c.d": [1, 2], "e": "x"}
    changes = param_changes({"a": {"b": 2, "c": 3}, "e": [1, 2]}, {"a": {"b": 1, "c": 3}, "e": [1, 2], "f": 0})
    assert [(c.key, c.default, c.value) for c in changes] == [("a.b", 1, 2), ("f", 0, None)]
    assert param_changes(PARAMS, PARAMS) == []


def test_provenance_lists_the_parameters_an_experiment_changed(experiment, monkeypatch):
    repo, params = experiment
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    p = collect_provenance(yaml.safe_load(params.read_text()), params)
    assert p.commit == _git(repo, "rev-parse", "--short=12", "HEAD")
    assert p.commit_date == _git(repo, "show", "-s", "--format=%cs", "HEAD")
    assert p.dirty == ["params.yaml"] and p.built == "2023-11-14 22:13 UTC" and p.profile == "test profile"
    assert [(c.key, c.default, c.value) for c in p.changes] == [
        ("align.temperature", 0.1, 0.2), ("transfer.methods", "scratch,language,clip", "scratch,language,clip,uniform"),
        ("align.head", "mlp", None)]


def test_provenance_block_in_markdown_and_html(experiment, tmp_path):
    """The hashed report holds only what its inputs determine (profile, params file, every parameter); the build's
    commit, date and changed parameters go to provenance.js and run.json beside it (issue 16)."""
    repo, params = experiment
    build_report(make_artifacts(tmp_path / "artifacts"), tmp_path / "out", params=params)
    md = (tmp_path / "out" / "report.md").read_text()
    commit = _git(repo, "rev-parse", "--short=12", "HEAD")
    assert md.count("**Profile: test profile.**") == 1 and "| `align.temperature` | `0.2` |" in md
    assert commit not in md and "run.json" in md
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<div class='prov' id='provenance'>" in page and "<script src='provenance.js'></script>" in page
    assert commit not in page and not re.search(r"\d\d:\d\d UTC", page)
    script = (tmp_path / "out" / "provenance.js").read_text()
    assert f"commit {commit} of " in script and "with uncommitted changes to params.yaml" in script
    assert "3 differ from params.yaml as committed at HEAD" in script and '"align.head"' in script
    run = json.loads((tmp_path / "out" / "run.json").read_text())["provenance"]
    assert run["commit"] == commit and ["align.temperature", "0.1", "0.2"] in run["changes"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", run["built"])


def test_report_bytes_do_not_depend_on_the_commit_or_the_date(experiment, tmp_path, monkeypatch):
    """Two builds from the same inputs, at another commit and another date, give byte-identical hashed files."""
    repo, params = experiment
    art = make_artifacts(tmp_path / "artifacts")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    build_report(art, tmp_path / "a", params=params)
    _git(repo, "commit", "-q", "-am", "the experiment")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")
    build_report(art, tmp_path / "b", params=params)
    hashed = ["report.md", "report.html", *(f"metrics/{f}" for f in ("align.json", "transfer.json", "furl.json",
                                                                     "report.json", "answers.json"))]
    hashed += [f"plots/{p.name}" for p in (tmp_path / "a" / "plots").glob("*.png")]
    for name in hashed:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a" / "provenance.js").read_text() != (tmp_path / "b" / "provenance.js").read_text()


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
def test_provenance_is_filled_in_when_the_page_is_viewed(experiment, tmp_path):
    repo, params = experiment
    build_report(make_artifacts(tmp_path / "artifacts"), tmp_path / "out", params=params)
    commit = _git(repo, "rev-parse", "--short=12", "HEAD")
    page = tmp_path / "out" / "report.html"
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    block = dom[dom.index("id=\"prov-build\""):]
    block = block[:block.index("</div></div>") if "</div></div>" in block else 4000]
    assert f"commit {commit} of " in block and "<code>align.temperature</code>" in block
    (tmp_path / "out" / "provenance.js").unlink()  # viewed alone: the block says where the build's part is
    dom = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000",
                          "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert "in run.json beside this report" in dom and f"commit {commit}" not in dom


def test_provenance_without_a_committed_baseline(tmp_path):
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump(PARAMS))
    p = collect_provenance(PARAMS, params)  # tmp_path is not a git repository
    assert p.commit is None and p.changes == [] and "not in a git repository" in p.baseline_note
    p = collect_provenance(PARAMS, None)
    assert "no params file was given" in p.baseline_note


def _trial(method: str, k: int, steps: int, weights: dict | None) -> TransferTrial:
    return TransferTrial(method=method, trial=k, seed=k, env_steps=steps, censored=False, auc=0.5, wall_time_s=1.0,
                         initial_success_rate=0.2, weights=weights, weighting_note="")


def test_coinciding_methods_are_found_and_explained(tmp_path):
    one = {"a": 1.0, "b": 0.0}
    by_method = {"scratch": [_trial("scratch", k, 900, None) for k in range(2)],
                 "language": [_trial("language", k, 500, {"a": 0.6, "b": 0.4}) for k in range(2)],
                 "nearest-language": [_trial("nearest-language", k, 700 + k, one) for k in range(2)],
                 "nearest-clip": [_trial("nearest-clip", k, 700 + k, one) for k in range(2)]}
    found = coinciding_methods(8, by_method)
    assert [(c.methods, c.sources, c.identical) for c in found] == [(("nearest-language", "nearest-clip"),
                                                                      ("a",), True)]
    by_method["nearest-clip"][1] = _trial("nearest-clip", 1, 999, one)
    assert not coinciding_methods(8, by_method)[0].identical
    by_method["nearest-clip"][1] = _trial("nearest-clip", 1, 701, {"a": 0.0, "b": 1.0})
    assert coinciding_methods(8, by_method) == []

    root = make_artifacts(tmp_path / "artifacts")
    path = root / "transfer" / "5" / "results.json"
    res = TransferResults.read(path)
    res.trials += [_trial(m, k, 1000 + k, {"top left first": 1.0, "top right first": 0.0})
                   for m in ("nearest-language", "nearest-clip") for k in range(3)]
    res.write(path)
    data = build_report(root, tmp_path / "out")
    md = (tmp_path / "out" / "report.md").read_text()
    note = ("> **Note:** nearest-language and nearest-clip coincide at 5x5: every trial of both started from the base "
            "policy of 'top left first' alone.")
    assert note in md and "so the runs, and their rows, are identical." in md
    assert md.index(note) < md.index("### CLIP-RL: env steps to convergence")
    assert data["transfer"]["coincident"][-1]["methods"] == ("nearest-language", "nearest-clip")


def test_figures_label_axes_in_words_and_draw_losses_on_a_log_axis(report):
    from cliprl_cli.report import plots

    source = Path(plots.__file__).read_text()
    for raw in ("success_last", "success_any"):
        assert f'set_ylabel(f"{{{raw}' not in source and f"set_ylabel({raw!r}" not in source
    assert plots.AXIS_LABELS["success_last"] == "success rate at the last step"
    assert 'ax.set_yscale("log")' in source
    names = {p.name for p in (report / "plots").glob("*.png")}
    assert {"base_curves.png", "align_loss.png"} <= names


# ----------------------------------------------------------------------------------------------- headless Chromium
# Headless Chromium will not make a window narrower than 500 px (a 390 px screenshot is a crop of a 500 px layout),
# so the page is laid out in an iframe exactly `width` px wide, whose viewport the media queries then see; the
# page measures itself on load and posts the numbers to the wrapper, which --dump-dom prints.
_MEASURE = """<script>window.addEventListener('load', () => {
  const root = document.documentElement, box = document.body.getBoundingClientRect();
  parent.postMessage(JSON.stringify({inner: window.innerWidth, page: root.scrollWidth, body: box.width,
    boxes: [...document.querySelectorAll('.scroll')].map(d => [d.scrollWidth, d.clientWidth]),
    imgs: [...document.querySelectorAll('img')].map(i => [i.alt, i.getBoundingClientRect().width, i.naturalWidth])
  }), '*');
});</script></body>"""
_WRAPPER = """<!DOCTYPE html><html><body style='margin:0'>
<iframe src='{src}' style='width:{width}px;height:2000px;border:0'></iframe><script>
window.addEventListener('message', e => {{
  const pre = document.createElement('pre'); pre.id = 'measure'; pre.textContent = e.data;
  document.body.appendChild(pre);
}});</script></body></html>"""


def _measure(page: Path, width: int, tmp_path: Path) -> dict:
    probe = tmp_path / f"probe-{width}.html"
    probe.write_text(page.read_text().replace("</body>", _MEASURE))
    wrapper = tmp_path / f"wrapper-{width}.html"
    wrapper.write_text(_WRAPPER.format(src=probe.name, width=width))
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                             f"--window-size={width + 200},2100", "--virtual-time-budget=10000", "--dump-dom",
                             wrapper.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r"<pre id=\"measure\">(.*?)</pre>", result.stdout, re.S)
    assert found, f"chromium printed no measurement (exit {result.returncode}): {result.stderr[-500:]}"
    return json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
@pytest.mark.parametrize("width", [390, 1280])
def test_page_fits_the_screen_in_headless_chromium(report, tmp_path, width):
    m = _measure(report / "report.html", width, tmp_path)
    assert m["inner"] == width
    assert m["page"] <= width, f"the page scrolls sideways at {width} px ({m['page']} px wide)"
    assert all(client <= width for _, client in m["boxes"])
    assert m["imgs"] and all(0 < shown <= min(m["body"], natural) + 0.5 for _, shown, natural in m["imgs"])
    if width == 390:
        assert any(scroll > client for scroll, client in m["boxes"]), "no wide table scrolls in its box on a phone"
        base = next(i for i in m["imgs"] if i[0].startswith("Base-policy learning curves"))
        assert base[1] / base[2] >= 0.65, f"base-curve figure shrunk to {base[1] / base[2]:.2f} of its size"
    else:
        assert m["body"] <= 1100 + 2 * 16  # max-width plus 1em padding each side
        assert all(scroll <= client for scroll, client in m["boxes"]), "a table scrolls on a desktop"
