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
