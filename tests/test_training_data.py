import gzip
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.training import data
from landscape.training.data import DataNotFoundError, load
from landscape.training.synthetic import TOY_FUNCTIONS, lowrank_regression, reduced_rank_optimum, toy_function


def test_digits_split_is_deterministic_stratified_and_complete():
    a, b = load("digits", seed=3), load("digits", seed=3)
    for s in ("train", "test"):
        for t1, t2 in zip(getattr(a, s), getattr(b, s)):
            assert torch.equal(t1, t2)
    c = load("digits", seed=4)
    assert not torch.equal(a.train[1], c.train[1])
    assert len(a.train[1]) + len(a.test[1]) == 1797 and abs(len(a.test[1]) - 0.2 * 1797) <= 10
    # stratified: every class's test share is within one example of 20 %
    counts = np.bincount(a.train[1].numpy(), minlength=10) + np.bincount(a.test[1].numpy(), minlength=10)
    assert np.all(np.abs(np.bincount(a.test[1].numpy(), minlength=10) - 0.2 * counts) <= 1)
    assert a.train[0].dtype == torch.float32 and a.train[0].shape[1:] == (1, 8, 8)
    assert 0.0 <= float(a.train[0].min()) and float(a.train[0].max()) <= 1.0
    assert a.num_classes == 10 and a.fingerprint == b.fingerprint != c.fingerprint


def test_train_and_test_are_disjoint():
    ds = load("mnist10k", seed=0)
    tr = {bytes(x) for x in (ds.train[0].numpy() * 255).round().astype(np.uint8)}
    te = {bytes(x) for x in (ds.test[0].numpy() * 255).round().astype(np.uint8)}
    # MNIST-10k has a few exact duplicate images; the overlap can only come from them
    assert len(tr & te) <= 5
    assert len(ds.train[1]) == 8000 and len(ds.test[1]) == 2000


def test_per_class_subset_is_balanced_and_seeded():
    ds = load("mnist10k", per_class=7, n_test=50, seed=1)
    assert ds.train[1].bincount().tolist() == [7] * 10
    assert len(ds.test[1]) == 50
    again = load("mnist10k", per_class=7, n_test=50, seed=1)
    assert torch.equal(ds.train[0], again.train[0])
    other = load("mnist10k", per_class=7, n_test=50, seed=2)
    assert not torch.equal(ds.train[0], other.train[0])


def test_subsampling_and_bad_counts():
    ds = load("digits", n_train=100, n_test=30)
    assert ds.train[0].shape[0] == 100 and ds.test[0].shape[0] == 30
    with pytest.raises(ValueError, match="Invalid n_train: 5000"):
        load("digits", n_train=5000)
    with pytest.raises(ValueError, match="Invalid per_class: 0"):
        load("digits", per_class=0)
    with pytest.raises(ValueError, match="Invalid per_class: 500 .class 0 has only"):
        load("digits", per_class=500)
    with pytest.raises(ValueError, match="Invalid data set name: 'imagenet'"):
        load("imagenet")


