"""DVC's own views of the report read without a network: `dvc plots show` lays out the report's PNG figures with
the offline page template of .dvc/plots/ (no script, nothing fetched), and `dvc metrics show` prints the answers in
about 120 columns. The plots page is opened in headless Chromium at 390 and 1280 px with every host unresolvable,
and every figure must be drawn (loaded, non-zero size) and fit the screen."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from test_report import make_artifacts
from test_report_html import CHROMIUM

from cliprl_cli.report import build_report

ROOT = Path(__file__).resolve().parents[1]
DVC = shutil.which("dvc", path=str(Path(sys.executable).parent)) or shutil.which("dvc")


def _declared(section: str) -> list[str]:
    """The report stage's ``plots``/``metrics`` paths in the real dvc.yaml, with ``${paths.artifacts}`` resolved."""
    stage = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["report"]
    paths = [next(iter(e)) if isinstance(e, dict) else e for e in stage.get(section, [])]
    return [p.replace("${paths.artifacts}", "artifacts") for p in paths]


@pytest.fixture(scope="module")
def views(tmp_path_factory):
    """A DVC project holding a built report, with the pipeline's declarations and .dvc/ settings; `dvc plots show`
    written to view/."""
    if DVC is None:
        pytest.skip("dvc is not installed")
    repo = tmp_path_factory.mktemp("views")
    params = {"train_base": {"grid_sizes": [5], "tasks": ["top-left-first", "top-right-first"]},
              "transfer": {"methods": "scratch,language,clip", "trials": 3}}
    build_report(make_artifacts(repo / "artifacts"), repo / "artifacts" / "report", params=params)
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"plots": _declared("plots"), "metrics": _declared("metrics")}))
    subprocess.run([DVC, "init", "-q", "--no-scm"], cwd=repo, check=True)
    shutil.copy2(ROOT / ".dvc" / "config", repo / ".dvc" / "config")  # the plots page template setting
    shutil.copytree(ROOT / ".dvc" / "plots", repo / ".dvc" / "plots")
    proc = subprocess.run([DVC, "plots", "show", "-o", "view"], cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return repo


def test_plots_page_loads_nothing_from_the_network(views):
    page = (views / "view" / "index.html").read_text()
    assert "<script" not in page and "http://" not in page and "https://" not in page
    images = re.findall(r"<img src=\"([^\"]+)\"", page)
    assert images and all((views / "view" / src).is_file() for src in images)
    assert any("transfer_steps.png" in src for src in images)
    assert '<meta name="viewport"' in page


def test_metrics_show_fits_a_terminal(views):
    proc = subprocess.run([DVC, "metrics", "show"], cwd=views, capture_output=True, text=True,
                          env={"COLUMNS": "200", "PATH": str(Path(DVC).parent)})
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert "5x5" in lines[0] and "furl-sac" in lines[0]
    assert max(len(line) for line in lines) <= 120, proc.stdout


_WRAPPER = """<!DOCTYPE html><html><body style='margin:0'>
<iframe src='{src}' style='width:{width}px;height:3000px;border:0'></iframe><script>
window.addEventListener('message', e => {{
  const pre = document.createElement('pre'); pre.id = 'measure'; pre.textContent = e.data;
  document.body.appendChild(pre);
}});</script></body></html>"""
_MEASURE = """<script>window.addEventListener('load', () => {
  parent.postMessage(JSON.stringify({inner: window.innerWidth, page: document.documentElement.scrollWidth,
    imgs: [...document.querySelectorAll('img')].map(i => [i.getBoundingClientRect().width, i.naturalWidth,
                                                          i.complete])}), '*');
});</script></body>"""


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (Debian: apt-get install -y chromium)")
@pytest.mark.parametrize("width", [390, 1280])
def test_plots_page_draws_every_figure_offline(views, width, tmp_path):
    view = views / "view"
    probe = view / f"probe-{width}.html"
    probe.write_text((view / "index.html").read_text().replace("</body>", _MEASURE))
    wrapper = view / f"wrapper-{width}.html"
    wrapper.write_text(_WRAPPER.format(src=probe.name, width=width))
    # the network off: every host name fails to resolve and no proxy is reachable
    result = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                             "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
                             f"--window-size={width + 200},3100", "--virtual-time-budget=10000", "--dump-dom",
                             wrapper.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r"<pre id=\"measure\">(.*?)</pre>", result.stdout, re.S)
    assert found, f"chromium printed no measurement (exit {result.returncode}): {result.stderr[-500:]}"
    m = json.loads(found.group(1).replace("&quot;", '"').replace("&amp;", "&"))
    assert m["inner"] == width and m["page"] <= width, m
    assert m["imgs"] and all(done and natural > 0 and 0 < shown <= width for shown, natural, done in m["imgs"])
