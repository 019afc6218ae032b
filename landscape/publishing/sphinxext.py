"""Sphinx extension for the book (``sphinx: extra_extensions`` in ``_config.yml``).

- Offline pages: at ``config-inited``, before myst-nb reads its settings, it
  makes the book serve MathJax 3, require.js and the widgets HTML manager
  itself (:func:`landscape.publishing.assets.ensure`): it adds the vendor folder to
  ``html_static_path`` and points ``mathjax_path`` and ``nb_ipywidgets_js``
  at the local copies. When the files cannot be had it leaves the CDN
  defaults and logs a warning.
- The ``claims-ledger`` directive: one table of every claim of every chapter
  (:func:`landscape.publishing.ledger.collect`, from the committed notebooks' glued
  values), opening with the counts per verdict and per paper.
- A build gate: a chapter whose committed outputs hold an error, or that
  has no outputs at all, is a warning - an error under ``-W``.
- Reading order, at build time (the committed notebooks are not edited): the cell
  papermill injected (``injected-parameters``) is dropped from the page; the
  commented parameters cell is folded under a one-line summary (profile, data,
  seeds, run time: :func:`landscape.publishing.notebooks.parameters_summary`).
- Figures: an image keeps its width but loses its fixed height (the theme
  shrinks the width to the column, and a fixed height distorted it), and its
  alt text is its caption or the heading of its section, not its file path.
- Each script the extensions add once per page (sphinx-thebe's and
  sphinx-togglebutton's inline config were added twice: ``const`` declared twice
  is an error in the console).
- Lighter pages: once the HTML is written, every PNG of the site (files and the
  base64 figures inside widget state) is re-encoded in a 256-colour palette
  (:func:`landscape.publishing.images.compact_site`; ``landscape_compact_images = False``
  turns it off).
- Launch buttons (Binder, Colab, JupyterHub) from one setting, the repository's
  URL (``landscape_repository_url`` in ``_config.yml``'s ``sphinx.config``, or
  ``$LANDSCAPE_REPOSITORY_URL``; JupyterHub also needs ``landscape_jupyterhub_url``):
  :func:`launch_options`. With no URL there are no buttons and no repository link.
- Take-away files: ``landscape-notebooks.zip`` (every chapter's notebook as
  committed, with the profiles) at the site's root; the whole-book PDF is made by
  ``make pdf`` (:mod:`landscape.publishing.takeaway`). The intro links both.
- The book's stylesheet and script, ``landscape/static/landscape.{css,js}``.
"""

from __future__ import annotations

from pathlib import Path

from docutils import nodes
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

from ..chapters import CHAPTERS
from ..experiment.claims import VERDICTS
from ..experiment.records import record_path
from .assets import VENDOR_NAME, ensure
from .ledger import collect, counts, scale_verdicts
from .images import compact_site
from .notebooks import parameters_summary, problems

log = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"


def _configure(app, config) -> None:
    config.html_static_path = [*config.html_static_path, str(STATIC)]
    root = ensure(Path(app.confdir) / "_build" / "vendor")
    if root is None:
        log.warning("MathJax and the widget manager could not be fetched from the npm registry (is npm "
                    "installed?); the book will load them from CDNs and needs a network to show maths and widgets.")
        return
    config.html_static_path = [*config.html_static_path, str(root)]
    config.mathjax_path = f"{VENDOR_NAME}/mathjax/tex-chtml.js"
    config.nb_ipywidgets_js = {
        f"{VENDOR_NAME}/require.js": {},
        f"{VENDOR_NAME}/require-config.js": {},
        f"{VENDOR_NAME}/html-manager/embed-amd.js": {"data-jupyter-widgets-cdn": f"{VENDOR_NAME}/missing-widget-module/"},
    }


BINDER_URL = "https://mybinder.org"
COLAB_URL = "https://colab.research.google.com"


