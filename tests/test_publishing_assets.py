"""The book's offline front-end files: tarballs are checked against the pinned integrity, and
extraction never leaves the vendor folder."""

from __future__ import annotations

import io
import tarfile

import pytest

from landscape.publishing import assets


def _tarball(path, members: dict[str, bytes]):
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_a_cached_tarball_must_match_its_integrity(tmp_path, monkeypatch):
    store = tmp_path / "store"
    store.mkdir()
    good = _tarball(store / "pkg-1.0.0.tgz", {"package/a.js": b"ok"})
    monkeypatch.setitem(assets.INTEGRITY, "pkg", assets.integrity(good))
    monkeypatch.setattr(assets.shutil, "which", lambda name: None)  # no npm: only the store
    assert assets._tarball("pkg", "1.0.0", store) == good
    good.write_bytes(good.read_bytes() + b"tampered")
    assert assets._tarball("pkg", "1.0.0", store) is None and not good.exists()  # refused, and dropped


def test_extraction_refuses_paths_that_leave_the_folder(tmp_path):
    bad = _tarball(tmp_path / "bad.tgz", {"package/dist/../../../escape.js": b"x"})
    with pytest.raises(ValueError, match="must stay inside the package"):
        assets._extract(bad, {"dist/": "html-manager/"}, tmp_path / "vendor")
    assert not (tmp_path / "escape.js").exists()
    ok = _tarball(tmp_path / "ok.tgz", {"package/dist/x/y.js": b"y", "package/dist/y.js.map": b"m"})
    assets._extract(ok, {"dist/": "html-manager/"}, tmp_path / "vendor")
    assert (tmp_path / "vendor" / "html-manager" / "x" / "y.js").read_bytes() == b"y"
    assert not (tmp_path / "vendor" / "html-manager" / "y.js.map").exists()


def test_the_pinned_integrities_cover_every_package():
    assert set(assets.INTEGRITY) == set(assets.PACKAGES)
    assert all(v.startswith("sha512-") for v in assets.INTEGRITY.values())
