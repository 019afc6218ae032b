"""The look every chapter's figures share: the palette, the theme, titles, and
figures turned into compact PNGs for pages that hold many of them; and the
column they are read in, with the smallest text a figure shows there.

A figure is shown at ``figure.dpi`` CSS pixels per inch (the inline backend's
retina PNGs and :func:`png` alike; the theme's is :data:`PX_PER_INCH`) and
shrunk to the article column when wider. Text of ``s`` points in a figure ``W``
inches wide (its tight bounding box) shows at
``s * dpi / 72 * min(1, COLUMN_PX / (W * dpi))`` pixels; the book's rule is that
every text a figure draws shows at least at :data:`SMALL_PX`, the body text's
``small`` size. The theme's sizes pass in a figure up to :data:`FIGURE_WIDTH` wide.

Example:
    >>> len(PALETTE), PALETTE[0]
    (8, '#0072B2')
    >>> round(displayed_px(11, 12.5), 1)  # 11-pt ticks of a 12.5-inch figure, shown 688 px wide
    8.4
    >>> displayed_px(MIN_PT, FIGURE_WIDTH) >= SMALL_PX
    True
"""

from __future__ import annotations

import io
import math
import textwrap
from dataclasses import dataclass

__all__ = ["PALETTE", "COLUMN_PX", "SMALL_PX", "PX_PER_INCH", "MIN_PT", "FIGURE_WIDTH", "set_theme", "suptitle", "fit_titles", "panels", "png",
           "displayed_px", "DisplayedText", "displayed_texts", "smallest_text", "too_small", "hidden_by_legends", "fit_legends"]

#: Colour-blind-safe palette (Okabe and Ito), used by every figure.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

#: width of the book's article column, CSS px (the built book at a 1280 px wide window)
COLUMN_PX = 688
#: the body text's ``small`` size at that width, CSS px (16 px body text, 0.9 em)
SMALL_PX = 14.4
#: CSS px per figure inch as the page shows a figure (retina PNGs at 2x ``figure.dpi``)
PX_PER_INCH = 100
#: the theme's smallest text, points: tick labels, legends, annotations
MIN_PT = 11.0
#: the widest figure, inches, in which :data:`MIN_PT` text still shows at :data:`SMALL_PX`
#: (its PNG, with the 0.1-inch padding of a tight bounding box on each side, no wider than the column)
FIGURE_WIDTH = 6.6

_SIZES = {  # points: every named size at least MIN_PT, so "small" and friends are never smaller
    "font.size": 12.0, "axes.labelsize": 12.0, "axes.titlesize": 12.0, "figure.titlesize": 12.5,
    "xtick.labelsize": MIN_PT, "ytick.labelsize": MIN_PT, "legend.fontsize": MIN_PT, "legend.title_fontsize": MIN_PT,
}


