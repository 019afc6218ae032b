"""Sphinx extension for the book (``sphinx: extra_extensions`` in ``_config.yml``).

At ``config-inited``, before myst-nb reads its settings, it makes the book
serve MathJax 3, require.js and the widgets HTML manager itself
(:func:`landscape.assets.ensure`), so pages render with no network: it adds
the vendor folder to ``html_static_path`` and points ``mathjax_path`` and
``nb_ipywidgets_js`` at the local copies. When the files cannot be had it
leaves the CDN defaults and prints a visible warning.
"""

from __future__ import annotations

import sys
from pathlib import Path

from .assets import VENDOR_NAME, ensure


def _configure(app, config) -> None:
    root = ensure(Path(app.confdir) / "_build" / "vendor")
    if root is None:
        print(
            "\n[landscape] WARNING: MathJax and the widget manager could not be fetched from the npm "
            "registry (is npm installed?); the book will load them from CDNs and needs a network to "
            "show maths and widgets.\n",
            file=sys.stderr,
        )
        return
    config.html_static_path = [*config.html_static_path, str(root)]
    config.mathjax_path = f"{VENDOR_NAME}/mathjax/tex-chtml.js"
    config.nb_ipywidgets_js = {
        f"{VENDOR_NAME}/require.js": {},
        f"{VENDOR_NAME}/require-config.js": {},
        f"{VENDOR_NAME}/html-manager/embed-amd.js": {"data-jupyter-widgets-cdn": f"{VENDOR_NAME}/missing-widget-module/"},
    }


def setup(app):
    app.connect("config-inited", _configure, priority=100)  # before myst-nb (priority 500)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
