"""The built book as a reader gets it, in headless Chromium, with no network.

Builds the book into a temporary folder, serves it on 127.0.0.1 (gzip for text,
as any static host does) and visits every page: no console message of level
error or warning and no uncaught exception (the failure names the page and the
message), no request leaves 127.0.0.1, maths rendered by MathJax, every figure
loaded, shown at its own aspect ratio and with alt text, a chapter page under
:data:`PAGE_BUDGET` bytes transferred, the injected-parameters cell absent and the
parameters cell folded under its summary, each chapter's widget switches the
visible figure in the browser (no kernel), and the claims page opens with the
counts, then lists every claim with the verdict glued in its chapter. A small
synthetic notebook checks that a kernel-only control is disabled on the page, with
its note. Screenshots go to ``$LANDSCAPE_SCREENSHOTS`` (default: a temporary folder).

Needs Debian's ``chromium``; skipped without it, unless
``LANDSCAPE_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import io
import json
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
PAGE_BUDGET = 3_500_000  # bytes a chapter page may transfer (all its requests, text gzip-served)
ASPECT_TOLERANCE = 0.02  # shown width/height against the PNG's own, relative
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


CHAPTER_PAGES = {Path(nb).with_suffix("").as_posix() for nb in CHAPTERS.values()}


@pytest.fixture(scope="module")
def site(built_book):
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    """A static server that gzips text when the browser asks, as a real host does."""

    TEXT = (".html", ".js", ".css", ".json", ".svg", ".txt", ".inv")

    def log_message(self, *args):
        pass

    def send_head(self):
        path = self.translate_path(self.path)
        if not (path.endswith(self.TEXT) and os.path.isfile(path) and "gzip" in self.headers.get("Accept-Encoding", "")):
            return super().send_head()
        with open(path, "rb") as f:
            data = gzip.compress(f.read(), 6)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(path))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        return io.BytesIO(data)


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
    log = {"console": [], "outside": [], "failed": [], "bytes": 0}
    page.on("console", lambda m: log["console"].append(f"{m.type}: {m.text}") if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: log["console"].append(f"uncaught: {e}"))
    page.on("request", lambda r: log["outside"].append(r.url) if urlparse(r.url).hostname not in ("127.0.0.1", None) and not r.url.startswith("data:") else None)
    page.on("requestfailed", lambda r: log["failed"].append(r.url))
    page.on("response", lambda r: log["failed"].append(f"{r.status} {r.url}") if r.status >= 400 else None)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.on("Network.loadingFinished", lambda e: log.__setitem__("bytes", log["bytes"] + e["encodedDataLength"]))
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(500)
    return page, log


def _distorted(page) -> list[str]:
    """Images shown at another aspect ratio than their own (beyond :data:`ASPECT_TOLERANCE`)."""
    return page.evaluate("""(tol) => Array.from(document.querySelectorAll('article img'))
        .filter(i => i.naturalWidth > 0 && i.offsetParent !== null)
        .map(i => { const r = i.getBoundingClientRect();
                    return [i.src.slice(-40), i.naturalWidth / i.naturalHeight, r.width / r.height]; })
        .filter(([s, own, shown]) => Math.abs(shown / own - 1) > tol)
        .map(([s, own, shown]) => `${s}: aspect ${own.toFixed(2)} shown as ${shown.toFixed(2)}`)""", ASPECT_TOLERANCE)


def _bad_alt(page) -> list[str]:
    """Images whose alt text is missing or a file path."""
    return page.evaluate(r"""() => Array.from(document.querySelectorAll('article img'))
        .filter(i => i.offsetParent !== null)
        .map(i => i.getAttribute('alt') || '')
        .filter(a => !a.trim() || /[\\/]|\.(png|svg|jpe?g)$/i.test(a))""")


@pytest.mark.parametrize("doc", _toc_pages())
def test_page_renders_offline(site, browser, doc):
    page, log = _visit(browser, f"{site}/{doc}.html")
    try:
        assert log["outside"] == [], f"requests leaving 127.0.0.1: {log['outside']}"
        assert log["failed"] == [], f"failed requests: {log['failed']}"
        assert log["console"] == [], f"{doc}: console messages: " + "; ".join(log["console"])
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
        assert _distorted(page) == [], f"{doc}: figures not at their aspect ratio"
        assert _bad_alt(page) == [], f"{doc}: figures without alt text"
        if doc in CHAPTER_PAGES:
            assert log["bytes"] <= PAGE_BUDGET, f"{doc}: {log['bytes'] / 1e6:.2f} MB transferred (budget {PAGE_BUDGET / 1e6:.1f} MB)"
            # the reading order: no injected parameters, the commented parameters folded under their summary
            assert page.locator(".tag_injected-parameters").count() == 0, f"{doc}: papermill's injected cell is shown"
            fold = page.locator("details.landscape-parameters")
            assert fold.count() == 1, f"{doc}: the parameters cell is not folded"
            summary = fold.locator("summary").inner_text()
            assert summary.startswith("Parameters: profile ") and " s" in summary and fold.get_attribute("open") is None
            assert not fold.locator(".cell_input").is_visible()
            # no repository URL is set (_config.yml): no launch button, no repository link
            assert page.locator(".dropdown-launch-buttons, a[href*='mybinder'], a[href*='colab']").count() == 0
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


@pytest.mark.parametrize("chapter", TOC_CHAPTERS)
def test_a_phone_does_not_scroll_sideways(site, browser, chapter):
    page = browser.new_page(viewport={"width": 390, "height": 844})
    try:
        page.goto(f"{site}/{Path(CHAPTERS[chapter]).with_suffix('').as_posix()}.html", wait_until="load")
        page.wait_for_load_state("networkidle")
        over = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert over <= 2, f"{chapter}: the page is {over} px wider than a 390 px phone"
    finally:
        page.close()


def test_the_intro_links_the_notebooks_zip_and_the_pdf(site, browser):
    import urllib.request
    import zipfile

    page, log = _visit(browser, f"{site}/book/intro.html")
    try:
        links = page.evaluate("() => Array.from(document.querySelectorAll('.landscape-downloads a')).map(a => a.href)")
    finally:
        page.close()
    assert [Path(urlparse(u).path).name for u in links] == ["landscape-notebooks.zip", "landscape.pdf"]
    data = urllib.request.urlopen(links[0]).read()
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = set(z.namelist())
    assert {f"landscape-notebooks/{Path(nb).name}" for nb in CHAPTERS.values()} <= names


def test_ledger_lists_every_claim_with_its_chapter_verdict(site, browser, shots):
    page, _ = _visit(browser, f"{site}/book/claims.html")
    try:
        page.screenshot(path=str(shots / "ledger.png"), full_page=True)
        # the answer first: the counts per paper come before the table of every claim, on the first screen
        order = page.evaluate("""() => Array.from(document.querySelectorAll('table.landscape-ledger-counts, table.landscape-ledger'))
            .map(t => [t.className.includes('counts') ? 'counts' : 'claims', t.getBoundingClientRect().top + window.scrollY])""")
        assert [k for k, _ in order] == ["counts", "claims"], f"tables in this order: {order}"
        assert order[0][1] < 900, f"the counts start {order[0][1]:.0f} px down the page"
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


KERNEL_ONLY_NOTEBOOK = '''\
import ipywidgets as w
from landscape.publishing import page
live = w.FloatSlider(value=1.0, min=0.0, max=2.0, description="eps")
page.kernel_only(live)
'''


@pytest.fixture(scope="module")
def kernel_only_site(built_book, tmp_path_factory):
    """A one-page book of a synthetic notebook, executed with its widget state saved: a kernel-only
    slider (page.kernel_only) and a precomputed explore widget."""
    import nbformat
    from nbclient import NotebookClient

    from landscape.publishing.runner import _drop_kernel, ensure_kernel

    root = tmp_path_factory.mktemp("kernel-only")
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Kernel-only controls\n\n## A live control"),
                nbformat.v4.new_code_cell(KERNEL_ONLY_NOTEBOOK),
                nbformat.v4.new_markdown_cell("## A precomputed control"),
                nbformat.v4.new_code_cell("page.explore({'one': w.HTML('<p>one</p>'), 'two': w.HTML('<p>two</p>')})")]
    kernel, folder = ensure_kernel()
    try:
        NotebookClient(nb, kernel_name=kernel, timeout=120, store_widget_state=True, resources={"metadata": {"path": str(root)}}).execute()
    finally:
        _drop_kernel(folder)
    nbformat.write(nb, root / "demo.ipynb")
    (root / "_toc.yml").write_text("format: jb-book\nroot: demo\n")
    (root / "_config.yml").write_text((REPO / "_config.yml").read_text().replace("bibtex_bibfiles:\n  - references.bib\n", ""))
    (root / "book").mkdir()
    shutil.copy(REPO / "book" / "favicon.svg", root / "book" / "favicon.svg")   # else the browser asks for /favicon.ico
    vendor = REPO / "_build" / "vendor"
    if vendor.is_dir():       # the vendored front-end the book build just made: no second fetch
        shutil.copytree(vendor, root / "_build" / "vendor")
    jb = Path(os.sys.executable).with_name("jupyter-book")
    import subprocess

    proc = subprocess.run([str(jb), "build", str(root), "--quiet"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    handler = functools.partial(_QuietHandler, directory=str(root / "_build" / "html"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_kernel_only_control_is_disabled_on_the_static_page(kernel_only_site, browser, shots):
    page, log = _visit(browser, f"{kernel_only_site}/demo.html")
    try:
        page.wait_for_selector(".landscape-kernel-only", timeout=15000)
        page.wait_for_timeout(300)
        box = page.locator(".landscape-kernel-only").first
        box.scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "kernel-only.png"))
        note = box.locator(".landscape-kernel-note")
        assert note.is_visible() and "needs a running kernel: open in JupyterLab" in note.inner_text()
        assert box.get_attribute("aria-disabled") == "true"
        state = page.evaluate("""() => { const b = document.querySelector('.landscape-kernel-only');
            const s = b.querySelector('.widget-slider, .slider-container, .widget-hslider');
            return {pointer: getComputedStyle(s).pointerEvents,
                    handles: Array.from(b.querySelectorAll('.noUi-handle')).map(h => h.getAttribute('tabindex'))}; }""")
        assert state["pointer"] == "none" and state["handles"] and all(t == "-1" for t in state["handles"]), state
        # the precomputed control beside it still works without a kernel
        control = page.locator(".jupyter-widgets select").first
        control.select_option(index=1)
        page.wait_for_timeout(300)
        shown = page.evaluate("""() => Array.from(document.querySelectorAll('.widget-html-content'))
            .filter(e => e.offsetParent !== null).map(e => e.innerText.trim())""")
        assert "two" in shown and "one" not in shown, shown
        assert log["failed"] == [], f"demo: failed requests: {log['failed']}"
        assert log["console"] == [], "demo: console messages: " + "; ".join(log["console"])
    finally:
        page.close()
