"""Data sets: one entry point, :func:`load`, with seeded splits and subsets.

Names:

===================  ==========================================================
``digits``           scikit-learn's bundled 8x8 digits (1797 images); the
                     embedded default, always available. Split 80/20, stratified.
``mnist10k``         10,000 real MNIST digits embedded in this package
                     (``landscape/training/datasets/PROVENANCE.md``). Split 80/20, stratified.
``fashion-mnist``    Fashion-MNIST (60k/10k) from a data root: ``root``, else
                     ``$LANDSCAPE_DATA``, else ``/usr/share/datasets``, else
                     torchvision's download when ``download=True``.
``mnist``            MNIST (60k/10k): the same places, IDX files or torchvision's layout.
``cifar10``,         CIFAR (50k/10k, 3x32x32) through torchvision, from the data
``cifar100``         root or downloaded when ``download=True``.
``lowrank``          synthetic regression with a planted low-rank linear map
                     (:func:`landscape.training.synthetic.lowrank_regression`).
===================  ==========================================================

Images are float32 tensors ``(N, C, H, W)`` in [0, 1]; targets are int64
class labels (float targets for ``lowrank``). Everything is deterministic
given ``seed``: the same call gives the same tensors, bit for bit.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np
import torch

from ..validation import check_int, check_optional_int

__all__ = ["Dataset", "DataNotFoundError", "load", "NAMES", "data_roots", "batches"]

NAMES = ("digits", "mnist10k", "fashion-mnist", "mnist", "cifar10", "cifar100", "lowrank")

SYSTEM_ROOT = Path("/usr/share/datasets")


class DataNotFoundError(FileNotFoundError):
    """A data set is not on this machine; the message names every place looked and how to get it."""


@dataclass
class Dataset:
    """A loaded data set.

    Attributes:
        name: the data set's name.
        train: ``(inputs, targets)`` tensors.
        test: ``(inputs, targets)`` tensors.
        num_classes: number of classes (0 for regression).
        source: where the data came from (a path or "embedded").
        info: extra facts (the planted map of a synthetic set, ...).
    """

    name: str
    train: tuple[torch.Tensor, torch.Tensor]
    test: tuple[torch.Tensor, torch.Tensor]
    num_classes: int
    source: str = "embedded"
    info: dict = field(default_factory=dict)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.train[0].shape[1:])

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the tensors' bytes: identifies the exact data (used in cache keys)."""
        h = hashlib.sha256(self.name.encode())
        for t in (*self.train, *self.test):
            h.update(str((tuple(t.shape), str(t.dtype))).encode())
            h.update(t.detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()

    def __cache_key__(self) -> dict:
        """What identifies this data set in a results-cache key: its name and content."""
        return {"__dataset__": self.name, "sha256": self.fingerprint}

    def loader(self, split: str = "train", *, batch_size: int = 128, shuffle: bool | None = None, seed: int = 0) -> torch.utils.data.DataLoader:
        """A :class:`~torch.utils.data.DataLoader` over ``split`` (shuffled with a seeded generator for train)."""
        if split not in ("train", "test"):
            raise ValueError(f"Invalid split: {split!r} (choose 'train' or 'test')")
        x, y = getattr(self, split)
        shuffle = (split == "train") if shuffle is None else shuffle
        g = torch.Generator().manual_seed(seed)
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size, shuffle=shuffle, generator=g)

    def __repr__(self) -> str:
        return (
            f"Dataset({self.name!r}, train={tuple(self.train[0].shape)}, test={tuple(self.test[0].shape)}, "
            f"num_classes={self.num_classes}, source={self.source!r})"
        )