def test_loader_batches_and_device():
    ds = load("digits", n_train=50, device="cpu")
    xs = [x for x, _ in ds.loader("train", batch_size=16, seed=0)]
    assert [x.shape[0] for x in xs] == [16, 16, 16, 2]
    again = [x for x, _ in ds.loader("train", batch_size=16, seed=0)]
    assert all(torch.equal(a, b) for a, b in zip(xs, again))
    with pytest.raises(ValueError, match="Invalid split"):
        ds.loader("valid")


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_idx_reader_round_trip_and_data_root(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "fashion-mnist"
    folder.mkdir()
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (30, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(30) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (20, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(20) % 10,
    }
    for name, arr in arrays.items():
        _write_idx(folder / f"{name}.gz", arr)
    assert np.array_equal(data._read_idx(folder / "train-images-idx3-ubyte.gz"), arrays["train-images-idx3-ubyte"])
    monkeypatch.delenv("LANDSCAPE_DATA", raising=False)
    ds = load("fashion-mnist", root=tmp_path)
    assert ds.train[0].shape == (30, 1, 28, 28) and ds.test[0].shape == (20, 1, 28, 28)
    assert torch.allclose(ds.test[0][:, 0] * 255, torch.as_tensor(arrays["t10k-images-idx3-ubyte"], dtype=torch.float32))
    assert ds.source == str(folder)
    monkeypatch.setenv("LANDSCAPE_DATA", str(tmp_path))
    assert load("fashion-mnist").source == str(folder)


def test_missing_data_error_names_the_set_every_place_and_the_remedy(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_DATA", str(tmp_path / "env"))
    monkeypatch.setattr(data, "SYSTEM_ROOT", tmp_path / "system")
    with pytest.raises(DataNotFoundError) as err:
        load("mnist", root=tmp_path / "given")
    msg = str(err.value)
    assert "'mnist'" in msg
    for place in ("given", "env", "system"):
        assert str(tmp_path / place) in msg
    assert "download=True" in msg and "LANDSCAPE_DATA" in msg
    with pytest.raises(DataNotFoundError, match=r"'cifar10'.*download=True"):
        load("cifar10", root=tmp_path / "given")


@pytest.mark.skipif(not (Path(os.environ.get("LANDSCAPE_DATA", "/nonexistent")) / "fashion-mnist").is_dir(), reason="Fashion-MNIST not present")
def test_fashion_mnist_from_the_data_root():
    ds = load("fashion-mnist", n_train=1000, n_test=500)
    assert ds.train[0].shape == (1000, 1, 28, 28) and ds.test[0].shape == (500, 1, 28, 28)
    assert ds.num_classes == 10 and 0.0 <= float(ds.train[0].min()) and float(ds.train[0].max()) <= 1.0


def test_lowrank_regression_plants_the_rank_and_the_optimum_is_exact():
    ds = load("lowrank", d_in=6, d_out=5, rank=2, n_train=400, n_test=100, noise=0.1, seed=0)
    m = torch.as_tensor(ds.info["M"])
    assert torch.linalg.matrix_rank(m) == 2 and ds.num_classes == 0
    x, y = ds.train[0].double(), ds.train[1].double()
    w, loss = reduced_rank_optimum(x, y, 2)
    assert torch.linalg.matrix_rank(w, rtol=1e-8) == 2
    f = lambda w_: 0.5 * ((y - x @ w_.T) ** 2).sum() / x.shape[0]
    assert float(f(w)) == pytest.approx(float(loss), rel=1e-10)
    # no rank-2 matrix does better: the planted map, truncations of the LS fit, random perturbations
    w_ls = torch.linalg.lstsq(x, y).solution.T
    u, s, vh = torch.linalg.svd(w_ls)
    trunc = (u[:, :2] * s[:2]) @ vh[:2]
    assert float(loss) <= float(f(m.double())) and float(loss) <= float(f(trunc)) + 1e-12
    uw, sw, vw = torch.linalg.svd(w)
    left, right = uw[:, :2] * sw[:2], vw[:2]
    g = torch.Generator().manual_seed(0)
    for _ in range(20):  # rank-2 neighbours: perturb the two factors
        a, b = torch.randn(5, 2, generator=g, dtype=torch.float64), torch.randn(2, 6, generator=g, dtype=torch.float64)
        assert float(loss) <= float(f((left + 1e-3 * a) @ (right + 1e-3 * b)))
    # at full rank it is least squares
    _, loss_full = reduced_rank_optimum(x, y, 5)
    assert float(loss_full) == pytest.approx(float(f(w_ls)), rel=1e-10)
    with pytest.raises(ValueError, match="Invalid rank: 9"):
        lowrank_regression(d_in=6, d_out=5, rank=9)


def test_toy_functions_have_a_saddle_at_the_origin():
    for name in TOY_FUNCTIONS:
        f = toy_function(name)
        p = torch.zeros(2, requires_grad=True)
        (g,) = torch.autograd.grad(f(p), p)
        assert torch.equal(g, torch.zeros(2)) and float(f(p.detach())) == 0.0
        # lower and higher values nearby: neither a minimum nor a maximum
        pts = 1e-2 * torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]])
        vals = f(pts)
        assert vals.min() < 0 < vals.max()
    with pytest.raises(ValueError, match="Invalid toy function"):
        toy_function("rosenbrock")