def launch_options(repository_url: str, jupyterhub_url: str = "", branch: str = "main") -> dict:
    """The theme options that give every chapter its launch buttons, from the repository's URL
    (Binder and Colab; JupyterHub when ``jupyterhub_url`` is given); ``{}`` when no URL is set,
    so the book shows no launch button and no repository link."""
    url = (repository_url or "").strip().rstrip("/")
    if not url:
        return {}
    if not url.startswith(("https://", "http://")):
        raise ValueError(f"Invalid landscape_repository_url: {url!r} (must be the repository's https:// URL)")
    buttons = {"binderhub_url": BINDER_URL, "colab_url": COLAB_URL if "github.com/" in url else "",
               "jupyterhub_url": (jupyterhub_url or "").strip().rstrip("/"), "notebook_interface": "jupyterlab"}
    return {"repository_url": url, "repository_branch": branch, "path_to_docs": "", "use_repository_button": True,
            "launch_buttons": buttons}


def _launch(app, config) -> None:
    import os

    url = config.landscape_repository_url or os.environ.get("LANDSCAPE_REPOSITORY_URL", "")
    opts = launch_options(url, config.landscape_jupyterhub_url or os.environ.get("LANDSCAPE_JUPYTERHUB_URL", ""),
                          config.landscape_repository_branch)
    theme = dict(config.html_theme_options or {})
    if opts:
        theme.update(opts)
    else:  # no URL: no button, whatever an older config said
        theme["launch_buttons"] = {"binderhub_url": "", "colab_url": "", "jupyterhub_url": "", "thebe": False}
        for key in ("use_repository_button", "use_issues_button", "use_edit_page_button"):
            theme[key] = False
    config.html_theme_options = theme


def _takeaway(app, exception) -> None:
    """``build-finished``: ``landscape-notebooks.zip`` at the site's root."""
    if exception is not None or app.builder.format != "html":
        return
    from .takeaway import notebooks_zip

    notebooks_zip(Path(app.confdir), list(CHAPTERS.values()), Path(app.outdir) / "landscape-notebooks.zip")


def _check_outputs(app, env, docnames) -> None:
    """Warn (an error under ``-W``) for every chapter about to be read whose
    committed outputs hold an error or are missing."""
    for nb in CHAPTERS.values():
        if str(Path(nb).with_suffix("")) not in docnames:
            continue
        for problem in problems(Path(app.confdir) / nb):
            log.warning(f"{nb}: {problem}")


class details(nodes.General, nodes.Element):
    """A folded block: ``<details><summary>{summary}</summary>...children...</details>`` in HTML;
    the children alone in other formats."""


def _visit_details_html(self, node) -> None:
    summary = self.encode(node["summary"])
    self.body.append(f'<details class="{" ".join(node["classes"])}"><summary>{summary}</summary>\n')


def _depart_details_html(self, node) -> None:
    self.body.append("</details>\n")


def _pass(self, node) -> None:
    pass


def _cells(doctree, tag: str):
    return [n for n in doctree.findall(nodes.container)
            if n.get("nb_element") == "cell_code" and tag in n.get("cell_metadata", {}).get("tags", [])]


def _section_title(node) -> str:
    while node is not None:
        if isinstance(node, nodes.section) and node.children and isinstance(node[0], nodes.title):
            return node[0].astext()
        node = node.parent
    return ""


def _reading_order(app, doctree) -> None:
    """``doctree-read``: drop the injected-parameters cell, fold the parameters cell under its
    one-line summary, and give every figure its true aspect and a real alt text."""
    docname = app.env.docname
    source = Path(app.env.doc2path(docname))
    if source.suffix == ".ipynb":
        for cell in _cells(doctree, "injected-parameters"):
            cell.parent.remove(cell)
        for cell in _cells(doctree, "parameters"):
            try:
                summary = parameters_summary(source)
            except (OSError, ValueError):
                summary = ""
            fold = details(summary="Parameters" + (f": {summary}" if summary else ""), classes=["landscape-parameters"])
            cell.parent.replace(cell, fold)
            fold += cell
    for img in doctree.findall(nodes.image):
        img.attributes.pop("height", None)
        alt = img.get("alt", "")
        if not alt or alt == img.get("uri") or "/" in alt or alt.endswith((".png", ".svg", ".jpg")):
            figure = img.parent if isinstance(img.parent, nodes.figure) else None
            caption = next((c.astext() for c in figure.findall(nodes.caption)), "") if figure is not None else ""
            title = _section_title(img)
            img["alt"] = caption or (f"Figure: {title}" if title else "Figure")


def _one_script_each(app, pagename, templatename, context, doctree) -> None:
    """``html-page-context``: each script once (inline bodies compared by their text)."""
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, kept = set(), []
    for js in scripts:
        key = (getattr(js, "filename", str(js)) or "", tuple(sorted((getattr(js, "attributes", None) or {}).items())))
        if key in seen:
            continue
        seen.add(key)
        kept.append(js)
    scripts[:] = kept


def _compact(app, exception) -> None:
    """``build-finished``: the site's PNGs in a palette (:func:`~landscape.publishing.images.compact_site`)."""
    if exception is not None or app.builder.format != "html" or not app.config.landscape_compact_images:
        return
    before, after = compact_site(app.outdir)
    if before:
        log.info(f"figures: {before / 1e6:.1f} MB of PNG re-encoded as {after / 1e6:.1f} MB")


def _table(header: list[str], rows: list[list], widths: list[int], classes: list[str]) -> nodes.table:
    def row(cells):
        r = nodes.row()
        for cell in cells:
            entry = nodes.entry()
            para = nodes.paragraph()
            para += cell if isinstance(cell, nodes.Node) else nodes.Text(str(cell))
            entry += para
            r += entry
        return r

    table = nodes.table(classes=classes)
    group = nodes.tgroup(cols=len(header))
    table += group
    for w in widths:
        group += nodes.colspec(colwidth=w)
    head = nodes.thead()
    head += row(header)
    body = nodes.tbody()
    for cells in rows:
        body += row(cells)
    group += head
    group += body
    return table


def _verdict(v: str) -> nodes.inline:
    return nodes.inline(text=v, classes=[f"verdict-{v.replace(' ', '-')}"])


class ClaimsLedger(SphinxDirective):
    """``{claims-ledger}``: the counts per verdict and paper, then the table of every claim."""

    has_content = False

    def run(self):
        root = Path(self.env.app.confdir)
        in_book = {name: nb for name, nb in CHAPTERS.items() if str(Path(nb).with_suffix("")) in self.env.found_docs}
        rows = collect(root, in_book)
        scaled = scale_verdicts(root, in_book)
        for nb in in_book.values():
            self.env.note_dependency(str(root / nb))
        for name in in_book:
            if record_path(name, root).is_file():
                self.env.note_dependency(str(record_path(name, root)))
        builder = self.env.app.builder
        out = []
        claim_rows = []
        has_v1 = any(r.v1_verdict is not None for r in rows)
        for r in rows:
            target = str(Path(r.notebook).with_suffix(""))
            try:
                uri = builder.get_relative_uri(self.env.docname, target) + "#claims"
            except Exception:  # non-HTML builders
                uri = ""
            link = nodes.reference(text=r.id, refuri=uri) if uri else nodes.Text(r.id)
            row = [link, _verdict(r.verdict)]
            if has_v1:
                row.append(_verdict(r.v1_verdict) if r.v1_verdict else nodes.Text("-"))
            row += [r.statement, r.value_text, r.threshold, f"{r.chapter} ({r.profile})"]
            if scaled:
                at = scaled.get(r.id)
                if at is None:
                    row.append(nodes.Text("-"))
                else:
                    cell = nodes.inline()
                    for i, (setting, v) in enumerate(at["settings"]):
                        if i:
                            cell += nodes.Text("; ")
                        cell += _verdict(v)
                        if setting:
                            cell += nodes.Text(f" ({setting})")
                    row.append(cell)
            marks = []
            if r.protocol_dependent:
                marks.append("protocol-dependent")
            if r.id in scaled and any(v != r.verdict for _, v in scaled[r.id]["settings"]):
                marks.append("scale-dependent")
            if has_v1 and r.v1_verdict and r.v1_verdict != r.verdict:
                marks.append("v1 differs")
            row.append(", ".join(marks) or "-")
            claim_rows.append(row)
        if not claim_rows:
            out.append(nodes.paragraph(text="No chapter has decided a claim yet."))
        else:
            heads = ["id", "verdict"] + (["v1"] if has_v1 else []) + ["claim", "measured", "reproduced when", "chapter (profile)"]
            widths = [5, 10] + ([8] if has_v1 else []) + [36, 8, 10, 12]
            if scaled:
                heads, widths = heads + ["paper's setting"], widths + [10]
            heads, widths = heads + ["marks"], widths + [8]
            out.append(_table(heads, claim_rows, widths, ["landscape-ledger"]))
            devices = sorted({f"{r.profile} profile on {r.device}" for r in rows})
            out.append(nodes.paragraph(text="Data and scale: each id links to its chapter's Claims section, which names the data and scale; "
                                            "the runs shown were made with the " + "; ".join(devices) + "."))
            if has_v1:
                out.append(nodes.paragraph(text="verdict: by the decision rules v2 (the headline); v1: by the rules declared "
                                                "first, shown beside it; each chapter says why the rule changed."))
            if scaled:
                runs = sorted({f"{v['chapter']}: {v['device']}, {v['date']}" for v in scaled.values()})
                out.append(nodes.paragraph(text="paper's setting: the verdict, by the same rule, of the chapter's last "
                                                "gpu-profile run (the paper's own setting on the best data offline; "
                                                "results/<chapter>-gpu.json, shown in the chapter) - " + "; ".join(runs)
                                                + "; '-' where no such run is recorded. Marks: scale-dependent (the two "
                                                "scales disagree), protocol-dependent (protocol variants disagree)."))
        # the answer first: the counts per paper, then every claim
        tally = counts(rows)
        count_rows = [[paper, *[tally[paper][v] for v in VERDICTS], sum(tally[paper].values())] for paper in tally if paper != "all"]
        count_rows.append([nodes.strong(text="all"), *[tally["all"][v] for v in VERDICTS], sum(tally["all"].values())])
        head = [nodes.rubric(text="Counts per verdict and paper"),
                _table(["paper", *VERDICTS, "claims"], count_rows, [20, 10, 10, 10, 8], ["landscape-ledger-counts"])]
        if claim_rows:
            head.append(nodes.rubric(text="Every claim"))
        return head + out


def setup(app):
    app.connect("config-inited", _configure, priority=100)  # before myst-nb (priority 500)
    app.connect("env-before-read-docs", _check_outputs)
    app.add_directive("claims-ledger", ClaimsLedger)
    app.add_node(details, html=(_visit_details_html, _depart_details_html), latex=(_pass, _pass), text=(_pass, _pass))
    app.connect("doctree-read", _reading_order)
    app.connect("html-page-context", _one_script_each, priority=900)
    app.add_config_value("landscape_compact_images", True, "html")
    app.add_config_value("landscape_repository_url", "", "html")
    app.add_config_value("landscape_repository_branch", "main", "html")
    app.add_config_value("landscape_jupyterhub_url", "", "html")
    app.connect("config-inited", _launch, priority=110)
    app.connect("build-finished", _takeaway)
    app.connect("build-finished", _compact)
    app.add_css_file("landscape.css")
    app.add_js_file("landscape.js")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
