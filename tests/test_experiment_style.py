"""The column rule of experiment.style: what a figure's text measures when the page shows it."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from landscape.experiment import style  # noqa: E402


@pytest.fixture(autouse=True)
def _theme():
    with matplotlib.rc_context():
        style.set_theme()
        yield
    plt.close("all")


def test_displayed_px_is_the_size_shrunk_to_the_column():
    assert style.displayed_px(11, 6.0) == pytest.approx(11 * 100 / 72)  # narrower than the column: as drawn
    assert style.displayed_px(11, 12.5) == pytest.approx(11 * 100 / 72 * 688 / 1250)  # shrunk to 688 px
    assert style.displayed_px(10, 6.0) < style.SMALL_PX < style.displayed_px(style.MIN_PT, style.FIGURE_WIDTH + 0.2)


def test_a_theme_figure_of_the_column_width_passes():
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1], label="a line")
    ax.set(xlabel="x", ylabel="y", title="a title")
    ax.legend()
    assert fig.get_figwidth() == style.FIGURE_WIDTH
    width, texts = style.displayed_texts(fig)
    assert width <= style.COLUMN_PX
    assert {t.text for t in texts} >= {"x", "y", "a title", "a line"}
    assert style.too_small(fig) == []
    assert style.smallest_text(fig).pt == style.MIN_PT  # the tick labels and the legend


def test_small_text_and_wide_figures_fail():
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    ax.annotate("tiny", (0.5, 0.5), fontsize="x-small")
    small = style.too_small(fig)
    assert [t.text for t in small] == ["tiny"] and small[0].px == pytest.approx(12 * 0.694 * 100 / 72, rel=1e-2)
    wide, ax = plt.subplots(figsize=(12.5, 3))
    ax.plot([0, 1])
    width, texts = style.displayed_texts(wide)
    assert width > 1000  # the tight box (margins cropped as the inline backend crops them), padded
    assert texts[0].px == pytest.approx(style.displayed_px(11, width / 100), rel=1e-6) and texts[0].px < 10.5
    assert style.too_small(wide)


def test_invisible_and_empty_texts_are_not_counted():
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    ax.text(0.5, 0.5, "hidden", fontsize=4, visible=False)
    ax.text(0.2, 0.2, "   ", fontsize=4)
    assert style.too_small(fig) == []


def test_fit_titles_wraps_to_the_panel_and_keeps_maths_whole():
    fig, (a, b) = plt.subplots(1, 2)
    a.set_title("numerical rank ($s_i > 0.001\\, s_1$) of the product along the whole of training")
    b.set_title("short")
    style.fit_titles(fig)
    lines = a.get_title().split("\n")
    assert len(lines) > 1 and any("$s_i > 0.001\\, s_1$" in line for line in lines)
    assert b.get_title() == "short"


def test_panels_wraps_into_rows_of_two():
    fig, axes = style.panels(3, height=2.0)
    assert axes.shape == (2, 2) and [ax.get_visible() for ax in axes.flat] == [True, True, True, False]
    assert tuple(fig.get_size_inches()) == pytest.approx((style.FIGURE_WIDTH, 4.0))


def test_png_is_shown_at_the_figures_size():
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    width = style.displayed_texts(fig)[0]
    img = style.png(fig, dpi=50, colors=64)
    assert abs(img.width - width) <= 2  # drawn at 50 dpi, shown at the figure's 100 px per inch
    assert not plt.fignum_exists(fig.number)


def test_hidden_by_legends_counts_the_points_under_a_legend():
    import numpy as np

    x = np.linspace(0.0, 1.0, 41)
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot(x, x, label="diagonal")
    ax.set(xlim=(0, 1), ylim=(0, 1), title="t")
    leg = ax.legend(loc="center")
    [(name, hidden, total)] = style.hidden_by_legends(fig)
    box = leg.get_window_extent(fig.canvas.get_renderer()).transformed(ax.transData.inverted())
    inside = int(((x > box.x0) & (x < box.x1) & (x > box.y0) & (x < box.y1)).sum())  # the same count, in data coordinates
    assert (name, total) == ("t", 41) and hidden == inside > 0
    leg.set_loc("upper left")                                    # the diagonal leaves that corner free
    assert style.hidden_by_legends(fig) == []
    plt.close(fig)


def test_hidden_by_legends_sees_scatter_and_error_bars_and_figure_legends():
    fig, (a, b) = plt.subplots(1, 2, figsize=(6, 3))
    for ax in (a, b):
        ax.set(xlim=(0, 1), ylim=(0, 1))
    a.scatter([0.5], [0.5], label="point")
    a.legend(loc="center")
    b.errorbar([0.5], [0.5], yerr=[0.05], fmt="none", label="bar")   # an error bar alone: a line collection
    assert [h[:2] for h in style.hidden_by_legends(fig)] == [("axes 0", 1)]
    fig.legend(loc="center", bbox_to_anchor=b.get_position())     # a figure legend over the right panel
    got = dict((h[0], h[1]) for h in style.hidden_by_legends(fig))
    assert got["axes 0"] == 1 and got["axes 1"] == 2               # both ends of the bar
    plt.close(fig)


@pytest.mark.parametrize("layout", [None, "tight", "constrained"])
def test_fit_legends_moves_a_legend_off_the_data_inside_or_below(layout):
    import numpy as np

    x = np.linspace(0.0, 1.0, 41)
    fig, (a, b, c) = plt.subplots(3, 1, figsize=(4, 7), layout=None if layout == "tight" else layout)
    a.plot(x, x, label="diagonal")                   # a free corner: "best" finds it
    a.legend(loc="center")
    for k in range(4):                               # no free place inside: the legend goes below
        b.plot(x, np.sin(6 * x + k) * (1 + k), label=f"curve {k}")
    b.set_xlabel("x")
    b.legend(loc="center")
    c.plot(x, 1 - x)
    c.set_title("the next panel")
    a.set_title("the first panel")
    if layout == "tight":
        fig.tight_layout()
        fig.suptitle("a title placed by hand\nabove the tight layout, two lines", y=1.04)
    assert len(style.hidden_by_legends(fig)) == 2
    style.fit_legends(fig)
    assert style.hidden_by_legends(fig) == []
    r = fig.canvas.get_renderer()
    fig.draw(r)
    below = b.get_legend().get_window_extent(r)
    assert below.y1 <= b.xaxis.label.get_window_extent(r).y0 + 1      # under the x label, not over it
    assert below.y0 >= c.title.get_window_extent(r).y1 - 1            # above the next panel's title: room was made
    assert a.get_legend().get_window_extent(r).y0 >= a.get_window_extent(r).y0  # the first stayed inside
    if layout == "tight":                                              # the new layout places the title too
        assert fig._suptitle.get_window_extent(r).y0 >= a.title.get_window_extent(r).y1 - 1
    plt.close(fig)


def test_a_legend_moved_over_another_panel_hides_its_data():
    import numpy as np

    x = np.linspace(0.0, 1.0, 41)
    fig, (a, b) = plt.subplots(2, 1, figsize=(4, 5))
    a.plot(x, x, label="a")
    b.plot(x, x)
    b.set_title("below")
    a.legend(loc="center", bbox_to_anchor=(0.5, -0.7))           # drawn over the lower panel's diagonal
    assert [h[0] for h in style.hidden_by_legends(fig)] == ["below"]
    plt.close(fig)


def test_png_fits_legends_before_it_draws():
    import numpy as np

    fig, ax = plt.subplots(figsize=(4, 3))
    x = np.linspace(0.0, 1.0, 41)
    ax.plot(x, x, label="diagonal")
    ax.legend(loc="center")
    style.png(fig)
    assert style.hidden_by_legends(fig) == []


def test_in_ipython_every_shown_figure_has_its_legends_fitted():
    import numpy as np
    from IPython.core.interactiveshell import InteractiveShell
    from matplotlib.figure import Figure

    ip = InteractiveShell.instance()
    try:
        fmt = ip.display_formatter.formatters["image/png"]
        style.set_theme()
        first = fmt.lookup_by_type(Figure)
        style._fit_legends_when_shown()                             # idempotent: the wrapper is not wrapped again
        assert first.fits_legends and fmt.lookup_by_type(Figure) is first
        fig, ax = plt.subplots(figsize=(4, 3))
        x = np.linspace(0.0, 1.0, 41)
        ax.plot(x, x, label="diagonal")
        ax.legend(loc="center")
        assert fmt(fig) is not None and style.hidden_by_legends(fig) == []
        plt.close(fig)
    finally:
        InteractiveShell.clear_instance()
