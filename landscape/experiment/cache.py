"""Results cache: heavy results stored on disk, keyed by what produced them.

A result is a tree of dicts, lists, numbers, strings, NumPy arrays and torch
tensors (a model's ``state_dict``, a spectrum, a history's ``to_dict()``).
It is stored as one ``.npz`` file: the arrays, plus the tree's structure as
JSON in a byte array, and read back with ``np.load(allow_pickle=False)`` -
nothing is unpickled, ever.

The key is a SHA-256 of what changes the result:

- the result's name and the call's arguments (canonical JSON). A tensor or
  array counts by the hash of its bytes; an object with a ``__cache_key__()``
  method by what that returns - a :class:`~landscape.training.data.Dataset` by
  its content, a :class:`~landscape.training.data.DataSpec` by its subset and
  the content of its files, never by the path of its data root; a frozen
  dataclass by its fields. Arguments named in ``ignore=`` (thread counts, and
  devices where the result does not depend on them beyond rounding) are left
  out, and the decorator says which;
- the code version: a hash of the package's source files that the function's
  module reaches by its imports (:func:`landscape.experiment.sources.closure_digest`;
  the function's own source too when it lives outside the package), so a change
  in the code a result depends on recomputes it, and an edit elsewhere (a
  chapter's figures or claims) does not.

Writes are atomic (a temporary file in the same folder, flushed, then
:func:`os.replace`), so concurrent writers of the same result never leave a
torn file; each file carries a SHA-256 of its contents. A file that is missing,
unreadable, corrupt, altered or holds a different key is recomputed. A cache
that cannot be written (a read-only folder, a full disk, ``LANDSCAPE_CACHE``
pointing at a file) is a warning: the run goes on with the result uncached.

The folder is ``$LANDSCAPE_CACHE``, else ``~/.cache/landscape``;
``LANDSCAPE_CACHE=off`` disables caching.

Example:
    >>> @cached("square")
    ... def square(*, x: int) -> dict:
    ...     return {"y": np.arange(3) * x}
    >>> square(x=2)["y"].tolist()
    [0, 2, 4]
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import inspect
import io
import json
import os
import tempfile
import warnings
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from .sources import PACKAGE_ROOT, closure_digest

__all__ = ["cached", "cache_dir", "code_version", "make_key", "save_tree", "load_tree", "round_trip", "CacheError"]


class CacheError(ValueError):
    """A cache file that cannot be read back as a result tree."""


def cache_dir() -> Path | None:
    """The cache folder (``$LANDSCAPE_CACHE`` or ``~/.cache/landscape``); None when disabled."""
    env = os.environ.get("LANDSCAPE_CACHE")
    if env is not None and env.lower() in ("off", "0", "none", ""):
        return None
    return Path(env) if env else Path.home() / ".cache" / "landscape"


def code_version(module: str = "landscape") -> str:
    """The code a result of ``module`` depends on: a hash of the package sources it reaches."""
    return closure_digest(module)


def _canonical(value: Any) -> Any:
    """A JSON-able, deterministic description of an argument."""
    key = getattr(value, "__cache_key__", None)
    if callable(key) and not isinstance(value, type):
        return _canonical(key())
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu()
        return {"__tensor__": hashlib.sha256(value.contiguous().numpy().tobytes()).hexdigest(), "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, np.ndarray):
        return {"__array__": hashlib.sha256(np.ascontiguousarray(value).tobytes()).hexdigest(), "shape": list(value.shape), "dtype": str(value.dtype)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__dataclass__": type(value).__name__, **{f.name: _canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, (np.integer, np.floating, np.bool_)):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (torch.dtype, torch.device, Path)):
        return str(value)
    raise TypeError(f"cannot use an argument of type {type(value).__name__} in a cache key: {value!r}")


def make_key(name: str, params: dict[str, Any], extra: str = "", *, code: str | None = None) -> str:
    """The cache key of result ``name`` computed from ``params`` by code of version ``code``
    (default: the whole package's)."""
    blob = json.dumps({"name": name, "params": _canonical(params), "code": code_version() if code is None else code,
                       "extra": extra}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


# --- the file format ---------------------------------------------------------


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu()
        dtype = str(t.dtype).replace("torch.", "")
        if t.dtype == torch.bfloat16:
            t = t.float()
        key = f"a{len(arrays)}"
        arrays[key] = t.contiguous().numpy()
        return {"__tensor__": key, "dtype": dtype}
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            raise TypeError("object arrays cannot be cached (they would need pickle)")
        key = f"a{len(arrays)}"
        arrays[key] = obj
        return {"__array__": key}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("cached dicts need string keys")
        return {"__dict__": {k: _encode(v, arrays) for k, v in obj.items()}}
    if isinstance(obj, (list, tuple)):
        return {"__list__": [_encode(v, arrays) for v in obj], "tuple": isinstance(obj, tuple)}
    if isinstance(obj, (np.integer, np.floating, np.bool_)):
        return obj.item()
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"cannot cache a value of type {type(obj).__name__}")


def _decode(node: Any, arrays: Any) -> Any:
    if isinstance(node, dict):
        if "__tensor__" in node:
            t = torch.from_numpy(np.array(arrays[node["__tensor__"]]))
            return t.to(getattr(torch, node["dtype"]))
        if "__array__" in node:
            return np.array(arrays[node["__array__"]])
        if "__dict__" in node:
            return {k: _decode(v, arrays) for k, v in node["__dict__"].items()}
        if "__list__" in node:
            items = [_decode(v, arrays) for v in node["__list__"]]
            return tuple(items) if node.get("tuple") else items
        raise CacheError(f"unknown node in cached tree: {sorted(node)}")
    return node


def _digest(tree_json: str, arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 over the tree's JSON and every array's dtype, shape and bytes."""
    h = hashlib.sha256(tree_json.encode())
    for k in sorted(arrays):
        a = np.ascontiguousarray(arrays[k])
        h.update(f"{k}|{a.dtype.str}|{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _write(f, obj: Any, key: str) -> None:
    arrays: dict[str, np.ndarray] = {}
    tree = json.dumps(_encode(obj, arrays))
    meta = json.dumps({"key": key, "tree": tree, "sha256": _digest(tree, arrays)})
    arrays["__meta__"] = np.frombuffer(meta.encode(), dtype=np.uint8)
    np.savez(f, **arrays)


def save_tree(path: str | os.PathLike, obj: Any, *, key: str = "") -> None:
    """Write ``obj`` to ``path`` atomically (temporary file, flushed, then rename), with a
    SHA-256 of its contents that :func:`load_tree` checks."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            _write(f, obj, key)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _read(source: Any, key: str | None, label: str) -> Any:
    try:
        with np.load(source, allow_pickle=False) as z:
            meta = json.loads(bytes(z["__meta__"]).decode())
            if key is not None and meta.get("key") != key:
                raise CacheError(f"{label} holds key {meta.get('key')!r}, not {key!r}")
            tree = meta["tree"]
            arrays = {k: z[k] for k in z.files if k != "__meta__"}
            if not isinstance(tree, str) or meta.get("sha256") != _digest(tree, arrays):
                raise CacheError(f"{label}: its contents do not match their recorded SHA-256 (altered or from an older format)")
            return _decode(json.loads(tree), arrays)
    except CacheError:
        raise
    except Exception as exc:  # zip, JSON, pickle refusal, truncated file ...
        raise CacheError(f"cannot read cached result {label}: {exc}") from exc


def load_tree(path: str | os.PathLike, *, key: str | None = None) -> Any:
    """Read a tree written by :func:`save_tree` (no pickle), checking its SHA-256.

    Raises:
        CacheError: the file is corrupt, needs pickle, holds another key, or its contents
            do not match their digest.
    """
    return _read(path, key, str(path))


def round_trip(obj: Any) -> Any:
    """``obj`` as :func:`load_tree` would return it after :func:`save_tree`, in memory (the
    same types: tensors, arrays, tuples, plain numbers), for results that cannot be written."""
    buf = io.BytesIO()
    _write(buf, obj, "")
    buf.seek(0)
    return _read(buf, None, "the in-memory copy")


def cached(name: str | None = None, *, version: int | str = 0,
           ignore: Sequence[str] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a function whose result should be cached by its arguments.

    The function is called with keyword arguments (positional ones are bound
    to their names; defaults count as given). ``version`` is bumped by hand
    to invalidate results when only their meaning changed. ``ignore`` names
    arguments that do not change the result and stay out of the key (a
    thread count; a device, where results agree across devices up to
    rounding). The wrapper has ``.uncached`` (the plain function), ``.path(**kwargs)``
    (where the result is, or would be, stored) and ``.ignored`` (the names left out).
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        label = name or f"{fn.__module__}.{fn.__qualname__}"
        sig = inspect.signature(fn)
        unknown = [n for n in ignore if n not in sig.parameters]
        if unknown:
            raise ValueError(f"Invalid ignore: {list(ignore)!r} (must name arguments of {fn.__qualname__}; "
                             f"{', '.join(unknown)} is not one)")
        extra = f"v{version}"
        src = inspect.getsourcefile(fn)
        inside = src is not None and PACKAGE_ROOT in Path(src).resolve().parents
        if not inside:
            try:
                extra += hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()
            except (OSError, TypeError):
                pass
        module = fn.__module__ if inside else "landscape"

        def path_for(*args: Any, **kwargs: Any) -> Path | None:
            root = cache_dir()
            if root is None:
                return None
            bound = sig.bind(*args, **kwargs)
            bound.apply_defaults()
            keyed = {k: v for k, v in bound.arguments.items() if k not in ignore}
            key = make_key(label, keyed, extra, code=code_version(module))
            return root / label.replace("/", "_") / f"{key}.npz"

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            path = path_for(*args, **kwargs)
            if path is None:
                return fn(*args, **kwargs)
            key = path.stem
            if path.exists():
                try:
                    return load_tree(path, key=key)
                except CacheError:
                    pass  # corrupt or foreign: recompute below
            result = fn(*args, **kwargs)
            try:
                save_tree(path, result, key=key)
                return load_tree(path, key=key)
            except OSError as exc:  # read-only folder, full disk, a file where the folder should be
                warnings.warn(f"the results cache could not be written ({path}: {exc.strerror or exc}); "
                              f"the result of {label} is used without caching it", RuntimeWarning, stacklevel=2)
                return round_trip(result)

        wrapper.uncached = fn  # type: ignore[attr-defined]
        wrapper.path = path_for  # type: ignore[attr-defined]
        wrapper.ignored = tuple(ignore)  # type: ignore[attr-defined]
        return wrapper

    return deco
