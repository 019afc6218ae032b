"""The look every chapter's figures share: the palette, the theme, titles, and
figures turned into compact PNGs for pages that hold many of them.

Example:
    >>> len(PALETTE), PALETTE[0]
    (8, '#0072B2')
"""

from __future__ import annotations

import io
import textwrap

__all__ = ["PALETTE", "set_theme", "suptitle", "png"]

#: Colour-blind-safe palette (Okabe and Ito), used by every figure.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]


def set_theme() -> None:
    """The book's figure theme: seaborn 'whitegrid', :data:`PALETTE`, readable sizes, 2x PNGs."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", palette=PALETTE)
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 200, "figure.figsize": (7.0, 3.6), "axes.titlesize": "medium"})
    try:  # inline figures as 2x PNGs: sharp in the HTML at the book's width
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")
    except ImportError:  # outside IPython
        pass


def suptitle(fig, text: str, width: int | None = None) -> None:
    """A figure title wrapped to ``width`` characters (default: the figure's width)."""
    fig.suptitle(textwrap.fill(text, width or max(40, int(fig.get_figwidth() * 12))), fontsize="medium")


def png(fig, *, dpi: float = 100, colors: int | None = None, display_dpi: float | None = None):
    """The figure as a PNG :class:`IPython.display.Image` (the figure is closed).

    Args:
        dpi: the resolution it is drawn at (100: a quarter of the pixels of the
            book's retina figures - for widgets, whose figures all go into the page).
        colors: quantize to a palette of this many colours (about a sixth of an RGBA PNG's size).
        display_dpi: show the image at the size it would have at this resolution (a sharper image).
    """
    import matplotlib.pyplot as plt
    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    data, width = buf.getvalue(), None
    if colors is not None:
        from PIL import Image as PILImage

        im = PILImage.open(io.BytesIO(data)).convert("RGB").quantize(colors=colors, method=PILImage.Quantize.FASTOCTREE)
        out = io.BytesIO()
        im.save(out, format="png", optimize=True)
        data = out.getvalue()
        if display_dpi:
            width = int(round(im.width * display_dpi / dpi))
    return Image(data=data, format="png", width=width)
