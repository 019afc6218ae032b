"""An IPython startup file for the chapters' kernels in the chapter tests (not a test).

Copied into a private IPYTHONDIR's ``profile_default/startup`` by the ``smoke_run`` fixture (conftest.py): every figure the kernel renders
to a PNG (the inline backend's figures, :func:`landscape.experiment.style.png`'s widget states)
is measured first with :func:`landscape.experiment.style.displayed_texts` and
:func:`~landscape.experiment.style.hidden_by_legends`: one JSON line each,
appended to ``$LANDSCAPE_FIGURE_LOG``.
"""

import json
import os

from matplotlib.backend_bases import FigureCanvasBase


def _log(record):
    with open(os.environ["LANDSCAPE_FIGURE_LOG"], "a") as f:
        f.write(json.dumps(record) + "\n")


def _cell():
    from IPython import get_ipython

    ip = get_ipython()
    return ip.execution_count if ip is not None else None


def _chapter():
    """The running chapter's name (``ch = page.start(<chapter>, globals())``, the first code cell)."""
    from IPython import get_ipython

    ip = get_ipython()
    ch = ip.user_ns.get("ch") if ip is not None else None
    return getattr(ch, "name", None)


_print_figure = FigureCanvasBase.print_figure


def _measured_print_figure(self, *args, **kwargs):
    from landscape.experiment import style

    fig = self.figure
    width, texts = style.displayed_texts(fig)
    titles = [t.get_text() for t in ([fig._suptitle] if fig._suptitle else []) + [ax.title for ax in fig.axes] if t.get_text()]
    _log({"kind": "figure", "chapter": _chapter(), "cell": _cell(), "width_px": float(width), "dpi": float(fig.dpi),
          "title": (titles[0] if titles else "")[:90],
          "smallest": [{"px": float(t.px), "pt": float(t.pt), "text": t.text[:40]} for t in texts[:3]],
          "hidden": [list(h) for h in style.hidden_by_legends(fig)]})
    return _print_figure(self, *args, **kwargs)


FigureCanvasBase.print_figure = _measured_print_figure