def batches(data: tuple[torch.Tensor, torch.Tensor], batch_size: int, *, shuffle: bool = True, generator: torch.Generator | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Mini-batches of a pair of tensors, on their own device (no DataLoader overhead).

    The permutation is drawn on the CPU from ``generator`` so the order is the
    same on every device.
    """
    x, y = data
    n = x.shape[0]
    if batch_size < 1:
        raise ValueError(f"Invalid batch_size: {batch_size} (must be >= 1)")
    idx = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    idx = idx.to(x.device)
    for start in range(0, n, batch_size):
        sel = idx[start : start + batch_size]
        yield x[sel], y[sel]


def data_roots(root: str | os.PathLike | None = None) -> list[Path]:
    """Where file-based data sets are looked for, in order: ``root``,
    ``$LANDSCAPE_DATA``, then ``/usr/share/datasets`` (Debian's data packages)."""
    out = []
    if root is not None:
        out.append(Path(root))
    env = os.environ.get("LANDSCAPE_DATA")
    if env:
        out.append(Path(env))
    out.append(SYSTEM_ROOT)
    return out


# --- readers ---------------------------------------------------------------


def _read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed): magic, dims, then uint8 data."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_idx(folder: Path) -> dict[str, tuple[Path, Path]] | None:
    found = {}
    for split, names in _IDX_FILES.items():
        paths = []
        for stem in names:
            for cand in (folder / stem, folder / f"{stem}.gz"):
                if cand.is_file():
                    paths.append(cand)
                    break
        if len(paths) != 2:
            return None
        found[split] = (paths[0], paths[1])
    return found


def _mnist_like(name: str, root, download: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Find MNIST or Fashion-MNIST as IDX files under a data root, else download through torchvision."""
    tv_name = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}[name]
    looked = []
    for base in data_roots(root):
        for folder in (base / name, base / tv_name / "raw", base):
            looked.append(str(folder))
            files = _find_idx(folder)
            if files:
                arrays = [_read_idx(p) for split in ("train", "test") for p in files[split]]
                return (*arrays, str(folder))
    if download:
        target = Path(root) if root is not None else data_roots(None)[0]
        try:
            import torchvision

            cls = getattr(torchvision.datasets, tv_name)
            tr = cls(str(target), train=True, download=True)
            te = cls(str(target), train=False, download=True)
        except Exception as exc:  # network errors come in many types
            raise DataNotFoundError(
                f"Data set {name!r} not found and its download into {target} failed ({exc}). "
                f"Looked in: {', '.join(looked)}."
            ) from exc
        return tr.data.numpy(), tr.targets.numpy(), te.data.numpy(), te.targets.numpy(), str(target)
    raise DataNotFoundError(
        f"Data set {name!r} not found. Looked for its IDX files ({', '.join(_IDX_FILES['train'])}, ... "
        f"optionally .gz) in: {', '.join(looked)}. To get it: pass root=<folder holding them>, set "
        f"LANDSCAPE_DATA, install Debian's dataset package where there is one "
        f"(apt-get install dataset-fashion-mnist), or call with download=True on a machine with internet."
    )


def _cifar(name: str, root, download: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    import torchvision

    cls = {"cifar10": torchvision.datasets.CIFAR10, "cifar100": torchvision.datasets.CIFAR100}[name]
    looked = []
    for base in data_roots(root):
        looked.append(str(base))
        try:
            tr = cls(str(base), train=True, download=False)
            te = cls(str(base), train=False, download=False)
            break
        except RuntimeError:
            continue
    else:
        if not download:
            raise DataNotFoundError(
                f"Data set {name!r} not found. Looked for torchvision's CIFAR folders in: {', '.join(looked)}. "
                f"To get it: call with download=True on a machine with internet (torchvision downloads it "
                f"into root or $LANDSCAPE_DATA), or copy the extracted folder there."
            )
        target = Path(root) if root is not None else data_roots(None)[0]
        try:
            tr = cls(str(target), train=True, download=True)
            te = cls(str(target), train=False, download=True)
        except Exception as exc:
            raise DataNotFoundError(f"Data set {name!r}: download into {target} failed ({exc}). Looked in: {', '.join(looked)}.") from exc
        base = target
    to_nchw = lambda a: np.ascontiguousarray(np.asarray(a).transpose(0, 3, 1, 2))
    return to_nchw(tr.data), np.asarray(tr.targets), to_nchw(te.data), np.asarray(te.targets), str(base)


def _digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.images / 16.0).astype(np.float32)[:, None], d.target.astype(np.int64)


def _mnist10k() -> tuple[np.ndarray, np.ndarray]:
    with resources.files("landscape.training.datasets").joinpath("mnist10k.npz").open("rb") as f:
        d = np.load(f, allow_pickle=False)
        images, labels = d["images"], d["labels"]
    return (images.astype(np.float32) / 255.0)[:, None], labels.astype(np.int64)


# --- splitting -------------------------------------------------------------


def _stratified_split(y: np.ndarray, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    train, test = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        k = int(round(test_fraction * len(idx)))
        test.append(idx[:k])
        train.append(idx[k:])
    return rng.permutation(np.concatenate(train)), rng.permutation(np.concatenate(test))


def _subsample(n_total: int, n: int | None, rng: np.random.Generator, what: str) -> np.ndarray:
    if n is None:
        return np.arange(n_total)
    if n > n_total:
        raise ValueError(f"Invalid {what}: {n} (the split has only {n_total} examples)")
    return np.sort(rng.choice(n_total, size=n, replace=False))


def _per_class(y: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < k:
            raise ValueError(f"Invalid per_class: {k} (class {c} has only {len(idx)} training examples)")
        out.append(np.sort(rng.choice(idx, size=k, replace=False)))
    # interleave classes so any prefix stays roughly balanced
    return np.stack(out, axis=1).reshape(-1)


def load(
    name: str,
    *,
    root: str | os.PathLike | None = None,
    download: bool = False,
    n_train: int | None = None,
    n_test: int | None = None,
    per_class: int | None = None,
    seed: int = 0,
    device: str | torch.device | None = None,
    **options,
) -> Dataset:
    """Load data set ``name`` with deterministic, seeded splits and subsets.

    Args:
        name: one of :data:`NAMES`.
        root: a data root to look in first (file-based sets).
        download: allow torchvision to download (mnist, fashion-mnist, cifar).
        n_train: keep this many training examples (seeded random subset).
        n_test: keep this many test examples.
        per_class: keep ``per_class`` training examples of each class
            (a class-balanced subset; applied instead of ``n_train``).
        seed: the seed of every split and subset.
        device: where to put the tensors (default CPU).
        **options: passed to the synthetic generator (``lowrank``).

    Returns:
        A :class:`Dataset`.

    Raises:
        ValueError: an unknown name or a bad count, naming it.
        DataNotFoundError: the data is not on this machine (says where it looked and how to get it).

    Example:
        >>> ds = load("digits", per_class=2, seed=0)
        >>> tuple(ds.train[0].shape), ds.train[1].bincount().tolist()
        ((20, 1, 8, 8), [2, 2, 2, 2, 2, 2, 2, 2, 2, 2])
    """
    if name not in NAMES:
        raise ValueError(f"Invalid data set name: {name!r} (choose from {', '.join(NAMES)})")
    for arg, val in (("n_train", n_train), ("n_test", n_test), ("per_class", per_class)):
        check_optional_int(arg, val, minimum=1)
    seed = check_int("seed", seed, minimum=0)
    if options and name != "lowrank":
        raise ValueError(f"Invalid option(s) for {name!r}: {', '.join(options)}")
    rng = np.random.default_rng(seed)
    source = "embedded"
    info: dict = {}
    if name == "lowrank":
        from .synthetic import lowrank_regression

        ds = lowrank_regression(seed=seed, **options)
        xtr, ytr, xte, yte, num_classes, info = ds["x_train"], ds["y_train"], ds["x_test"], ds["y_test"], 0, ds["info"]
        source = "synthetic"
        if per_class is not None:
            raise ValueError("Invalid per_class: a regression set has no classes")
    else:
        if name in ("digits", "mnist10k"):
            x, y = _digits() if name == "digits" else _mnist10k()
            tr, te = _stratified_split(y, 0.2, rng)
            xtr, ytr, xte, yte = x[tr], y[tr], x[te], y[te]
            source = "scikit-learn" if name == "digits" else "embedded"
        else:
            reader = _mnist_like if name in ("mnist", "fashion-mnist") else _cifar
            xtr, ytr, xte, yte, source = reader(name, root, download)
            scale = lambda a: (a.astype(np.float32) / 255.0)
            xtr, xte = scale(xtr), scale(xte)
            if xtr.ndim == 3:
                xtr, xte = xtr[:, None], xte[:, None]
            ytr, yte = ytr.astype(np.int64), yte.astype(np.int64)
        num_classes = int(max(ytr.max(), yte.max()) + 1)
        if per_class is not None:
            sel = _per_class(ytr, per_class, rng)
        else:
            sel = _subsample(len(ytr), n_train, rng, "n_train")
        xtr, ytr = xtr[sel], ytr[sel]
    if name == "lowrank" and n_train is not None:
        sel = _subsample(len(ytr), n_train, rng, "n_train")
        xtr, ytr = xtr[sel], ytr[sel]
    sel = _subsample(len(yte), n_test, rng, "n_test")
    xte, yte = xte[sel], yte[sel]
    t = lambda a: torch.as_tensor(np.ascontiguousarray(a), device=device)
    return Dataset(name, (t(xtr), t(ytr)), (t(xte), t(yte)), num_classes, source, info)


# --- a data set by description: the one memoized loader --------------------------------

#: data sets read from files under a data root (the others are embedded or synthetic)
FILE_BASED = ("fashion-mnist", "mnist", "cifar10", "cifar100")


@functools.lru_cache(maxsize=64)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def source_id(name: str, root: str | os.PathLike | None = None) -> str:
    """What identifies the *content* :func:`load` would read for ``name`` from ``root``:
    ``embedded:<name>`` for embedded and synthetic sets, else a SHA-256 over the
    IDX files found (so two paths to the same files give the same id). A set not
    on this machine gives ``missing:<name>`` (loading it will raise)."""
    if name not in FILE_BASED:
        return f"embedded:{name}"
    if name in ("mnist", "fashion-mnist"):
        tv_name = {"mnist": "MNIST", "fashion-mnist": "FashionMNIST"}[name]
        for base in data_roots(root):
            for folder in (base / name, base / tv_name / "raw", base):
                files = _find_idx(folder)
                if files:
                    h = hashlib.sha256(name.encode())
                    for split in ("train", "test"):
                        for f in files[split]:
                            st = f.stat()
                            h.update(_file_digest(str(f.resolve()), st.st_size, st.st_mtime_ns).encode())
                    return h.hexdigest()
    return f"missing:{name}"  # CIFAR goes through torchvision's own files; not identified by content here


@dataclass(frozen=True)
class DataSpec:
    """A data set by description: :func:`load`'s arguments, loaded once per process.

    ``spec.load()`` returns the same :class:`Dataset` object on every call with
    the same description (treat its tensors as read-only). In a results-cache
    key a spec counts by its subset arguments and by the *content* of its files
    (:func:`source_id`), never by the path of its data root.

    Example:
        >>> spec = DataSpec("digits", n_train=100, n_test=50)
        >>> spec.load() is spec.load(), tuple(spec.load().train[0].shape)
        (True, (100, 1, 8, 8))
    """

    name: str
    root: str | None = None
    n_train: int | None = None
    n_test: int | None = None
    per_class: int | None = None
    seed: int = 0
    #: options of a synthetic set (``lowrank``: ``d_in``, ``d_out``, ``rank``, ``noise``), as ``(name, value)`` pairs
    options: tuple[tuple[str, Any], ...] = ()

    def load(self, device: str | torch.device | None = None) -> Dataset:
        """The data set (memoized on the CPU; moved to ``device`` when given)."""
        ds = _load_memo(self)
        if device is None or torch.device(device).type == "cpu":
            return ds
        t = lambda pair: (pair[0].to(device), pair[1].to(device))
        return Dataset(ds.name, t(ds.train), t(ds.test), ds.num_classes, ds.source, ds.info)

    def __cache_key__(self) -> dict:
        return {"__data__": self.name, "content": source_id(self.name, self.root), "n_train": self.n_train,
                "n_test": self.n_test, "per_class": self.per_class, "seed": self.seed,
                **({"options": dict(self.options)} if self.options else {})}


@functools.lru_cache(maxsize=16)
def _load_memo(spec: DataSpec) -> Dataset:
    return load(spec.name, root=spec.root, n_train=spec.n_train, n_test=spec.n_test, per_class=spec.per_class, seed=spec.seed,
                **dict(spec.options))


def available(names: Sequence[str], root: str | os.PathLike | None = None) -> tuple[list[str], dict[str, str]]:
    """The data sets of ``names`` that are on this machine, and for each other one why not
    (the first sentence of its :class:`DataNotFoundError`, or the ImportError of a missing reader).

    Example:
        >>> available(["digits", "mnist10k"])
        (['digits', 'mnist10k'], {})
    """
    ok, missing = [], {}
    for name in names:
        try:
            DataSpec(name, root=None if root is None else str(root)).load()
            ok.append(name)
        except DataNotFoundError as exc:
            missing[name] = str(exc).split(". ")[0]
        except ImportError as exc:  # CIFAR needs torchvision
            missing[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return ok, missing
