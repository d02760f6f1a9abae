"""report.html in a real browser (headless Chromium, when the machine has one; skipped otherwise): it renders, nothing
overflows horizontally at 1400 px, and every image loads."""

import html
import json
import re
import shutil
import subprocess

import pytest

from tests.report.results_folders import make_results_folder
from tipsomaly.report import build_report

BROWSER = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None)
pytestmark = pytest.mark.skipif(BROWSER is None, reason="no headless Chromium on this machine (apt-get install chromium)")

CHECK = """<script>window.addEventListener('load', () => {
  const images = [...document.images], root = document.documentElement;
  document.body.setAttribute('data-check', JSON.stringify({scroll: root.scrollWidth, client: root.clientWidth,
    images: images.length, broken: images.filter(i => !i.complete || i.naturalWidth === 0).length,
    tables: document.querySelectorAll('table').length}));
});</script>"""


def _measure(page, tmp_path) -> dict:
    """Load the page at 1400 px with the check script; returns what it measured."""
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", CHECK + "</body>"))
    done = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1400,1000",
                           "--virtual-time-budget=5000", "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120)
    found = re.search(r'data-check="([^"]*)"', done.stdout)
    assert found, f"the page did not finish loading in Chromium: {done.stderr[-500:]}"
    return json.loads(html.unescape(found.group(1)))


def test_the_report_renders_without_horizontal_overflow_and_every_image_loads(tmp_path):
    long = "a_rather_long_results_folder_name_from_a_sweep_" * 3
    folders = [make_results_folder(tmp_path / f"{long}{n}", {"visa": {"candle": 0.5 + n / 40, "pcb1": 0.7}, "sdd": {"sdd": 0.8},
                                                            "mvtec": {"bottle": 0.6}},
                                   {"model": {"n_prompt": n, "sigma": 4.0, "few_shot": {"seed": n % 2}},
                                    "data": {"test_sets": [{"name": "visa", "root": f"/very/long/data/root/{'x' * 120}"}]}})
               for n in (4, 8, 12, 16)]
    page = build_report(folders, tmp_path / "report")[0].read_text()
    seen = _measure(page, tmp_path)
    assert seen["images"] == 4 * 4 and seen["broken"] == 0  # one overlay per run and class
    assert seen["tables"] >= 7
    assert seen["scroll"] <= seen["client"], f"the page is {seen['scroll']} px wide in a {seen['client']} px window"


def test_the_check_itself_sees_overflow_and_a_broken_image(tmp_path):
    page = ("<!DOCTYPE html><html><body><div style='width:3000px'>wide</div>"
            "<img src='data:image/png;base64,bm90IGEgcG5n'></body></html>")
    seen = _measure(page, tmp_path)
    assert seen["scroll"] > seen["client"] and seen["broken"] == 1
