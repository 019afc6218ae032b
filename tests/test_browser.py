"""The built book as a reader gets it, in headless Chromium, with no network.

Builds the book into a temporary folder, serves it on 127.0.0.1 and visits
every page: no console errors, no request leaves 127.0.0.1, maths rendered by
MathJax, every figure loaded, each chapter's widget switches the visible
figure in the browser (no kernel), and the claims ledger lists every claim
with the verdict glued in its chapter. Screenshots go to
``$LANDSCAPE_SCREENSHOTS`` (default: a temporary folder).

Needs Debian's ``chromium``; skipped without it, unless
``LANDSCAPE_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import functools
import http.server
import os
import re
import shutil
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from landscape.chapters import CHAPTERS
from landscape.publishing.notebooks import glued

pytestmark = pytest.mark.chapters
REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MATH_PAGES = {"book/intro", "book/template"}  # pages that must show rendered maths
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]

if CHROMIUM is None:
    if os.environ.get("LANDSCAPE_REQUIRE_BROWSER") == "1":
        raise RuntimeError("LANDSCAPE_REQUIRE_BROWSER=1 but chromium is not installed (apt-get install chromium)")
    pytest.skip("chromium is not installed (apt-get install chromium)", allow_module_level=True)


def _toc_pages() -> list[str]:
    import yaml

    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                pages.append(str(node["file"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc.get("parts", toc.get("chapters", [])))
    return pages


@pytest.fixture(scope="module")
def site(built_book):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory):
    folder = Path(os.environ.get("LANDSCAPE_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _visit(browser, url):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    log = {"console": [], "outside": [], "failed": []}
    page.on("console", lambda m: log["console"].append(m.text) if m.type == "error" else None)
    page.on("request", lambda r: log["outside"].append(r.url) if urlparse(r.url).hostname not in ("127.0.0.1", None) and not r.url.startswith("data:") else None)
    page.on("requestfailed", lambda r: log["failed"].append(r.url))
    page.on("response", lambda r: log["failed"].append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    return page, log


@pytest.mark.parametrize("doc", _toc_pages())
def test_page_renders_offline(site, browser, doc):
    page, log = _visit(browser, f"{site}/{doc}.html")
    try:
        assert log["outside"] == [], f"requests leaving 127.0.0.1: {log['outside']}"
        assert log["failed"] == [], f"failed requests: {log['failed']}"
        assert log["console"] == [], f"console errors: {log['console']}"
        # maths: MathJax rendered every formula, no raw TeX left in the text
        text = page.inner_text("article")
        assert "$$" not in text and "\\(" not in text and "\\[" not in text
        if doc in MATH_PAGES:
            assert page.locator("div.math, span.math").count() > 0, "this page should have maths"
        if page.locator("div.math, span.math").count():
            page.wait_for_selector("mjx-container", state="attached", timeout=15000)
            assert page.locator("mjx-container").count() >= page.locator("div.math, span.math").count()
        # figures: every image loaded
        broken = page.evaluate("Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src.slice(0, 80))")
        assert broken == [], f"images not loaded: {broken}"
    finally:
        page.close()


def _visible_figure(page) -> str:
    return page.evaluate("""() => {
        const imgs = Array.from(document.querySelectorAll('.widget-output img, .jupyter-widgets img'));
        const shown = imgs.filter(i => i.offsetParent !== null && i.getBoundingClientRect().height > 0);
        return shown.map(i => i.src.slice(-64)).join('|');
    }""")


TOC_CHAPTERS = [c for c, nb in CHAPTERS.items() if Path(nb).with_suffix("").as_posix() in _toc_pages()]


@pytest.mark.parametrize("chapter", TOC_CHAPTERS)
def test_chapter_has_figures_and_a_working_widget(site, browser, shots, chapter):
    page, log = _visit(browser, f"{site}/{Path(CHAPTERS[chapter]).with_suffix('').as_posix()}.html")
    try:
        assert page.locator("article img").count() >= 1, "no figure on the page"
        page.wait_for_selector(".jupyter-widgets select, .jupyter-widgets .slider", timeout=15000)
        control = page.locator(".jupyter-widgets select").first
        before = _visible_figure(page)
        assert before, "the widget shows no figure"
        if control.count():
            control.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / f"{chapter}-widget-before.png"))
            options = control.locator("option").all_inner_texts()
            assert len(options) >= 2, "the widget offers a single choice"
            control.select_option(index=1)
        else:
            slider = page.locator(".jupyter-widgets .slider").first
            slider.scroll_into_view_if_needed()
            page.screenshot(path=str(shots / f"{chapter}-widget-before.png"))
            handle = page.locator(".jupyter-widgets .noUi-handle").first  # ipywidgets 8 sliders are noUiSlider
            (handle if handle.count() else slider).focus()
            page.keyboard.press("ArrowRight")
        page.wait_for_timeout(300)
        after = _visible_figure(page)
        page.screenshot(path=str(shots / f"{chapter}-widget-after.png"))
        assert after and after != before, "changing the control did not change the visible figure"
    finally:
        page.close()


def test_ledger_lists_every_claim_with_its_chapter_verdict(site, browser, shots):
    page, _ = _visit(browser, f"{site}/book/claims.html")
    try:
        page.screenshot(path=str(shots / "ledger.png"), full_page=True)
        rows = page.evaluate("""() => Array.from(document.querySelectorAll('table.landscape-ledger tbody tr'))
            .map(tr => Array.from(tr.querySelectorAll('td')).map(td => td.innerText.trim()))""")
        shown = {r[0]: r[1] for r in rows}  # columns: id, verdict, [v1,] claim, measured, rule, chapter, ...
        expected, v1 = {}, {}
        for chapter in TOC_CHAPTERS:
            for k, v in glued(REPO / CHAPTERS[chapter]).items():
                m = re.fullmatch(r"claim-(\d+\.\d+)-(v1-)?verdict", k)
                if m:
                    (v1 if m[2] else expected)[m[1]] = v
        assert expected, "no chapter has claims"
        assert shown == expected
        if v1:                                   # a chapter decided by the v2 rules shows its v1 verdicts beside
            assert {r[0]: r[2] for r in rows if r[0] in v1} == v1
    finally:
        page.close()
