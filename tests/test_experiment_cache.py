import pickle
import zipfile

import numpy as np
import pytest
import torch

from landscape.experiment import cache
from landscape.experiment.cache import CacheError, cached, load_tree, save_tree

from conftest import REPO


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
    monkeypatch.setattr(cache, "code_version", lambda module="landscape": "a different library")
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


def test_ignored_arguments_stay_out_of_the_key():
    calls = {"n": 0}

    @cached("test/threads", ignore=("num_threads", "device"))
    def run(*, x: int, num_threads: int | None = None, device: str = "cpu") -> dict:
        calls["n"] += 1
        return {"y": x}

    run(x=1, num_threads=1)
    assert run(x=1, num_threads=2, device="cuda")["y"] == 1 and calls["n"] == 1  # a different thread count hits the cache
    run(x=2, num_threads=1)
    assert calls["n"] == 2 and run.ignored == ("num_threads", "device")
    with pytest.raises(ValueError, match=r"Invalid ignore: \['threads'\] \(must name arguments of"):
        cached("test/bad", ignore=("threads",))(lambda *, x: {"x": x})


def test_a_data_spec_counts_by_content_not_by_path(tmp_path):
    import shutil

    from landscape.experiment.cache import make_key
    from landscape.training.data import DataSpec

    src = REPO.parent / "shared" / "data" / "fashion-mnist"
    if not src.is_dir():
        pytest.skip("Fashion-MNIST is not beside the repository")
    a, b = tmp_path / "a" / "fashion-mnist", tmp_path / "b" / "fashion-mnist"
    shutil.copytree(src, a)
    shutil.copytree(src, b)
    key = lambda root, **kw: make_key("t", {"data": DataSpec("fashion-mnist", root=str(root), **kw)})
    assert key(a.parent) == key(b.parent)  # two paths, the same files
    assert key(a.parent) != key(a.parent, n_train=100)
    first = sorted(b.iterdir())[0]
    raw = bytearray(first.read_bytes())
    raw[100] ^= 0xFF
    first.chmod(0o644)
    first.write_bytes(bytes(raw))
    assert key(a.parent) != key(b.parent)  # same path layout, other content
    assert make_key("t", {"d": DataSpec("digits", root="/x")}) == make_key("t", {"d": DataSpec("digits", root="/y")})


def test_the_code_version_is_the_code_a_module_reaches():
    from landscape.experiment.sources import closure

    deps = closure("landscape.training.curves")
    assert deps == {"landscape.training.curves", "landscape.validation"}
    assert "landscape.publishing.page" not in closure("landscape.chapters.template.experiments")
    assert "landscape.training.loop" in closure("landscape.chapters.template.experiments")
    assert cache.code_version("landscape.training.curves") != cache.code_version("landscape.training.loop")


def test_an_unwritable_cache_is_a_warning_and_the_result_is_used(tmp_path, monkeypatch):
    target = tmp_path / "a-file"
    target.write_text("not a folder")
    monkeypatch.setenv("LANDSCAPE_CACHE", str(target))  # LANDSCAPE_CACHE pointing at a file
    square, calls = _counter()
    with pytest.warns(RuntimeWarning, match="the results cache could not be written"):
        out = square(x=2)
    assert calls["n"] == 1 and torch.equal(out["y"], torch.tensor([0.0, 2.0, 4.0], dtype=torch.float64))
    assert isinstance(out["n"], int)
    ro = tmp_path / "ro"
    ro.mkdir()
    monkeypatch.setenv("LANDSCAPE_CACHE", str(ro))

    def denied(*a, **k):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(cache.tempfile, "mkstemp", denied)  # a read-only folder (root ignores chmod)
    with pytest.warns(RuntimeWarning, match="Permission denied"):
        assert square(x=3)["y"][1] == 3.0


def test_an_altered_cache_file_is_recomputed(tmp_path):
    square, calls = _counter()
    square(x=2)
    path = square.path(x=2)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays[next(k for k in arrays if k != "__meta__")] = np.array([9.0, 9.0, 9.0])  # same key, other contents
    np.savez(path, **arrays)
    with pytest.raises(CacheError, match="do not match their recorded SHA-256"):
        load_tree(path, key=path.stem)
    assert square(x=2)["n"] == 2 and calls["n"] == 2


def _hammer(path: str, value: int, rounds: int) -> int:
    """Write the same key ``rounds`` times (a worker of the concurrent-writers test); returns the reads that failed."""
    import numpy as np

    from landscape.experiment.cache import CacheError, load_tree, save_tree

    bad = 0
    tree = {"a": np.full(200_000, 7.0), "b": [1, 2, 3]}
    for _ in range(rounds):
        save_tree(path, tree, key="same-key")
        try:
            got = load_tree(path, key="same-key")
            bad += int(not (got["a"] == 7.0).all() or got["b"] != [1, 2, 3])
        except (CacheError, FileNotFoundError):
            bad += 1
    return bad


def test_concurrent_writers_of_one_key_never_leave_a_torn_file(tmp_path):
    """Four processes (fan-out tasks on a shared cache) write and read the same result 15 times each at once:
    every read is whole, and no temporary file is left behind."""
    import concurrent.futures
    import multiprocessing

    path = tmp_path / "unit" / "same-key.npz"
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(4, mp_context=ctx) as pool:
        bad = list(pool.map(_hammer, [str(path)] * 4, range(4), [15] * 4))
    assert bad == [0, 0, 0, 0]
    assert sorted(p.name for p in path.parent.iterdir()) == ["same-key.npz"]
