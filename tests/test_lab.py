"""``make lab`` as a reader uses it: JupyterLab on a working copy, with a live kernel.

Starts JupyterLab (``python -m landscape.publishing.lab``, what ``make lab`` runs) on
127.0.0.1 over a working copy of the chapters in a temporary folder, opens the
trajectories chapter with the smoke profile's parameters in headless Chromium, runs
all its cells, moves a kernel-backed control (the noise of the live run, an
``ipywidgets.interact``) and checks that the figure the kernel draws changed; the
server lists the ``landscape`` kernel only; MyST renders (no raw directive left); and
``book/`` is byte-identical afterwards.

Needs JupyterLab (requirements.txt) and Debian's ``chromium``; skipped without them,
unless ``LANDSCAPE_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.chapters
REPO = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"]
CHAPTER = "trajectories"

try:
    import jupyterlab  # noqa: F401
    HAVE_LAB = True
except ImportError:
    HAVE_LAB = False
if CHROMIUM is None or not HAVE_LAB:
    why = "chromium is not installed (apt-get install chromium)" if CHROMIUM is None else "JupyterLab is not installed (make setup)"
    if os.environ.get("LANDSCAPE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"LANDSCAPE_REQUIRE_BROWSER=1 but {why}")
    pytest.skip(why, allow_module_level=True)


def _digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(tmp_path):
    """A JupyterLab server over a working copy whose chapter carries the smoke parameters:
    (base URL, token, working copy)."""
    import nbformat
    from papermill.parameterize import parameterize_notebook

    from landscape.publishing.lab import working_copy
    from landscape.publishing.runner import plan

    copy = tmp_path / "lab"
    working_copy(REPO, copy)
    nb = nbformat.read(copy / f"{CHAPTER}.ipynb", as_version=4)
    nbformat.write(parameterize_notebook(nb, plan([CHAPTER], "smoke", [], REPO)[CHAPTER]), copy / f"{CHAPTER}.ipynb")
    settings = tmp_path / "settings" / "@jupyterlab" / "notebook-extension"
    settings.mkdir(parents=True)   # every cell drawn (no windowing), so the page shows all the outputs
    (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
    port, token = _free_port(), secrets.token_hex(16)
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "settings"), "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "workspaces"), "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    log = open(tmp_path / "lab.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "landscape.publishing.lab", "--root", str(REPO), "--dir", str(copy), "--port", str(port),
                             "--no-browser", f"--IdentityProvider.token={token}", "--LabApp.expose_app_in_browser=True"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    break
                time.sleep(0.5)
        else:
            pytest.fail("JupyterLab did not answer in 120 s:\n" + (tmp_path / "lab.log").read_text()[-3000:])
        assert proc.poll() is None, "JupyterLab exited:\n" + (tmp_path / "lab.log").read_text()[-3000:]
        yield base, token, copy
    finally:
        proc.terminate()                      # what make lab's user does with Ctrl-C or a closed terminal
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
        left = _servers_on(copy)
        for pid in left:                      # never leave a server behind, even when the check fails
            os.kill(pid, 9)
        assert left == [], f"JupyterLab (or a kernel) still runs after make lab was stopped: {left}"


def _servers_on(copy: Path) -> list[int]:
    """Processes whose command line names the working copy (a JupyterLab server on it)."""
    out = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if "jupyterlab" in cmd and str(copy) in cmd:
                out.append(int(proc.name))
    return out


def _figure(page) -> str:
    return page.evaluate("""() => { const i = document.querySelector('.widget-interact img');
        return i ? i.src.slice(-120) : ''; }""")


def test_a_live_control_redraws_its_figure_and_book_is_untouched(lab, shots_dir):
    from playwright.sync_api import sync_playwright

    base, token, copy = lab
    before = _digest(REPO / "book")
    specs = json.loads(urllib.request.urlopen(f"{base}/api/kernelspecs?token={token}", timeout=10).read())
    assert set(specs["kernelspecs"]) == {"landscape"} and specs["default"] == "landscape"   # no stray python3
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(f"{base}/lab/tree/{CHAPTER}.ipynb?token={token}")
            page.wait_for_function("() => window.jupyterapp && window.jupyterapp.shell.currentWidget && "
                                   "window.jupyterapp.shell.currentWidget.sessionContext", timeout=120000)
            page.wait_for_function("async () => { const w = window.jupyterapp.shell.currentWidget; await w.sessionContext.ready; "
                                   "return w.sessionContext.session && w.sessionContext.session.kernel && "
                                   "w.sessionContext.session.kernel.status === 'idle'; }", timeout=120000)
            kernel = page.evaluate("() => window.jupyterapp.shell.currentWidget.sessionContext.session.kernel.name")
            assert kernel == "landscape"
            page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
            page.wait_for_function("""() => { const w = window.jupyterapp.shell.currentWidget, cells = w.content.model.cells;
                let code = 0, done = 0;
                for (let i = 0; i < cells.length; i++) { const c = cells.get(i);
                    if (c.type === 'code') { code++; if (c.executionCount) done++; } }
                return code > 0 && done === code && w.sessionContext.session.kernel.status === 'idle'; }""", timeout=480000)
            errors = page.evaluate("""() => { const cells = window.jupyterapp.shell.currentWidget.content.model.cells, out = [];
                for (let i = 0; i < cells.length; i++) { const c = cells.get(i); if (c.type !== 'code') continue;
                    for (let j = 0; j < c.outputs.length; j++) { const o = c.outputs.get(j).toJSON();
                        if (o.output_type === 'error') out.push(`cell ${i}: ${o.ename}: ${o.evalue}`); } }
                return out; }""")
            assert errors == [], errors
            # MyST renders in Lab (jupyterlab-myst): no directive left as raw text
            raw = page.evaluate("() => Array.from(document.querySelectorAll('.jp-MarkdownCell .jp-RenderedMarkdown, .jp-RenderedMarkdown'))"
                                ".map(e => e.innerText).filter(t => t.includes(':::') || t.includes('{cite}')).length")
            assert raw == 0, f"{raw} markdown blocks show MyST as raw text"
            box = page.locator(".widget-interact").first
            box.scroll_into_view_if_needed()
            page.wait_for_function("() => !!document.querySelector('.widget-interact img')", timeout=60000)
            first = _figure(page)
            page.screenshot(path=str(shots_dir / "lab-live-before.png"))
            select = box.locator("select").first
            options = select.locator("option").all_inner_texts()
            assert len(options) >= 2
            select.select_option(index=1)
            page.wait_for_function("(b) => { const i = document.querySelector('.widget-interact img'); return i && i.src.slice(-120) !== b; }",
                                   arg=first, timeout=120000)
            page.screenshot(path=str(shots_dir / "lab-live-after.png"))
            assert _figure(page) != first
        finally:
            browser.close()
    assert _digest(REPO / "book") == before, "exploring in JupyterLab changed book/"
    assert (copy / f"{CHAPTER}.ipynb").is_file()


@pytest.fixture
def shots_dir(tmp_path):
    folder = Path(os.environ.get("LANDSCAPE_SCREENSHOTS") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder
