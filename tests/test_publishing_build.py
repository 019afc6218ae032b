"""The book's build-time pieces, each on a synthetic input: the parameters summary, the
reading order of a notebook page (injected cell dropped, parameters folded, figures
unstretched with alt text), each script once, the vendored-file patches and the
palette PNGs."""

from __future__ import annotations

import io

import nbformat
import pytest
from docutils import nodes

from landscape.publishing import assets, images, sphinxext
from landscape.publishing.notebooks import parameters, parameters_summary
from landscape.publishing.page import GLUE_PREFIX


def _glue(name, value):
    return nbformat.v4.new_output("display_data", data={GLUE_PREFIX + "text/plain": repr(value)},
                                  metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})


def _chapter(duration=61.2):
    nb = nbformat.v4.new_notebook()
    p = nbformat.v4.new_code_cell('profile = "cpu"   # which profile\nseeds = [0, 1, 2]\ndataset = "digits"\nalso_datasets = []\n')
    p.metadata["tags"] = ["parameters"]
    inj = nbformat.v4.new_code_cell('# Parameters\nprofile = "smoke"\nseeds = list(range(3))\nseeds = [0, 1, 2, 3, 4, 5]\n'
                                    'datasets = ["digits", "mnist10k"]\nsens_seeds = [0]\n')
    inj.metadata["tags"] = ["injected-parameters"]
    body = nbformat.v4.new_code_cell("x = 1")
    body.outputs = [_glue("run-device", "CPU (x86_64, 1 thread)"), _glue("run-seconds", 3.0)]
    nb.cells = [p, inj, body]
    nb.metadata["papermill"] = {"duration": duration}
    return nb


def test_parameters_are_the_injected_values_over_the_cell():
    values = parameters(_chapter())
    assert values["profile"] == "smoke" and values["seeds"] == [0, 1, 2, 3, 4, 5]   # the last assignment
    assert values["dataset"] == "digits" and values["datasets"] == ["digits", "mnist10k"]


def test_parameters_summary_says_profile_data_seeds_and_run_time():
    line = parameters_summary(_chapter())
    assert line == "profile smoke \u00b7 data digits, mnist10k \u00b7 seeds 0-5 (6) \u00b7 ran in 61 s on CPU (x86_64, 1 thread)"
    nb = _chapter(duration=None)                     # no papermill duration: the glued run-seconds
    assert parameters_summary(nb).endswith("ran in 3 s on CPU (x86_64, 1 thread)")
    nb = _chapter(duration=400)
    assert "ran in 6.7 min" in parameters_summary(nb)
    nb.cells[1].source = 'profile = "gpu"\nseeds = [3, 7]\n'
    assert "seeds 3, 7 \u00b7" in parameters_summary(nb) and "profile gpu" in parameters_summary(nb)
    bare = nbformat.v4.new_notebook()
    assert parameters_summary(bare) == ""


def _cell(tag, source="a = 1"):
    cell = nodes.container(nb_element="cell_code", cell_metadata={"tags": [tag]}, classes=["cell", f"tag_{tag}"])
    cell += nodes.literal_block(text=source)
    return cell


class _App:
    class env:
        docname = "book/x"

        @staticmethod
        def doc2path(name):
            return _App.path


def test_reading_order_drops_the_injected_cell_and_folds_the_parameters(tmp_path):
    nbformat.write(_chapter(), tmp_path / "x.ipynb")
    _App.path = str(tmp_path / "x.ipynb")
    doc = nodes.document(None, None)
    sec = nodes.section()
    sec += nodes.title(text="Spectra at the end")
    sec += [_cell("parameters"), _cell("injected-parameters"), _cell("other")]
    fig = nodes.figure()
    fig += nodes.image(uri="_images/a.png", alt="_images/a.png", width="1246px", height="633px")
    fig += nodes.caption(text="Figure 2 of the paper")
    sec += [nodes.image(uri="../x/b.png", width="800px", height="400px"), fig]
    doc += sec
    sphinxext._reading_order(_App, doc)
    tags = [c["cell_metadata"]["tags"][0] for c in doc.findall(nodes.container) if c.get("nb_element") == "cell_code"]
    assert tags == ["parameters", "other"]                      # the injected cell is gone
    fold = next(iter(doc.findall(sphinxext.details)))
    assert fold["summary"].startswith("Parameters: profile smoke \u00b7 data digits") and fold["classes"] == ["landscape-parameters"]
    assert fold[0]["cell_metadata"]["tags"] == ["parameters"]   # the cell is inside the fold
    imgs = list(doc.findall(nodes.image))
    assert all("height" not in i for i in imgs) and [i["width"] for i in imgs] == ["800px", "1246px"]
    assert [i["alt"] for i in imgs] == ["Figure: Spectra at the end", "Figure 2 of the paper"]


class _JS:
    def __init__(self, filename, **attributes):
        self.filename, self.attributes, self.priority = filename, attributes, 500


def test_each_inline_script_once():
    body = 'const THEBE_JS_URL = "x"'
    ctx = {"script_files": [_JS(None, body=body), _JS("_static/a.js"), _JS("", body=body), _JS("_static/a.js"),
                            _JS("_static/b.js", **{"async": "async"}), _JS("", body="let y = 1")]}
    sphinxext._one_script_each(None, "p", "page.html", ctx, None)
    assert [(j.filename or "", j.attributes.get("body", "")) for j in ctx["script_files"]] == [
        ("", body), ("_static/a.js", ""), ("_static/b.js", ""), ("", "let y = 1")]


def test_vendored_patches_must_match_as_often_as_stated(tmp_path):
    (tmp_path / "m.js").write_text("const a=new(b());a.compile(s),c=new(d()),e=c.compile(t);")
    pattern = assets.PATCHES["html-manager/embed-amd.js"]
    assets.patch(tmp_path, {"m.js": pattern})
    assert (tmp_path / "m.js").read_text() == ("const a=new(b())({allowUnionTypes:!0});a.compile(s),"
                                              "c=new(d())({allowUnionTypes:!0}),e=c.compile(t);")
    (tmp_path / "n.js").write_text("const a=new(b());a.compile(s);")    # one validator where two are expected
    with pytest.raises(ValueError, match="matched 1 times"):
        assets.patch(tmp_path, {"n.js": pattern})
    with pytest.raises(ValueError, match="must be a vendored file"):
        assets.patch(tmp_path, {"missing.js": pattern})


def _plot_png() -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(6, 3), dpi=150)
    x = np.linspace(0, 6, 400)
    for k in range(4):
        ax.plot(x, np.sin(x + k), label=f"curve {k}")
    ax.legend()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def test_compact_png_is_smaller_and_looks_the_same():
    import numpy as np
    from PIL import Image

    data = _plot_png()
    out = images.compact_png(data)
    assert len(out) <= (1 - images.MIN_GAIN) * len(data)
    a = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"), dtype=float)
    b = np.asarray(Image.open(io.BytesIO(out)).convert("RGBA"), dtype=float)
    assert a.shape == b.shape
    assert np.abs(a - b).mean() < 1.0 and np.percentile(np.abs(a - b).max(axis=2), 99) < 24   # per channel, of 255
    assert images.compact_png(out) == out            # already a palette: left as it is
    assert images.compact_png(b"not a png") == b"not a png"


def test_compact_site_rewrites_files_and_embedded_figures(tmp_path, monkeypatch):
    import base64

    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path / "cache"))
    data = _plot_png()
    (tmp_path / "site" / "_images").mkdir(parents=True)
    (tmp_path / "site" / "_images" / "a.png").write_bytes(data)
    b64 = base64.b64encode(data).decode()
    page = tmp_path / "site" / "p.html"
    page.write_text(f'<script type="application/vnd.jupyter.widget-state+json">{{"outputs": [{{"data": {{"image/png": "{b64}"}}}}]}}'
                    f'</script><img src="data:image/png;base64,{b64}">')
    before, after = images.compact_site(tmp_path / "site")
    assert before == 3 * len(data) and after < 0.8 * before
    small = images.compact_png(data)
    assert (tmp_path / "site" / "_images" / "a.png").read_bytes() == small
    assert page.read_text().count(base64.b64encode(small).decode()) == 2 and b64 not in page.read_text()
    assert images.compact_site(tmp_path / "site") == (3 * len(small), 3 * len(small))   # a second pass changes nothing


def _widget_notebook(models):
    nb = nbformat.v4.new_notebook()
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {
        mid: {"model_name": name, "state": state} for mid, (name, state) in models.items()}}}
    return nb


