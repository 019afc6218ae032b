"""What notebooks call: the claims table with v1 beside v2, the verdict strip, tables."""

from __future__ import annotations

import torch

from landscape.experiment.claims import beside, decide
from landscape.experiment.params import Param, Schema
from landscape.publishing.page import Chapter, table

P = Schema(profile=Param(str, "profile")).validate({"profile": "cpu"})


def _claims():
    v2 = decide("1.1", "shapes alike", 0.1, "<=", 0.5, null=0.9, detail="d(fc1) 0.1 < 1 & d(fc2) 0.2")
    v1 = decide("1.1", "shapes alike (v1)", 0.004, "<=", 0.1)
    return [beside(v2, v1, "v1 passed a point mass at zero", summary="d 0.1 vs null 0.9"),
            decide("1.2", "a middle layer", 0.0, "in", [1 / 3, 2 / 3])]


def test_claims_table_shows_v1_beside_v2_and_the_null():
    ch = Chapter("hessian", P, torch.device("cpu"))
    t = ch.show_claims(_claims())
    cols = list(t.df.columns)
    assert cols == ["id", "claim", "measured", "reproduced when", "verdict", "null scores", "v1 verdict", "why the rule changed", "detail"]
    row = t.df.iloc[0]
    assert row["verdict"] == "reproduced" and row["v1 verdict"] == "reproduced" and row["null scores"] == "0.9"
    assert row["why the rule changed"] == "v1 passed a point mass at zero" and t.df.iloc[1]["v1 verdict"] == ""
    assert [c.id for c in ch.claims] == ["1.1", "1.2"]
    html = t._repr_html_()                         # the detail is under the table, collapsed; the text keeps it
    assert "<th" in html and ">detail<" not in html and "<details><summary>1.1: how it was decided</summary>" in html
    assert "d(fc1) 0.1 &lt; 1 &amp; d(fc2) 0.2" in html and "detail" in repr(t)   # escaped


def test_verdict_strip_says_when_the_scales_disagree():
    ch = Chapter("hessian", P, torch.device("cpu"))
    html = ch.verdict_strip(_claims(), {"1.1": [("MNIST-10k", "reproduced"), ("Fashion-MNIST", "not reproduced")]}).data
    assert "cpu profile" in html and "paper's setting" in html
    assert "reproduced (MNIST-10k); not reproduced (Fashion-MNIST)" in html and "The scales disagree." in html
    assert "d 0.1 vs null 0.9" in html and "not run" in html  # 1.2 has no paper-scale verdict
    agree = ch.verdict_strip(_claims()[:1], {"1.1": [("", "reproduced")]}).data
    assert "disagree" not in agree


def test_verdict_strip_of_a_chapter_with_no_paper_setting_has_no_such_column():
    import re

    import pytest

    ch = Chapter("template", P, torch.device("cpu"))
    html = ch.verdict_strip(_claims(), scale_label=None).data
    assert "paper's setting" not in html and "not run" not in html
    assert re.findall(r"<th>([^<]*)</th>", html) == ["claim", "cpu profile", "why"]
    assert all(len(re.findall("<td", row)) == 3 for row in html.split("<tr>")[2:])   # claim, verdict, why
    with pytest.raises(ValueError, match="no paper setting"):
        ch.verdict_strip(_claims(), {"1.1": [("", "reproduced")]}, scale_label=None)


def test_table_text_and_html_are_deterministic():
    a, b = table([{"x": 1.23456, "v": "reproduced"}], {"x": "{:.2f}"}), table([{"x": 1.23456, "v": "reproduced"}], {"x": "{:.2f}"})
    assert a._repr_html_() == b._repr_html_() and "1.23" in repr(a) and "background-color" in a._repr_html_()


def test_kernel_only_marks_the_control_and_hides_its_note_under_a_kernel():
    import ipywidgets as w
    import pytest

    from landscape.publishing.page import KERNEL_NOTE, kernel_only

    slider = w.FloatSlider(value=1.0, min=0.0, max=2.0)
    box = kernel_only(slider)
    assert "landscape-kernel-only" in box._dom_classes and box.children[0] is slider
    note = box.children[1]
    assert "landscape-kernel-note" in note._dom_classes and KERNEL_NOTE in note.value
    assert note.layout.display == "none"            # JupyterLab shows no note; the book's CSS shows it
    assert not slider.disabled                      # the control itself stays live under a kernel
    assert "&lt;b&gt;" in kernel_only(w.Button(), note="<b>x</b>").children[1].value   # escaped
    with pytest.raises(TypeError, match="must be an ipywidgets widget"):
        kernel_only("not a widget")


def test_live_reruns_its_function_when_a_control_moves_and_is_kernel_only():
    import ipywidgets as w
    import pytest

    from landscape.publishing.page import live

    calls = []
    box = live(lambda n, scale: calls.append((n, scale)), n=w.IntSlider(value=2, min=0, max=5),
               scale=w.Dropdown(options=["lin", "log"], value="lin"))
    assert "landscape-kernel-only" in box._dom_classes
    inter = box.children[0]
    assert "widget-interact" in inter._dom_classes
    assert calls == [(2, "lin")]                  # drawn once, at the initial values (what the static page keeps)
    inter.children[1].value = "log"               # moving a control reruns it under a kernel
    inter.children[0].value = 4
    assert calls == [(2, "lin"), (2, "log"), (4, "log")]
    with pytest.raises(ValueError, match="at least one control"):
        live(lambda: None)
    with pytest.raises(TypeError, match="must be callable"):
        live("f", x=w.IntSlider())


def test_explore_stores_each_figure_as_one_png_sized_for_the_column():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from IPython.display import Image

    from landscape.experiment.style import COLUMN_PX, set_theme

    set_theme()
    figs = {}
    for k in ("a", "b"):
        fig, ax = plt.subplots()
        ax.plot([0, 1])
        figs[k] = fig
    shown = []
    import landscape.publishing.page as page_module

    real = page_module.png
    try:
        page_module.png = lambda f, **kw: shown.append(real(f, **kw)) or shown[-1]
        page_module.explore(figs)
    finally:
        page_module.png = real
    assert len(shown) == 2 and all(isinstance(i, Image) and 0 < i.width <= COLUMN_PX for i in shown)
    assert not any(plt.fignum_exists(f.number) for f in figs.values())
