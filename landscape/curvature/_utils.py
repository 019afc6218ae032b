"""Internal helpers shared by the curvature modules (not public API).

Randomness only ever comes from an explicit :class:`torch.Generator` built from a
seed (never from the global RNG); random blocks are drawn on the CPU and then moved
to the operator's device, so a given seed gives the same probes on every device.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np
import torch

Tensor = torch.Tensor

#: a second Gram-Schmidt pass when a vector keeps less than this fraction of its norm (DGKS, ARPACK's 0.717)
DGKS = 1.0 / math.sqrt(2.0)
#: device types on which reading a value back costs no host sync, so the second Gram-Schmidt pass can be
#: made only when needed (elsewhere it is always made: a test per step would be a sync per step)
HOST_TEST_DEVICES = ("cpu",)


def make_generator(seed: int | torch.Generator | None) -> torch.Generator:
    """Return a CPU :class:`torch.Generator` for ``seed``.

    An ``int`` seeds a fresh generator; a generator is used as is (its state
    advances); ``None`` gives a generator seeded from the OS entropy pool (not from
    the global torch RNG), i.e. non-reproducible on purpose.
    """
    if isinstance(seed, torch.Generator):
        return seed
    gen = torch.Generator(device="cpu")
    if seed is None:
        gen.seed()
    elif isinstance(seed, numbers.Integral) and not isinstance(seed, bool):
        gen.manual_seed(int(seed))
    else:
        raise ValueError(f"seed must be an int, a torch.Generator or None, got {seed!r}")
    return gen


def rademacher(shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype,
               device: torch.device | str) -> Tensor:
    """Independent +-1 entries (Rademacher), drawn with ``gen`` on its device."""
    z = torch.randint(0, 2, shape, generator=gen, device=gen.device, dtype=torch.int8)
    return z.to(dtype=dtype).mul_(2).sub_(1).to(device)


def gaussian(shape: tuple[int, ...], gen: torch.Generator, dtype: torch.dtype,
             device: torch.device | str) -> Tensor:
    """Independent standard normal entries drawn with ``gen`` (float64 then cast)."""
    z = torch.randn(shape, generator=gen, device=gen.device, dtype=torch.float64)
    return z.to(dtype=dtype, device=device)


class OpInfo:
    """Dimension, dtype and device of something answering ``op @ V``."""

    __slots__ = ("op", "n", "dtype", "device")

    def __init__(self, op: Any, n: int, dtype: torch.dtype, device: torch.device):
        self.op, self.n, self.dtype, self.device = op, n, dtype, device


def op_info(op: Any) -> OpInfo:
    """Validate a linear operator and read its dimension, dtype and device.

    Accepts a :class:`~landscape.curvature.HessianOperator`, a square torch tensor,
    a square numpy array (converted to a tensor) or any object with ``shape``
    (square) and ``__matmul__``; ``dtype``/``device`` default to float64/CPU.
    """
    if isinstance(op, np.ndarray):
        op = torch.from_numpy(op)
    shape = getattr(op, "shape", None)
    if shape is None or len(shape) != 2 or int(shape[0]) != int(shape[1]):
        raise ValueError(f"op must be a square linear operator with a 2-D shape (n, n); got shape {shape!r}")
    if not hasattr(op, "__matmul__"):
        raise ValueError("op must support `op @ V` (define __matmul__)")
    dtype = getattr(op, "dtype", torch.float64)
    if not isinstance(dtype, torch.dtype):
        dtype = torch.float64
    if not dtype.is_floating_point:
        raise ValueError(f"op must have a floating-point dtype, got {dtype}")
    device = torch.device(getattr(op, "device", "cpu"))
    n = int(shape[0])
    if n < 1:
        raise ValueError("op has dimension 0")
    return OpInfo(op, n, dtype, device)


def apply(info: OpInfo, V: Tensor) -> Tensor:
    """``op @ V`` for a block ``V`` of shape (n, b), checking the result's shape."""
    out = info.op @ V
    if not isinstance(out, torch.Tensor):
        out = torch.as_tensor(out, dtype=info.dtype, device=info.device)
    if out.shape != V.shape:
        raise ValueError(f"op @ V returned shape {tuple(out.shape)}, expected {tuple(V.shape)}")
    return out


def sym(A: Tensor) -> Tensor:
    """Symmetric part ``(A + A^T) / 2``."""
    return 0.5 * (A + A.transpose(-1, -2))


def reorthogonalize(R: Tensor, basis: Tensor, norms_before: Tensor) -> Tensor:
    r"""The second classical Gram-Schmidt pass of the rows of ``R`` against ``basis``, when it is needed.

    ``R = w - h^T Q`` is the first pass of ``w`` (rows) against the orthonormal rows ``Q = basis``;
    ``norms_before`` the row norms of ``w``.  On the CPU the second pass is made only when a row
    kept less than :math:`\eta` of its norm, :math:`\|r\| < \eta \|w\|` with
    :math:`\eta = 1/\sqrt 2` -- the criterion of Daniel, Gragg, Kaufman and Stewart (1976) that
    ARPACK uses: without that cancellation one pass leaves :math:`r` as orthogonal to :math:`Q`
    as the basis itself is (to a small multiple of the rounding), and the pass costs as much
    memory traffic as the first.
    On other devices the test would be a host sync per step, so both passes are always made.
    """
    if basis.shape[0] == 0:
        return R
    if R.device.type in HOST_TEST_DEVICES and bool((torch.linalg.vector_norm(R, dim=1) >= DGKS * norms_before).all()):
        return R
    return torch.addmm(R, R @ basis.T, basis, alpha=-1)
