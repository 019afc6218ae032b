"""Lighter figures in the built book, at build time (the committed notebooks keep their PNGs).

Chapter figures are 2x PNGs in 24-bit colour with alpha (about 150-400 kB each); a page
of them, plus the same figures again inside the widget state of its *Explore* section,
weighed 8.5-12 MB. Plots are flat colours, lines and text: the same image in a 256-colour
palette (no dithering) is about a third of the size and looks the same at the column
width. :func:`compact_png` re-encodes one PNG that way (kept only when it is at least
:data:`MIN_GAIN` smaller); :func:`compact_site` does it for every PNG of a built site -
the files under ``_images/`` and the base64 PNGs embedded in its pages (widget state,
data URIs) - with results cached by content, so a second build costs nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import re
from pathlib import Path

from ..experiment.cache import cache_dir

__all__ = ["MIN_GAIN", "compact_png", "compact_site"]

#: a re-encoded PNG replaces the original only when it is this fraction smaller
MIN_GAIN = 0.2
_VERSION = "1"  # bump when compact_png changes its output
# "image/png": "<base64>" in JSON (widget state), and data:image/png;base64,<base64> in attributes
_EMBEDDED = re.compile(r'("image/png"\s*:\s*"|data:image/png;base64,)([A-Za-z0-9+/=\\n]{2000,})')


def compact_png(data: bytes) -> bytes:
    """``data`` as a 256-colour palette PNG (alpha kept, no dithering), or ``data`` itself when
    that is not :data:`MIN_GAIN` smaller or ``data`` is not a PNG."""
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(io.BytesIO(data))
        im.load()
    except (UnidentifiedImageError, OSError, SyntaxError):
        return data
    if im.format != "PNG" or im.mode == "P":
        return data
    q = im.convert("RGBA").quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    buf = io.BytesIO()
    q.save(buf, "PNG", optimize=True, dpi=im.info.get("dpi", (72, 72)))
    out = buf.getvalue()
    return out if len(out) <= (1 - MIN_GAIN) * len(data) else data


def _cached(data: bytes, store: Path | None) -> bytes:
    if store is None:
        return compact_png(data)
    key = hashlib.sha256(data).hexdigest()
    path = store / f"{key}.png"
    if path.is_file():
        return path.read_bytes()
    out = compact_png(data)
    store.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(out)
    tmp.replace(path)
    return out


def compact_site(outdir: str | Path) -> tuple[int, int]:
    """Re-encode every PNG of the built site under ``outdir`` with :func:`compact_png`
    (``_images/*.png`` in place, base64 PNGs inside ``*.html``). Returns the bytes before and after."""
    outdir = Path(outdir)
    root = cache_dir()
    store = None if root is None else root / f"png-{_VERSION}"
    before = after = 0
    for path in sorted((outdir / "_images").glob("*.png")):
        data = path.read_bytes()
        new = _cached(data, store)
        before, after = before + len(data), after + len(new)
        if new is not data and new != data:
            path.write_bytes(new)

    for page in sorted(outdir.rglob("*.html")):
        text = page.read_text(encoding="utf-8")
        if "image/png" not in text:
            continue

        def swap(m: re.Match) -> str:
            nonlocal before, after
            raw = m[2].replace("\\n", "")
            try:
                data = base64.b64decode(raw, validate=True)
            except (binascii.Error, ValueError):
                return m[0]
            new = _cached(data, store)
            before, after = before + len(data), after + len(new)
            return m[1] + base64.b64encode(new).decode() if new != data else m[0]

        new_text = _EMBEDDED.sub(swap, text)
        if new_text != text:
            page.write_text(new_text, encoding="utf-8")
    return before, after