def test_dead_controls_are_controls_neither_linked_nor_marked_kernel_only():
    from landscape.publishing.notebooks import dead_controls, problems

    explore = {"d": ("DropdownModel", {"description": "arm"}), "s": ("StackModel", {"children": []}),
               "l": ("LinkModel", {"source": ["IPY_MODEL_d", "index"], "target": ["IPY_MODEL_s", "selected_index"]})}
    live = {"k": ("VBoxModel", {"_dom_classes": ["landscape-kernel-only"], "children": ["IPY_MODEL_i", "IPY_MODEL_h"]}),
            "i": ("VBoxModel", {"_dom_classes": ["widget-interact"], "children": ["IPY_MODEL_e", "IPY_MODEL_o"]}),
            "e": ("FloatLogSliderModel", {"description": "eps"}), "o": ("OutputModel", {}), "h": ("HTMLModel", {})}
    bare = {"i2": ("VBoxModel", {"_dom_classes": ["widget-interact"], "children": ["IPY_MODEL_c", "IPY_MODEL_t"]}),
            "c": ("CheckboxModel", {"description": "relative"}), "t": ("IntSliderModel", {"description": "depth"})}
    assert dead_controls(_widget_notebook(explore)) == []
    assert dead_controls(_widget_notebook({**explore, **live})) == []
    assert dead_controls(_widget_notebook({**explore, **live, **bare})) == ["Checkbox 'relative'", "IntSlider 'depth'"]
    assert dead_controls(nbformat.v4.new_notebook()) == []
    nb = _widget_notebook(bare)
    nb.cells = [nbformat.v4.new_code_cell("x", outputs=[nbformat.v4.new_output("stream", text="1")])]
    assert any("not marked kernel_only" in m and "depth" in m for m in problems(nb))


@pytest.mark.parametrize("chapter", ["adine", "dante", "hessian", "saddles", "template", "toolkit", "trajectories"])
def test_no_published_chapter_has_a_control_that_does_nothing_on_its_page(chapter):
    from pathlib import Path

    from landscape.publishing.notebooks import dead_controls

    nb = Path(__file__).resolve().parent.parent / "book" / f"{chapter}.ipynb"
    assert dead_controls(nb) == []


def verdict_strip_problems(nb) -> list[str]:
    """What is wrong with a published chapter's verdict strip: missing, after the first figure,
    or not naming every claim the chapter glued."""
    import re

    from landscape.publishing.notebooks import glued, read

    nb = read(nb)
    strip = figure = None
    for i, cell in enumerate(nb["cells"]):
        for o in cell.get("outputs", []):
            html = "".join(o.get("data", {}).get("text/html", ""))
            if strip is None and "landscape-verdict-strip" in html:
                strip = (i, html)
            if figure is None and "image/png" in o.get("data", {}):
                figure = i
    if strip is None:
        return ["no verdict strip"]
    out = [] if figure is None or strip[0] < figure else [f"the strip (cell {strip[0]}) comes after the first figure (cell {figure})"]
    ids = {k[len("claim-"):-len("-statement")] for k in glued(nb) if k.startswith("claim-") and k.endswith("-statement")}
    shown = dict(re.findall(r"<tr><td><strong>([^<]+)</strong></td><td[^>]*>([^<]+)</td>", strip[1]))
    verdicts = {i: glued(nb)[f"claim-{i}-verdict"] for i in ids}
    out += [f"claim {i}: {verdicts[i]} glued, {shown.get(i, 'absent')} in the strip" for i in sorted(ids) if shown.get(i) != verdicts[i]]
    return out if ids else out + ["no claim glued"]


def test_verdict_strip_problems_are_found():
    strip = ('<table class="landscape-verdict-strip"><tbody><tr><td><strong>0.1</strong></td>'
             '<td style="x">reproduced</td><td>why</td></tr></tbody></table>')
    html = nbformat.v4.new_output("display_data", data={"text/html": strip})
    fig = nbformat.v4.new_output("display_data", data={"image/png": "iVBOR"})
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("s", outputs=[html]), nbformat.v4.new_code_cell("f", outputs=[fig]),
                nbformat.v4.new_code_cell("g", outputs=[_glue("claim-0.1-verdict", "reproduced"),
                                                           _glue("claim-0.1-statement", "s")])]
    assert verdict_strip_problems(nb) == []
    nb.cells[2].outputs += [_glue("claim-0.2-verdict", "not reproduced"), _glue("claim-0.2-statement", "t")]
    assert verdict_strip_problems(nb) == ["claim 0.2: not reproduced glued, absent in the strip"]
    nb.cells = nb.cells[1:2] + nb.cells[:1] + nb.cells[2:3]
    assert "comes after the first figure" in verdict_strip_problems(nb)[0]
    assert verdict_strip_problems(nbformat.v4.new_notebook()) == ["no verdict strip"]


@pytest.mark.parametrize("chapter", ["adine", "dante", "hessian", "saddles", "template", "toolkit", "trajectories"])
def test_every_published_chapter_opens_with_its_verdict_strip(chapter):
    from pathlib import Path

    assert verdict_strip_problems(Path(__file__).resolve().parent.parent / "book" / f"{chapter}.ipynb") == []
