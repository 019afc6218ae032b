import pickle
import zipfile

import numpy as np
import pytest
import torch

from landscape import cache
from landscape.cache import CacheError, cached, load_tree, save_tree


def _counter():
    calls = {"n": 0}

    @cached("test/square")
    def square(*, x: int, scale: float = 1.0) -> dict:
        calls["n"] += 1
        return {"y": torch.arange(3, dtype=torch.float64) * x * scale, "n": calls["n"]}

    return square, calls


def test_tree_round_trip(tmp_path):
    tree = {
        "t": torch.randn(3, 2, dtype=torch.float64),
        "bf": torch.ones(2, dtype=torch.bfloat16),
        "i": torch.arange(4),
        "a": np.arange(5, dtype=np.int16),
        "nested": {"list": [1, 2.5, "x", None, float("nan")], "tuple": (1, (2, 3))},
        "flag": True,
    }
    save_tree(tmp_path / "r.npz", tree, key="k")
    back = load_tree(tmp_path / "r.npz", key="k")
    assert torch.equal(back["t"], tree["t"]) and back["t"].dtype == torch.float64
    assert back["bf"].dtype == torch.bfloat16 and torch.equal(back["bf"], tree["bf"])
    assert torch.equal(back["i"], tree["i"]) and np.array_equal(back["a"], tree["a"]) and back["a"].dtype == np.int16
    assert back["nested"]["list"][:4] == [1, 2.5, "x", None] and np.isnan(back["nested"]["list"][4])
    assert back["nested"]["tuple"] == (1, (2, 3)) and back["flag"] is True
    with pytest.raises(CacheError, match="holds key"):
        load_tree(tmp_path / "r.npz", key="other")


def test_hit_miss_and_key_change():
    square, calls = _counter()
    first = square(x=2)
    assert calls["n"] == 1 and square.path(x=2).exists()
    again = square(x=2)
    assert calls["n"] == 1 and torch.equal(again["y"], first["y"])
    assert square(x=2, scale=1.0)["n"] == 1  # defaults count as given
    square(x=3)
    assert calls["n"] == 2
    square(x=2, scale=2.0)
    assert calls["n"] == 3


def test_code_change_recomputes(monkeypatch):
    square, calls = _counter()
    square(x=2)
    monkeypatch.setattr(cache, "code_version", lambda: "a different library")
    square(x=2)
    assert calls["n"] == 2


def test_corrupt_file_is_recomputed():
    square, calls = _counter()
    square(x=2)
    path = square.path(x=2)
    path.write_bytes(b"not a zip file at all")
    assert square(x=2)["n"] == 2
    # truncated file too
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    assert square(x=2)["n"] == 3


def test_no_pickle_is_ever_loaded(tmp_path):
    """A cache file holding a pickled object is refused, never unpickled, then recomputed."""
    square, calls = _counter()
    square(x=2)
    path = square.path(x=2)
    marker = tmp_path / "unpickled"

    class Evil:
        def __reduce__(self):
            return (marker.touch, ())

    obj = np.empty(1, dtype=object)
    obj[0] = Evil()
    meta = np.frombuffer(b'{"key": "%s", "tree": {"__array__": "a0"}}' % path.stem.encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, a0=obj, __meta__=meta)
    with pytest.raises(CacheError):
        load_tree(path)
    assert square(x=2)["n"] == 2
    assert not marker.exists()
    with pytest.raises(TypeError, match="object arrays"):
        save_tree(tmp_path / "o.npz", {"o": obj})


def test_write_is_atomic(monkeypatch):
    square, calls = _counter()
    square(x=2)
    path = square.path(x=2)
    good = path.read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(KeyboardInterrupt):
        save_tree(path, {"y": 1}, key=path.stem)
    assert path.read_bytes() == good  # the old file is intact
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no temporary left


def test_disabled_cache_and_bad_arguments(monkeypatch):
    monkeypatch.setenv("LANDSCAPE_CACHE", "off")
    square, calls = _counter()
    square(x=2)
    square(x=2)
    assert calls["n"] == 2 and square.path(x=2) is None

    @cached("test/bad")
    def bad(*, f):
        return {}

    monkeypatch.delenv("LANDSCAPE_CACHE")
    with pytest.raises(TypeError, match="cache key"):
        bad(f=object())
