r"""Synthetic problems with known answers.

- :func:`lowrank_regression`: :math:`y = M x + \varepsilon` with a planted
  rank-:math:`r` map :math:`M`, for deep linear networks (sankar2018trajectories).
  The best rank-:math:`k` linear predictor on the training set is reduced-rank
  regression, in closed form: :func:`reduced_rank_optimum`.
- Toy 2-D test functions with saddles for the optimizer chapter
  (srinivasan2018adine): :data:`TOY_FUNCTIONS`, each a torch function of a
  point ``(..., 2)``, with its saddle at the origin.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

__all__ = ["lowrank_regression", "reduced_rank_optimum", "TOY_FUNCTIONS", "toy_function"]


def lowrank_regression(
    *,
    n_train: int = 1000,
    n_test: int = 1000,
    d_in: int = 10,
    d_out: int = 10,
    rank: int = 3,
    noise: float = 0.1,
    seed: int = 0,
) -> dict:
    r"""Regression data :math:`y = M x + \sigma \varepsilon` with a planted rank-``rank`` map.

    :math:`x \sim N(0, I_{d_{in}})`, :math:`M = U \operatorname{diag}(s) V^\top` with
    orthonormal :math:`U, V` and singular values :math:`s_i = 1 + (r - i)/r`
    (distinct, so every optimum is isolated up to the network's symmetries),
    :math:`\varepsilon \sim N(0, I)`.

    Returns:
        dict with ``x_train``, ``y_train``, ``x_test``, ``y_test`` (float32
        arrays) and ``info`` (the planted ``M``, ``rank``, ``noise``).
    """
    for name, v in (("n_train", n_train), ("n_test", n_test), ("d_in", d_in), ("d_out", d_out), ("rank", rank)):
        if not isinstance(v, int) or v < 1:
            raise ValueError(f"Invalid {name}: {v!r} (must be a positive integer)")
    if rank > min(d_in, d_out):
        raise ValueError(f"Invalid rank: {rank} (at most min(d_in, d_out) = {min(d_in, d_out)})")
    if noise < 0:
        raise ValueError(f"Invalid noise: {noise} (must be >= 0)")
    rng = np.random.default_rng(seed)
    u, _ = np.linalg.qr(rng.standard_normal((d_out, rank)))
    v, _ = np.linalg.qr(rng.standard_normal((d_in, rank)))
    s = 1.0 + (rank - np.arange(rank)) / rank
    m = (u * s) @ v.T
    x = rng.standard_normal((n_train + n_test, d_in))
    y = x @ m.T + noise * rng.standard_normal((n_train + n_test, d_out))
    f = lambda a: a.astype(np.float32)
    return {
        "x_train": f(x[:n_train]),
        "y_train": f(y[:n_train]),
        "x_test": f(x[n_train:]),
        "y_test": f(y[n_train:]),
        "info": {"M": f(m), "rank": rank, "noise": noise},
    }


def reduced_rank_optimum(x: torch.Tensor, y: torch.Tensor, rank: int) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The global minimum of :math:`\frac{1}{2n}\|Y - X W^\top\|_F^2` over ``W`` of rank <= ``rank``.

    Reduced-rank regression: with the least-squares fit :math:`\hat W` and
    fitted values :math:`\hat Y = X \hat W^\top`, let :math:`P` project onto
    the top-``rank`` right singular vectors of :math:`\hat Y`; then
    :math:`W^\star = P \hat W` (Reinsel and Velu 1998). This is the global
    optimum of a deep linear network whose narrowest layer has width ``rank``.

    Returns:
        ``(W_star, loss_star)`` with the loss as defined above.
    """
    xd, yd = x.double(), y.double()
    w_ls = torch.linalg.lstsq(xd, yd).solution.T  # (d_out, d_in)
    y_hat = xd @ w_ls.T
    _, _, vh = torch.linalg.svd(y_hat, full_matrices=False)
    p = vh[:rank].T @ vh[:rank]
    w = p @ w_ls
    loss = 0.5 * ((yd - xd @ w.T) ** 2).sum() / x.shape[0]
    return w.to(x.dtype), loss.to(x.dtype)


def _quadratic_saddle(p: torch.Tensor) -> torch.Tensor:
    return p[..., 0] ** 2 - p[..., 1] ** 2


def _degenerate_saddle(p: torch.Tensor) -> torch.Tensor:
    return p[..., 0] ** 2 - p[..., 1] ** 4


def _monkey_saddle(p: torch.Tensor) -> torch.Tensor:
    return p[..., 0] ** 3 - 3 * p[..., 0] * p[..., 1] ** 2


#: Toy functions of a point ``(..., 2)``, each with a saddle at the origin:
#: ``x^2 - y^2`` (strict), ``x^2 - y^4`` (degenerate), ``x^3 - 3xy^2`` (monkey).
TOY_FUNCTIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "quadratic": _quadratic_saddle,
    "degenerate": _degenerate_saddle,
    "monkey": _monkey_saddle,
}


def toy_function(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The toy saddle function called ``name`` (see :data:`TOY_FUNCTIONS`)."""
    if name not in TOY_FUNCTIONS:
        raise ValueError(f"Invalid toy function: {name!r} (choose from {', '.join(TOY_FUNCTIONS)})")
    return TOY_FUNCTIONS[name]


#: Closed-form gradients of :data:`TOY_FUNCTIONS` at points ``(..., 2)`` (checked against autograd in the tests).
TOY_GRADIENTS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "quadratic": lambda p: torch.stack([2 * p[..., 0], -2 * p[..., 1]], -1),
    "degenerate": lambda p: torch.stack([2 * p[..., 0], -4 * p[..., 1] ** 3], -1),
    "monkey": lambda p: torch.stack([3 * p[..., 0] ** 2 - 3 * p[..., 1] ** 2, -6 * p[..., 0] * p[..., 1]], -1),
}


def toy_gradient(name: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """The gradient of the toy function called ``name`` (closed form)."""
    toy_function(name)  # validates the name
    return TOY_GRADIENTS[name]
