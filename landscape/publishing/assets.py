"""Front-end files the built book serves itself, so it renders offline.

Jupyter Book's HTML loads MathJax 3, require.js and the Jupyter widgets HTML
manager from CDNs; with no network the maths stays raw TeX and the widgets
do not appear. :func:`ensure` fetches pinned versions from the npm registry
(``npm pack``, cached in ``$LANDSCAPE_CACHE/npm``) and unpacks the files the
pages need into a vendor folder; the Sphinx extension
:mod:`landscape.publishing.sphinxext` then points the book at them. Without npm (and
no cached packages) the book falls back to the CDNs, with a visible warning.

The html-manager 1.0.x series matches ipywidgets 8.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from ..experiment.cache import cache_dir

__all__ = ["PACKAGES", "INTEGRITY", "PATCHES", "ensure", "integrity", "patch", "VENDOR_NAME"]

log = logging.getLogger(__name__)

#: npm package -> (version, {path inside the package: path under the vendor folder})
PACKAGES: dict[str, tuple[str, dict[str, str]]] = {
    "requirejs": ("2.3.8", {"require.js": "require.js"}),
    "@jupyter-widgets/html-manager": ("1.0.6", {"dist/": "html-manager/"}),
    "mathjax": ("3.2.2", {"es5/": "mathjax/"}),
}
#: npm package -> the registry's ``dist.integrity`` of that version (``npm view <pkg>@<version> dist.integrity``):
#: a tarball, fetched or cached, is used only when its SHA-512 matches
INTEGRITY: dict[str, str] = {
    "requirejs": "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
    "@jupyter-widgets/html-manager": "sha512-+Mn+Ra8wyIHrYaUpfmf9A3dsLkt/NuwzPQN8sthdxBD35VV5cOJbpmgMhNR27n/rmP3mKyEe0PWCJrtZrXTXDQ==",
    "mathjax": "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
}
#: Loaded after require.js and before the widget manager: maps the manager's
#: AMD module names to the vendor folder, so the files it loads relative to
#: them (icon fonts) come from this site, not from a path beside the page.
REQUIRE_CONFIG = """(function () {
  var src = document.currentScript.src;
  var base = src.slice(0, src.lastIndexOf("/") + 1) + "html-manager/";
  window.require.config({paths: {
    "@jupyter-widgets/html-manager/dist": base.slice(0, -1),
    "@jupyter-widgets/html-manager": base + "html-manager",
    "@jupyter-widgets/base": base + "base",
    "@jupyter-widgets/controls": base + "controls",
    "@jupyter-widgets/output": base + "output"
  }});
})();
"""

#: Edits of vendored files: path under the vendor folder -> [(regular expression, replacement)].
#: Each is (pattern, replacement, how many matches it must have): :func:`patch` raises otherwise, so a new version that moved the
#: code is noticed at build time, not in a reader's console).
#:
#: The widget manager validates the embedded widget state with ajv, created with no options; ajv's
#: strict mode then logs a warning on every widget page ("use allowUnionTypes to allow union type
#: keyword ..."), for a union type in ipywidgets' own state schema. ``allowUnionTypes`` accepts it.
PATCHES: dict[str, list[tuple[str, str, int]]] = {
    f"html-manager/{name}": [(r"(\b[A-Za-z_$][\w$]*)=new\(([A-Za-z_$][\w$]*)\(\)\)(?=[;,](?:[A-Za-z_$][\w$]*=)?\1\.compile\()",
                               r"\1=new(\2())({allowUnionTypes:!0})", 2)]   # two bundled copies of the state validator
    for name in ("embed-amd.js", "libembed-amd.js")
}

#: the folder name under the static path (never ``_static``: Jupyter Book would add a script tag for each file)
VENDOR_NAME = "landscape-vendor"


def integrity(path: Path) -> str:
    """The npm-style integrity string of a file: ``sha512-<base64 of its SHA-512>``."""
    h = hashlib.sha512()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return "sha512-" + base64.b64encode(h.digest()).decode()


def _tarball(package: str, version: str, store: Path) -> Path | None:
    """The package's tarball, from the store or fetched with ``npm pack``, checked against
    :data:`INTEGRITY`; None when npm is missing or fails, or the tarball does not match."""
    name = f"{package.lstrip('@').replace('/', '-')}-{version}.tgz"
    path = store / name
    want = INTEGRITY.get(package)
    if path.is_file():
        if want is None or integrity(path) == want:
            return path
        log.warning(f"{path}: its SHA-512 does not match the registry's integrity for {package}@{version}; fetching it again")
        path.unlink()
    npm = shutil.which("npm")
    if npm is None:
        return None
    store.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=store) as tmp:
        proc = subprocess.run([npm, "pack", f"{package}@{version}", "--silent", "--pack-destination", tmp], capture_output=True, text=True, timeout=300)
        got = Path(tmp) / name
        if proc.returncode != 0 or not got.is_file():
            log.warning(f"npm pack {package}@{version} failed: {proc.stderr.strip()[-500:]}")
            return None
        if want is not None and integrity(got) != want:
            log.warning(f"npm pack {package}@{version}: the tarball's SHA-512 does not match the pinned integrity; not used")
            return None
        got.replace(path)
    return path


def _extract(tarball: Path, mapping: dict[str, str], target: Path) -> None:
    """Copy the mapped files of ``tarball`` under ``target``; a member whose path would leave
    ``target`` (an absolute path, or one with ``..``) is refused."""
    root = target.resolve()
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            if not member.isfile():
                continue
            inner = member.name.split("/", 1)[1] if "/" in member.name else member.name
            for src, dst in mapping.items():
                if inner == src or (src.endswith("/") and inner.startswith(src)):
                    rel = dst + inner[len(src):] if src.endswith("/") else dst
                    if rel.endswith(".map"):
                        continue
                    out = (target / rel).resolve()
                    if Path(rel).is_absolute() or ".." in Path(rel).parts or not out.is_relative_to(root):
                        raise ValueError(f"Invalid member of {tarball.name}: {member.name!r} (must stay inside the package)")
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with tar.extractfile(member) as f:  # type: ignore[union-attr]
                        out.write_bytes(f.read())


def patch(folder: Path, patches: dict[str, list[tuple[str, str, int]]] | None = None) -> None:
    """Apply :data:`PATCHES` (or ``patches``) to the files under ``folder``.

    Raises:
        ValueError: a patched file is missing, or a pattern does not match it as many times as stated.
    """
    import re

    for rel, edits in (PATCHES if patches is None else patches).items():
        path = folder / rel
        if not path.is_file():
            raise ValueError(f"Invalid patch target: {rel} (must be a vendored file; the package changed?)")
        text = path.read_text(encoding="utf-8")
        for pattern, repl, want in edits:
            text, n = re.subn(pattern, repl, text)
            if n != want:
                raise ValueError(f"Invalid patch of {rel}: {pattern!r} matched {n} times "
                                 f"(must match {want} times in the pinned version)")
        path.write_text(text, encoding="utf-8")


def ensure(root: str | Path) -> Path | None:
    """Make ``root/landscape-vendor`` hold every pinned package's files.

    Returns the folder to add to ``html_static_path`` (``root``), or None when
    some package could not be had (no npm and nothing cached).
    """
    root = Path(root)
    target = root / VENDOR_NAME
    stamp = target / ".versions"
    want = "\n".join(f"{p}@{v}" for p, (v, _) in sorted(PACKAGES.items())) + "\nconfig " + hashlib.sha256((REQUIRE_CONFIG + repr(PATCHES)).encode()).hexdigest()[:12]
    if stamp.is_file() and stamp.read_text() == want:
        return root
    store = (cache_dir() or Path(tempfile.gettempdir()) / "landscape-cache") / "npm"
    tarballs = {p: _tarball(p, v, store) for p, (v, _) in PACKAGES.items()}
    if any(t is None for t in tarballs.values()):
        return None
    tmp = Path(tempfile.mkdtemp(dir=root.parent if root.parent.exists() else None, prefix=".vendor-"))
    try:
        for package, (version, mapping) in PACKAGES.items():
            _extract(tarballs[package], mapping, tmp / VENDOR_NAME)  # type: ignore[arg-type]
        patch(tmp / VENDOR_NAME)
        (tmp / VENDOR_NAME / "require-config.js").write_text(REQUIRE_CONFIG)
        (tmp / VENDOR_NAME / ".versions").write_text(want)
        root.mkdir(parents=True, exist_ok=True)
        if target.exists():
            shutil.rmtree(target)
        (tmp / VENDOR_NAME).replace(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return root
