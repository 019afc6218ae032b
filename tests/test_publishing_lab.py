"""make lab's pieces: the working copy never is book/, copies only what it lacks; the command
line listens on 127.0.0.1 with the landscape kernel only; take-away files; launch buttons."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from landscape.publishing import lab, sphinxext, takeaway


def _book(root: Path) -> Path:
    (root / "book").mkdir(parents=True)
    for name in ("a.ipynb", "b.ipynb", "intro.md", "favicon.svg"):
        (root / "book" / name).write_text(f"{name} as committed")
    return root


def test_the_working_copy_is_made_from_book_and_then_left_alone(tmp_path):
    root = _book(tmp_path)
    copy = root / "runs" / "lab"
    made = lab.working_copy(root, copy)
    assert sorted(p.name for p in made) == ["a.ipynb", "b.ipynb", "favicon.svg", "intro.md"]
    (copy / "a.ipynb").write_text("explored")            # the user's edits stay
    (copy / "b.ipynb").unlink()                           # a chapter missing is copied again
    assert [p.name for p in lab.working_copy(root, copy)] == ["b.ipynb"]
    assert (copy / "a.ipynb").read_text() == "explored" and (root / "book" / "a.ipynb").read_text() == "a.ipynb as committed"
    for bad in (root / "book", root / "book" / "sub"):
        with pytest.raises(ValueError, match="must not be book/"):
            lab.working_copy(root, bad)


def test_the_lab_command_listens_locally_with_the_landscape_kernel_only(tmp_path, monkeypatch):
    monkeypatch.setattr(lab.os, "geteuid", lambda: 1000)
    cmd = lab.lab_command(tmp_path, 8899, open_browser=False)
    assert cmd[1:3] == ["-m", "jupyterlab"] and f"--ServerApp.root_dir={tmp_path}" in cmd
    assert "--ServerApp.ip=127.0.0.1" in cmd and "--ServerApp.port=8899" in cmd and "--ServerApp.open_browser=False" in cmd
    assert "--KernelSpecManager.allowed_kernelspecs=landscape" in cmd and "--KernelSpecManager.ensure_native_kernel=False" in cmd
    assert "--allow-root" not in cmd
    monkeypatch.setattr(lab.os, "geteuid", lambda: 0)
    assert "--allow-root" in lab.lab_command(tmp_path, 8899)


def test_make_lab_refuses_to_open_book(tmp_path, capsys):
    root = _book(tmp_path)
    assert lab.main(["--root", str(root), "--dir", "book", "--no-browser"]) == 2
    assert "must not be book/" in capsys.readouterr().err


def test_the_notebooks_zip_holds_every_chapter_as_committed(tmp_path):
    root = _book(tmp_path)
    (root / "profiles").mkdir()
    (root / "profiles" / "smoke.yaml").write_text("a: {}\n")
    chapters = ["book/a.ipynb", "book/b.ipynb", "book/gone.ipynb"]
    first = takeaway.notebooks_zip(root, chapters, tmp_path / "out" / "n.zip")
    with zipfile.ZipFile(first) as z:
        assert sorted(z.namelist()) == ["landscape-notebooks/README.txt", "landscape-notebooks/a.ipynb",
                                        "landscape-notebooks/b.ipynb", "landscape-notebooks/profiles/smoke.yaml"]
        assert z.read("landscape-notebooks/a.ipynb") == b"a.ipynb as committed"
    data = first.read_bytes()
    assert takeaway.notebooks_zip(root, chapters, tmp_path / "out" / "n.zip").read_bytes() == data   # same notebooks, same zip


def test_launch_buttons_come_from_the_repository_url_or_not_at_all():
    assert sphinxext.launch_options("") == {} and sphinxext.launch_options("   ") == {}
    opts = sphinxext.launch_options("https://github.com/someone/landscape/", jupyterhub_url="https://hub.example.org")
    assert opts["repository_url"] == "https://github.com/someone/landscape" and opts["use_repository_button"]
    assert opts["launch_buttons"] == {"binderhub_url": sphinxext.BINDER_URL, "colab_url": sphinxext.COLAB_URL,
                                      "jupyterhub_url": "https://hub.example.org", "notebook_interface": "jupyterlab"}
    other = sphinxext.launch_options("https://gitlab.example.org/x/landscape")
    assert other["launch_buttons"]["colab_url"] == "" and other["launch_buttons"]["jupyterhub_url"] == ""   # Colab reads GitHub only
    with pytest.raises(ValueError, match="https:// URL"):
        sphinxext.launch_options("git@github.com:x/y.git")


class _Config:
    def __init__(self, url="", hub=""):
        self.landscape_repository_url, self.landscape_jupyterhub_url, self.landscape_repository_branch = url, hub, "main"
        self.html_theme_options = {"launch_buttons": {"binderhub_url": "https://old.example", "thebe": False}, "use_repository_button": True}


def test_no_url_means_no_buttons_whatever_the_config_held(monkeypatch):
    monkeypatch.delenv("LANDSCAPE_REPOSITORY_URL", raising=False)
    cfg = _Config()
    sphinxext._launch(None, cfg)
    assert cfg.html_theme_options["launch_buttons"]["binderhub_url"] == "" and not cfg.html_theme_options["use_repository_button"]
    monkeypatch.setenv("LANDSCAPE_REPOSITORY_URL", "https://github.com/someone/landscape")
    cfg = _Config()
    sphinxext._launch(None, cfg)
    assert cfg.html_theme_options["launch_buttons"]["binderhub_url"] == sphinxext.BINDER_URL
    assert cfg.html_theme_options["repository_url"] == "https://github.com/someone/landscape"


@pytest.mark.skipif(takeaway._chromium() is None, reason="chromium is not installed (apt-get install chromium)")
def test_print_pdf_prints_a_page_offline(tmp_path):
    page = tmp_path / "p.html"
    page.write_text("<html><body><h1>A chapter</h1><p>" + "text " * 2000 + "</p></body></html>")
    pdf = takeaway.print_pdf(page, tmp_path / "out" / "book.pdf", budget_ms=2000)
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-") and len(data) > 1000
    import re

    assert len(re.findall(rb"/Type\s*/Page[^s]", data)) >= 2      # 2000 words do not fit one page


def test_the_single_page_is_the_root_document(tmp_path):
    (tmp_path / "book").mkdir()
    (tmp_path / "index.html").write_text('<meta http-equiv="Refresh" content="0; url=book/intro.html" />')
    assert takeaway._single_page(tmp_path) == tmp_path / "book" / "intro.html"
    (tmp_path / "index.html").write_text("<html>the book</html>")
    assert takeaway._single_page(tmp_path) == tmp_path / "index.html"