def set_theme() -> None:
    """The book's figure theme: seaborn 'whitegrid', :data:`PALETTE`, text sizes that pass the column
    (:data:`MIN_PT` and up), figures :data:`FIGURE_WIDTH` wide by default, 2x PNGs, and in IPython
    every legend moved off the data it would hide as the figure is shown (:func:`fit_legends`)."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", palette=PALETTE)
    mpl.rcParams.update({"figure.dpi": PX_PER_INCH, "savefig.dpi": 2 * PX_PER_INCH, "figure.figsize": (FIGURE_WIDTH, 3.6),
                         **_SIZES})
    try:  # inline figures as 2x PNGs: sharp in the HTML at the book's width
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")
    except ImportError:  # outside IPython
        pass
    _fit_legends_when_shown()


def _fill(text: str, width: int) -> str:
    """``text`` wrapped to ``width`` characters, never inside ``$...$`` maths nor at a hyphen."""
    import re

    joined = " ".join(text.split())
    kept = re.sub(r"\$[^$]*\$", lambda m: m.group(0).replace(" ", "\x00"), joined)
    return textwrap.fill(kept, width, break_on_hyphens=False, break_long_words=False).replace("\x00", " ")


def suptitle(fig, text: str, width: int | None = None) -> None:
    """A figure title wrapped to ``width`` characters (default: what fits the figure's width)."""
    fig.suptitle(_fill(text, width or max(40, int(fig.get_figwidth() * 10))))


def fit_titles(fig) -> None:
    """Wrap each axes title to its axes' width and the figure's title to the figure's width
    (long titles of side-by-side panels otherwise run into each other at the theme's sizes)."""

    def chars(width_in: float, size: float) -> int:
        return max(16, int(width_in * 72 / (0.55 * size)))

    for ax in fig.axes:
        t = ax.title
        if not t.get_text():
            continue
        spec = ax.get_subplotspec()
        if spec is not None:  # the panel's share of the figure, less its tick labels
            width = fig.get_figwidth() * len(spec.colspan) / spec.get_gridspec().ncols - 0.5
        else:
            width = ax.get_position().width * fig.get_figwidth()
        t.set_text(_fill(t.get_text(), chars(width, t.get_fontsize())))
    if fig._suptitle is not None and fig._suptitle.get_text():
        t = fig._suptitle
        t.set_text(_fill(t.get_text(), chars(fig.get_figwidth() * 0.96, t.get_fontsize())))


def panels(n: int, *, height: float, ncols: int = 2, width: float | None = None, **kwargs):
    """A figure of ``n`` panels in rows of ``ncols`` (default two), :data:`FIGURE_WIDTH` wide, each
    row ``height`` inches; returns the figure and the ``rows x ncols`` axes, those past ``n`` hidden."""
    import matplotlib.pyplot as plt

    cols = max(1, min(n, ncols))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width or FIGURE_WIDTH, height * rows), squeeze=False, **kwargs)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def png(fig, *, dpi: float = 100, colors: int | None = None):
    """The figure as a PNG :class:`IPython.display.Image` (the figure is closed), shown at
    ``figure.dpi`` CSS px per inch like the inline figures (so :func:`too_small` holds of it too),
    its legends moved off the data first (:func:`fit_legends`), as the inline figures' are.

    Args:
        dpi: the resolution it is drawn at (100: a quarter of the pixels of the
            book's retina figures - for widgets, whose figures all go into the page;
            a figure :data:`FIGURE_WIDTH` wide is then about as wide as the column).
        colors: quantize to a palette of this many colours (about a sixth of an RGBA PNG's size).
    """
    import matplotlib.pyplot as plt
    from IPython.display import Image

    shown = fig.dpi
    fit_legends(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    data = buf.getvalue()
    from PIL import Image as PILImage

    im = PILImage.open(io.BytesIO(data))
    width = int(round(im.width * shown / dpi))
    if colors is not None:
        im = im.convert("RGB").quantize(colors=colors, method=PILImage.Quantize.FASTOCTREE)
        out = io.BytesIO()
        im.save(out, format="png", optimize=True)
        data = out.getvalue()
    return Image(data=data, format="png", width=width)


def displayed_px(size_pt: float, width_in: float, *, dpi: float = PX_PER_INCH, column_px: float = COLUMN_PX) -> float:
    """CSS px at which text of ``size_pt`` points shows in a figure ``width_in`` inches wide,
    shown at ``dpi`` CSS px per inch and shrunk to ``column_px`` when wider."""
    return size_pt * dpi / 72.0 * min(1.0, column_px / (width_in * dpi))


@dataclass(frozen=True, order=True)
class DisplayedText:
    """One text a figure draws: its size in points and as shown in the column (CSS px)."""

    px: float
    pt: float
    text: str


def _renderer(fig):
    """An off-screen Agg renderer the size of the figure (not yet drawn on)."""
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(int(math.ceil(fig.bbox.width)), int(math.ceil(fig.bbox.height)), fig.dpi)


def _drawn(fig):
    """The figure drawn once off screen (its legends placed, its layout done); the renderer."""
    renderer = _renderer(fig)
    fig.draw(renderer)
    return renderer


def displayed_texts(fig, *, column_px: float = COLUMN_PX) -> tuple[float, list[DisplayedText]]:
    """Every text the figure draws (ticks, labels, titles, legends, annotations, colorbars:
    whatever reaches the renderer), smallest first, as shown in the column; and the width, CSS px,
    of the figure as the page shows it (its tight bounding box plus the savefig padding).

    The figure is drawn once (off screen) to see what it draws; it is not changed.
    """
    import matplotlib as mpl

    renderer = _renderer(fig)
    drawn: list[tuple[float, str]] = []
    draw_text = renderer.draw_text

    def record(gc, x, y, s, prop, angle, ismath=False, mtext=None):
        if str(s).strip():
            drawn.append((prop.get_size_in_points(), str(s)))
        return draw_text(gc, x, y, s, prop, angle, ismath=ismath, mtext=mtext)

    renderer.draw_text = record
    fig.draw(renderer)
    pad = mpl.rcParams["savefig.pad_inches"]
    width_in = fig.get_tightbbox(renderer).width + 2 * pad
    texts = sorted(DisplayedText(float(displayed_px(pt, width_in, dpi=fig.dpi, column_px=column_px)), float(pt), s) for pt, s in drawn)
    return float(width_in * fig.dpi), texts


def smallest_text(fig, *, column_px: float = COLUMN_PX) -> DisplayedText | None:
    """The smallest text the figure shows in the column (None: it draws no text)."""
    texts = displayed_texts(fig, column_px=column_px)[1]
    return texts[0] if texts else None


def too_small(fig, *, column_px: float = COLUMN_PX, small_px: float = SMALL_PX) -> list[DisplayedText]:
    """The texts the figure shows below ``small_px`` in the column (empty: it passes the book's rule)."""
    return [t for t in displayed_texts(fig, column_px=column_px)[1] if t.px < small_px - 1e-9]


def _data_points(ax):
    """Display coordinates (px, as drawn) of the data an axes plots: the vertices of its lines,
    the ends of its error bars and segments (line collections) and its scatter markers (filled
    bands and bars are left out: a legend over a band's edge hides no measurement)."""
    import numpy as np
    from matplotlib.collections import LineCollection, PathCollection

    pts = []
    for line in ax.get_lines():
        if line.get_visible():
            xy = np.asarray(line.get_xydata(), dtype=float)
            if xy.size:
                pts.append(line.get_transform().transform(xy))
    for coll in ax.collections:
        if not coll.get_visible():
            continue
        if isinstance(coll, PathCollection):
            offsets = np.asarray(coll.get_offsets(), dtype=float)
            if offsets.size:
                pts.append(coll.get_offset_transform().transform(offsets))
        elif isinstance(coll, LineCollection):
            for path in coll.get_paths():
                if len(path.vertices):
                    pts.append(coll.get_transform().transform(path.vertices))
    if not pts:
        return np.empty((0, 2))
    out = np.concatenate(pts)
    return out[np.isfinite(out).all(axis=1)]


def _inside(pts, box):
    """Which of the points (n, 2), display px, lie strictly inside the box."""
    return (pts[:, 0] > box.x0) & (pts[:, 0] < box.x1) & (pts[:, 1] > box.y0) & (pts[:, 1] < box.y1)


def _hidden(ax, legends, renderer) -> tuple[int, int]:
    """Of the data points ``ax`` draws inside itself (its edges included), how many lie under any
    of ``legends``, and how many there are."""
    import numpy as np

    pts = _data_points(ax)
    pts = pts[_inside(pts, ax.get_window_extent(renderer).padded(0.5))]
    hidden = np.zeros(len(pts), dtype=bool)
    for lg in legends:
        hidden |= _inside(pts, lg.get_window_extent(renderer))
    return int(hidden.sum()), len(pts)


def hidden_by_legends(fig) -> list[tuple[str, int, int]]:
    """Data that a legend draws over: for each axes whose points (:func:`_data_points`) fall
    inside a legend's box (its own legend, another axes' legend moved over it, or a figure
    legend), ``(axes title or y label, points hidden, points plotted)``. Empty: no legend hides data.

    The figure is drawn once (off screen, as :func:`displayed_texts` does) to place the legends."""
    renderer = _drawn(fig)
    shown = [ax for ax in fig.axes if ax.get_visible()]
    legends = [lg for lg in [*(ax.get_legend() for ax in shown), *fig.legends] if lg is not None and lg.get_visible()]
    out = []
    for ax in shown if legends else []:
        hidden, total = _hidden(ax, legends, renderer)
        if hidden:
            name = ax.get_title() or ax.get_ylabel() or f"axes {fig.axes.index(ax)}"
            out.append((name.replace("\n", " ")[:60], hidden, total))
    return out


def fit_legends(fig) -> None:
    """Move each axes legend that hides data (:func:`hidden_by_legends`) to where it hides none:
    first matplotlib's ``"best"`` place inside its axes (the corner or edge over the fewest data
    points); when every place inside covers some, below the axes, under its tick labels and x
    label, in as many columns as fit the axes' width. The figure grows by the legends moved below
    its panels (the tallest of each row), and constrained layout makes the room, so the panels
    keep their size. Call it last, when the figure is complete.
    """
    import matplotlib.transforms as mtransforms
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    grow: dict = {}  # per row of panels: the height, inches, of the tallest legend moved below one
    renderer = _drawn(fig)
    for ax in fig.axes:
        lg = ax.get_legend()
        if lg is None or not ax.get_visible() or not lg.get_visible() or not _hidden(ax, [lg], renderer)[0]:
            continue
        lg.set_loc("best")
        renderer = _drawn(fig)
        if not _hidden(ax, [lg], renderer)[0]:
            continue
        lg.set_visible(False)
        below = ax.get_window_extent(renderer).y0 - ax.get_tightbbox(renderer).y0  # ticks and x label, px
        lg.set_visible(True)
        handles, labels = lg.legend_handles, [t.get_text() for t in lg.get_texts()]
        width = ax.get_window_extent(renderer).width
        entry = max(t.get_window_extent(renderer).width for t in lg.get_texts()) + 3 * lg.prop.get_size_in_points() * fig.dpi / 72
        ncol = max(1, min(len(labels), int(width // entry)))
        anchor = mtransforms.offset_copy(ax.transAxes, fig=fig, y=-(below + 2) * 72 / fig.dpi, units="points")
        new = ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, 0.0), bbox_transform=anchor, ncol=ncol,
                        title=lg.get_title().get_text() or None)
        new.set_in_layout(True)
        spec = ax.get_subplotspec()
        row = spec.rowspan.stop if spec is not None else id(ax)
        height = new.get_window_extent(_drawn(fig)).height / fig.dpi + 0.1
        grow[row] = max(grow.get(row, 0.0), height)
    if grow:  # the figure grows by each row's legend, so that its panels keep their size
        fig.set_figheight(fig.get_figheight() + sum(grow.values()))
    if grow and not isinstance(fig.get_layout_engine(), ConstrainedLayoutEngine):
        try:  # a figure laid out once by tight_layout (or not at all): constrained layout makes room for it
            fig.set_layout_engine("constrained")
        except RuntimeError:  # colorbars made for the old layout: lay it out again as it was
            fig.tight_layout()
        else:
            st = fig._suptitle  # a title placed by hand above a tight layout (y=1.04): the layout places it now
            if st is not None and st.get_text():
                fig.suptitle(st.get_text(), fontsize=st.get_fontsize(), fontweight=st.get_fontweight())


def _fit_legends_when_shown() -> None:
    """In IPython, run :func:`fit_legends` on every figure as it is turned into the page's PNG
    (the ``image/png`` display formatter of matplotlib figures, which the inline backend and
    ``display(fig)`` use). Idempotent; nothing outside IPython."""
    try:
        from IPython import get_ipython
        from matplotlib.figure import Figure
    except ImportError:
        return
    ip = get_ipython()
    if ip is None:
        return
    fmt = ip.display_formatter.formatters["image/png"]
    try:
        shown = fmt.lookup_by_type(Figure)
    except KeyError:
        return
    if getattr(shown, "fits_legends", False):
        return

    def fitted(fig, *args, **kwargs):
        fit_legends(fig)
        return shown(fig, *args, **kwargs)

    fitted.fits_legends = True
    fmt.for_type(Figure, fitted)
