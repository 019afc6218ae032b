r"""Deep linear networks: the product matrix, its rank, the global optimum,
noise injectors and a full-batch gradient-descent loop (the chapter
``book/trajectories.ipynb``, sankar2018trajectories).

A deep linear network maps :math:`x \mapsto W_H \cdots W_1 x`; with squared
loss

.. math::

    L(W_1, \dots, W_H) = \frac{1}{2n} \| Y - X (W_H \cdots W_1)^\top \|_F^2

it depends on the weights only through the product :math:`W = W_H \cdots W_1`,
whose rank is at most the narrowest width :math:`r`. Its global minimum is
rank-:math:`r` reduced-rank regression, in closed form
(:func:`landscape.training.synthetic.reduced_rank_optimum`); critical points where the
product has lower rank are saddles (Baldi and Hornik 1989; Kawaguchi 2016).

Weights are lists of tensors ``[W_1, ..., W_H]``, ``W_l`` of shape
``(..., d_l, d_{l-1})``; a leading batch dimension holds independent runs
(one per seed), so many seeds train at the cost of one.

- Product and rank: :func:`product`, :func:`singular_values`,
  :func:`numerical_rank`, :func:`smallest_singular_value`,
  :func:`effective_rank`, :func:`rank_measures`.
- Loss and optimum: :func:`loss`, :func:`optimum`, :func:`relative_gap`,
  :func:`critical_values`, :func:`hessian_eigenvalues`.
- Initializations: :func:`init_weights` (``gaussian``, ``deficient``, ``zero``),
  :func:`init_batch`, and the scale of the start's product: :func:`rms_product_norm`,
  :func:`scale_to_product_norm` (the same initial product norm at every depth).
- Noise: :class:`Noise` (kind, magnitude, annealing, stop), and the injectors
  :func:`gradient_noise`, :func:`dropout_mask`, :func:`weight_noise`,
  :func:`additive_noise` (inputs and labels).
- Training: :func:`gradients` (the backward pass per example),
  :func:`moment_gradients` (from the data's second moments),
  :func:`train_gd` (full-batch GD with one kind of noise, rank measures
  recorded along the way).

Example:
    >>> x = torch.randn(50, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> y = x @ torch.diag(torch.tensor([3.0, 2.0, 1.0, 0.5], dtype=torch.float64))
    >>> ws = init_weights([4, 2, 4], "gaussian", scale=1.0, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> out = train_gd(ws, x, y, lr=0.05, iterations=2000, record_every=500)
    >>> w_star, l_star = optimum(x, y, 2)
    >>> bool(relative_gap(out["loss"][-1], l_star) < 1e-6)
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from ..training.loop import threads as thread_count
from ..training.models import DeepLinear
from ..training.synthetic import reduced_rank_optimum

__all__ = [
    # product and rank
    "product", "singular_values", "numerical_rank", "smallest_singular_value", "effective_rank", "rank_measures",
    # loss and optimum
    "loss", "optimum", "relative_gap", "critical_values", "hessian_eigenvalues",
    # initializations
    "INITS", "init_weights", "init_batch", "rms_product_norm", "scale_to_product_norm",
    # noise
    "NOISE_KINDS", "Noise", "gradient_noise", "dropout_mask", "weight_noise", "additive_noise",
    # training
    "gradients", "moment_gradients", "label_noise_moment", "train_gd",
]

Weights = Sequence[torch.Tensor]


# --- product and rank ----------------------------------------------------------


def _as_weights(weights: Weights | nn.Module) -> list[torch.Tensor]:
    if isinstance(weights, DeepLinear):
        return [lin.weight.detach() for lin in weights]
    if isinstance(weights, nn.Module):
        raise TypeError(f"Invalid weights: a {type(weights).__name__} (expected a DeepLinear or a list of tensors)")
    ws = list(weights)
    if not ws:
        raise ValueError("Invalid weights: an empty list (a deep linear network needs at least one layer)")
    for i in range(1, len(ws)):
        if ws[i].shape[-1] != ws[i - 1].shape[-2]:
            raise ValueError(f"Invalid weights: W{i + 1} has {ws[i].shape[-1]} inputs but W{i} has {ws[i - 1].shape[-2]} outputs")
    return ws


def product(weights: Weights | nn.Module) -> torch.Tensor:
    r"""The end-to-end matrix :math:`W = W_H \cdots W_1`, shape ``(..., d_H, d_0)`` (detached).

    Args:
        weights: ``[W_1, ..., W_H]`` (``W_1`` acts first), each ``(..., d_l, d_{l-1})``,
            or a :class:`~landscape.training.models.DeepLinear`.

    Example:
        >>> product([torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0], [4.0]])])
        tensor([[3., 6.],
                [4., 8.]])
    """
    ws = _as_weights(weights)
    with torch.no_grad():
        w = ws[0]
        for v in ws[1:]:
            w = v @ w
    return w.detach().clone() if len(ws) == 1 else w.detach()


def singular_values(w: torch.Tensor) -> torch.Tensor:
    """Singular values of ``w`` (``(..., m, n)``), descending, in float64; NaN for a matrix
    with a non-finite entry (a diverged run)."""
    wd = w.detach().double()
    finite = torch.isfinite(wd).all(-1).all(-1)
    if bool(finite.all()):
        return torch.linalg.svdvals(wd)
    s = torch.linalg.svdvals(torch.where(finite[..., None, None], wd, torch.zeros_like(wd)))
    return torch.where(finite[..., None], s, torch.full_like(s, math.nan))


def numerical_rank(w: torch.Tensor, *, rtol: float = 1e-3) -> torch.Tensor:
    r"""Number of singular values above ``rtol`` times the largest: :math:`\#\{i: s_i > \text{rtol}\, s_1\}`.

    The zero matrix has rank 0. Batched over leading dimensions (int64 result).

    Example:
        >>> numerical_rank(torch.diag(torch.tensor([1.0, 1e-2, 1e-5])), rtol=1e-3)
        tensor(2)
    """
    if not rtol > 0:
        raise ValueError(f"Invalid rtol: {rtol} (must be > 0)")
    s = singular_values(w)
    return (s > rtol * s[..., :1]).sum(-1)


def smallest_singular_value(w: torch.Tensor, r: int) -> torch.Tensor:
    r"""The ``r``-th largest singular value :math:`s_r` of ``w``: for a network whose narrowest
    width is ``r``, the smallest one that can be non-zero (zero exactly when the product is rank-deficient).

    Example:
        >>> smallest_singular_value(torch.diag(torch.tensor([3.0, 2.0, 0.0])), 2)
        tensor(2., dtype=torch.float64)
    """
    if not isinstance(r, int) or isinstance(r, bool) or not 1 <= r <= min(w.shape[-2:]):
        raise ValueError(f"Invalid r: {r!r} (must be an integer in [1, {min(w.shape[-2:])}])")
    return singular_values(w)[..., r - 1]


def effective_rank(w: torch.Tensor) -> torch.Tensor:
    r"""Effective rank (Roy and Vetterli 2007): :math:`\exp(-\sum_i p_i \log p_i)`, :math:`p_i = s_i / \sum_j s_j`.

    Between 1 (rank one) and the number of non-zero singular values (all
    equal); continuous in ``w`` away from zero, scale-invariant. The zero
    matrix gets 0. Batched over leading dimensions (float64 result).

    Example:
        >>> round(float(effective_rank(torch.eye(3))), 12)
        3.0
        >>> round(float(effective_rank(torch.diag(torch.tensor([3.0, 1.0])))), 4)
        1.7548
    """
    return _effective_rank(singular_values(w))


def _effective_rank(s: torch.Tensor) -> torch.Tensor:
    total = s.sum(-1, keepdim=True)
    p = s / total.clamp_min(torch.finfo(s.dtype).tiny)
    ent = -(torch.where(p > 0, p * torch.log(p), torch.zeros_like(p))).sum(-1)
    out = torch.where(total.squeeze(-1) > 0, torch.exp(ent), torch.zeros_like(ent))
    return torch.where(torch.isnan(total.squeeze(-1)), total.squeeze(-1), out)


def rank_measures(w: torch.Tensor, r: int, *, rtol: float = 1e-3) -> dict[str, torch.Tensor]:
    """The three rank measures of ``w`` at once (one SVD): ``effective_rank``,
    ``numerical_rank`` (at ``rtol``), ``smallest_sv`` (the ``r``-th singular value),
    and the ``singular_values`` themselves."""
    if not isinstance(r, int) or isinstance(r, bool) or not 1 <= r <= min(w.shape[-2:]):
        raise ValueError(f"Invalid r: {r!r} (must be an integer in [1, {min(w.shape[-2:])}])")
    s = singular_values(w)
    nrank = (s > rtol * s[..., :1]).sum(-1).double()
    nrank = torch.where(torch.isnan(s[..., 0]), s[..., 0], nrank)
    return {"effective_rank": _effective_rank(s), "numerical_rank": nrank, "smallest_sv": s[..., r - 1], "singular_values": s}


# --- loss and optimum ------------------------------------------------------------


def loss(w: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Squared loss :math:`\frac{1}{2n}\|Y - X W^\top\|_F^2` of the product ``w`` (``(..., d_out, d_in)``), in float64.

    The same convention as :func:`landscape.training.synthetic.reduced_rank_optimum`.
    """
    xd, yd, wd = x.double(), y.double(), w.double()
    return 0.5 * ((yd - xd @ wd.transpose(-1, -2)) ** 2).sum((-1, -2)) / x.shape[0]


def optimum(x: torch.Tensor, y: torch.Tensor, rank: int) -> tuple[torch.Tensor, float]:
    r"""The global minimum of the loss over products of rank at most ``rank``
    (a network whose narrowest width is ``rank``): reduced-rank regression,
    :func:`landscape.training.synthetic.reduced_rank_optimum`, in float64.

    Returns:
        ``(W_star, loss_star)`` with ``loss_star`` a float.
    """
    if not isinstance(rank, int) or isinstance(rank, bool) or not 0 <= rank <= min(x.shape[1], y.shape[1]):
        raise ValueError(f"Invalid rank: {rank!r} (must be an integer in [0, {min(x.shape[1], y.shape[1])}])")
    w, l = reduced_rank_optimum(x.double(), y.double(), rank)
    return w, float(l)


def relative_gap(value, loss_star: float):
    r"""The relative loss gap :math:`(L - L^\star) / L^\star` (works on floats, arrays and tensors)."""
    if not loss_star > 0:
        raise ValueError(f"Invalid loss_star: {loss_star} (must be > 0 for a relative gap)")
    return (value - loss_star) / loss_star


def critical_values(x: torch.Tensor, y: torch.Tensor, r: int) -> list[float]:
    r"""The loss at the best rank-:math:`k` product for :math:`k = 0, \dots, r`: the levels of
    the plateaus that gradient descent from a small start passes (the rank-:math:`k` critical
    points that learn the top :math:`k` directions; :math:`k = r` is the global minimum)."""
    return [optimum(x, y, k)[1] for k in range(r + 1)]


def hessian_eigenvalues(weights: Weights, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Eigenvalues (ascending) of the exact Hessian of the loss with respect to all
    the weights of one network (no batch dimension), in float64.

    Cost: one dense Hessian of :math:`\sum_l d_l d_{l-1}` parameters (tiny networks only).
    A negative eigenvalue certifies a strict saddle; at a global minimum the
    smallest eigenvalues are zero (the symmetries :math:`W_{l+1} A^{-1}, A W_l`).
    """
    ws = [w.detach().double() for w in _as_weights(weights)]
    if ws[0].ndim != 2:
        raise ValueError(f"Invalid weights: shape {tuple(ws[0].shape)} (hessian_eigenvalues takes one network, no batch dimension)")
    shapes = [w.shape for w in ws]
    sizes = [w.numel() for w in ws]
    xd, yd = x.double(), y.double()

    def f(theta: torch.Tensor) -> torch.Tensor:
        parts = torch.split(theta, sizes)
        return loss(_product_graph([p.view(s) for p, s in zip(parts, shapes)]), xd, yd)

    theta = torch.cat([w.reshape(-1) for w in ws])
    h = torch.autograd.functional.hessian(f, theta, vectorize=True)
    return torch.linalg.eigvalsh(0.5 * (h + h.T))


def _product_graph(ws: Weights) -> torch.Tensor:
    """The product, keeping the autograd graph (internal)."""
    w = ws[0]
    for v in ws[1:]:
        w = v @ w
    return w


# --- initializations -------------------------------------------------------------

#: Initialization kinds: ``gaussian`` (DeepLinear's N(0, scale^2 / d_in); a small
#: scale starts near the zero saddle), ``deficient`` (gaussian with ``dead`` hidden
#: units of the narrowest layer switched off: an exactly rank-deficient start),
#: ``zero`` (every weight zero: the zero-product saddle).
INITS = ("gaussian", "deficient", "zero")


def _check_dims(dims: Sequence[int]) -> list[int]:
    dims = list(dims)
    if len(dims) < 2 or any(not isinstance(d, int) or isinstance(d, bool) or d < 1 for d in dims):
        raise ValueError(f"Invalid dims: {dims} (needs at least two positive integer sizes)")
    return dims


def init_weights(
    dims: Sequence[int],
    kind: str = "gaussian",
    *,
    scale: float = 1.0,
    dead: int = 1,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float32,
) -> list[torch.Tensor]:
    r"""Initial weights ``[W_1, ..., W_H]`` of a deep linear network with layer sizes ``dims``.

    - ``gaussian``: :class:`~landscape.training.models.DeepLinear`'s draw,
      :math:`(W_l)_{ij} \sim N(0, \text{scale}^2 / d_{l-1})`.
    - ``deficient``: the same, then ``dead`` units of the narrowest hidden layer
      :math:`l` switched off (their rows of :math:`W_l` and columns of
      :math:`W_{l+1}` set to zero). The product has rank at most
      :math:`r - \text{dead}`, and gradient descent keeps those units dead: the
      gradient of each zeroed entry is a product with another zeroed entry.
      So do dropout, multiplicative weight noise and input or label noise;
      only additive (gradient) noise revives them.
    - ``zero``: all zeros, the zero-product saddle (a critical point for
      :math:`H \ge 2`, where every gradient is a product with a zero matrix).

    Example:
        >>> ws = init_weights([5, 3, 4], "deficient", dead=1, generator=torch.Generator().manual_seed(0))
        >>> int(numerical_rank(product(ws)))
        2
    """
    dims = _check_dims(dims)
    if kind not in INITS:
        raise ValueError(f"Invalid init kind: {kind!r} (choose from {', '.join(INITS)})")
    if not scale >= 0:
        raise ValueError(f"Invalid scale: {scale} (must be >= 0)")
    if kind == "zero":
        return [torch.zeros(b, a, dtype=dtype) for a, b in zip(dims[:-1], dims[1:])]
    net = DeepLinear(dims, init_scale=scale, generator=generator)
    ws = [lin.weight.detach().to(dtype).clone() for lin in net]
    if kind == "deficient":
        if len(dims) < 3:
            raise ValueError(f"Invalid dims: {dims} (a deficient start needs a hidden layer)")
        hidden = dims[1:-1]
        l = min(range(len(hidden)), key=lambda i: hidden[i])  # narrowest hidden layer (first of ties)
        if not isinstance(dead, int) or not 1 <= dead <= hidden[l]:
            raise ValueError(f"Invalid dead: {dead!r} (must be an integer in [1, {hidden[l]}])")
        ws[l][:dead, :] = 0.0
        ws[l + 1][:, :dead] = 0.0
    return ws


def init_batch(dims: Sequence[int], kind: str, seeds: Sequence[int], **kwargs) -> list[torch.Tensor]:
    """:func:`init_weights` for each seed (``torch.Generator().manual_seed(seed)``), stacked
    along a leading batch dimension: ``W_l`` has shape ``(len(seeds), d_l, d_{l-1})``.
    Run ``i`` starts exactly where ``init_weights(..., generator=seeded(seeds[i]))`` does."""
    if not seeds:
        raise ValueError("Invalid seeds: an empty list")
    per = [init_weights(dims, kind, generator=torch.Generator().manual_seed(int(s)), **kwargs) for s in seeds]
    return [torch.stack([p[l] for p in per]) for l in range(len(per[0]))]


def rms_product_norm(dims: Sequence[int], scale: float) -> float:
    r"""The root-mean-square Frobenius norm of the product at a ``gaussian`` start,
    :math:`\sqrt{E\,\|W_H \cdots W_1\|_F^2} = \text{scale}^H \sqrt{d_H}`.

    With independent :math:`(W_l)_{ij} \sim N(0, s^2 / d_{l-1})`, for a fixed vector
    :math:`v`, :math:`E\,\|W_l v\|^2 = (d_l s^2 / d_{l-1}) \|v\|^2`; so
    :math:`E\,\|W e_j\|^2 = s^{2H} d_H / d_0` for each of the :math:`d_0` basis vectors
    :math:`e_j`, and :math:`E\,\|W\|_F^2 = s^{2H} d_H`. A fixed per-layer scale therefore
    puts the product at a norm that shrinks geometrically with the depth :math:`H`
    (``scale`` 0.01: :math:`10^{-4}\sqrt{d_H}` at :math:`H = 2`, :math:`10^{-8}\sqrt{d_H}` at :math:`H = 4`).

    Example:
        >>> rms_product_norm([8, 3, 3, 8], 0.01) == 0.01 ** 3 * 8 ** 0.5
        True
    """
    dims = _check_dims(dims)
    if not scale >= 0:
        raise ValueError(f"Invalid scale: {scale} (must be >= 0)")
    return float(scale) ** (len(dims) - 1) * math.sqrt(dims[-1])


def scale_to_product_norm(weights: Weights, norm: float) -> list[torch.Tensor]:
    r"""The weights with every layer multiplied by the same factor, so that the product has
    Frobenius norm ``norm`` exactly (each run of a batch on its own):

    .. math::

        W_l \leftarrow c\, W_l, \qquad c = \big(\text{norm} / \|W_H \cdots W_1\|_F\big)^{1/H},

    so the product becomes :math:`c^H W = \text{norm}\; W / \|W\|_F`: the same direction,
    rank and singular-value ratios (the effective rank does not change), and the layers keep
    their relative sizes. New tensors; the inputs are not changed.

    Raises:
        ValueError: ``norm`` not positive, or a run whose product is zero or not finite
            (no factor can give it a norm).

    Example:
        >>> ws = init_weights([4, 3, 3, 4], "gaussian", generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> round(float(torch.linalg.matrix_norm(product(scale_to_product_norm(ws, 1e-6)))), 18)
        1e-06
    """
    ws = _as_weights(weights)
    if not (isinstance(norm, (int, float)) and math.isfinite(norm) and norm > 0):
        raise ValueError(f"Invalid norm: {norm!r} (must be a positive number)")
    current = torch.linalg.matrix_norm(product(ws).double())
    if not bool((torch.isfinite(current) & (current > 0)).all()):
        raise ValueError("Invalid weights: a product that is zero or not finite (no scale gives it a norm)")
    c = (norm / current) ** (1.0 / len(ws))
    c = c[..., None, None].to(ws[0].dtype)
    return [w.detach() * c for w in ws]


# --- noise -----------------------------------------------------------------------

#: Kinds of noise: none; gradient (additive Gaussian on every gradient entry);
#: dropout (on the hidden units, inverted); weight (multiplicative Gaussian on
#: every weight in the forward pass); input (additive Gaussian on x); label
#: (additive Gaussian on y). The magnitude is a standard deviation, except for
#: dropout, where it is the drop probability.
NOISE_KINDS = ("none", "gradient", "dropout", "weight", "input", "label")


@dataclass(frozen=True)
class Noise:
    r"""One kind of noise and its schedule.

    At iteration :math:`t` the magnitude is

    .. math::

        m_t = m \, (1 + t)^{-\gamma / 2} \quad (t < t_\text{stop}), \qquad m_t = 0 \quad (t \ge t_\text{stop}),

    so a variance :math:`m_t^2 = m^2 / (1 + t)^\gamma` as in Neelakantan et al. (2015),
    with :math:`\gamma` = ``anneal`` (0: constant; they use 0.55) and
    :math:`t_\text{stop}` = ``stop`` (None: never).

    Args:
        kind: one of :data:`NOISE_KINDS`.
        magnitude: standard deviation (gradient, weight, input, label) or drop probability (dropout, < 1).
        anneal: the exponent :math:`\gamma \ge 0` of the variance's decay.
        stop: the first iteration without noise (None: noise throughout).

    Example:
        >>> Noise("gradient", 0.1, anneal=1.0, stop=10).level(3), Noise("gradient", 0.1, stop=10).level(10)
        (0.05, 0.0)
    """

    kind: str = "none"
    magnitude: float = 0.0
    anneal: float = 0.0
    stop: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in NOISE_KINDS:
            raise ValueError(f"Invalid noise kind: {self.kind!r} (choose from {', '.join(NOISE_KINDS)})")
        if not self.magnitude >= 0:
            raise ValueError(f"Invalid magnitude: {self.magnitude} (must be >= 0)")
        if self.kind == "dropout" and not self.magnitude < 1:
            raise ValueError(f"Invalid magnitude: {self.magnitude} (a drop probability must be < 1)")
        if not self.anneal >= 0:
            raise ValueError(f"Invalid anneal: {self.anneal} (must be >= 0)")
        if self.stop is not None and (not isinstance(self.stop, int) or self.stop < 0):
            raise ValueError(f"Invalid stop: {self.stop!r} (must be a non-negative integer or None)")

    def level(self, t: int) -> float:
        """The magnitude at iteration ``t``."""
        if self.kind == "none" or (self.stop is not None and t >= self.stop):
            return 0.0
        return self.magnitude * (1.0 + t) ** (-0.5 * self.anneal)


def gradient_noise(grads: Weights, sigma: float, *, generator: torch.Generator | None = None) -> list[torch.Tensor]:
    r"""Gradients plus independent Gaussian noise, :math:`g + \sigma \varepsilon`, :math:`\varepsilon \sim N(0, I)`
    (new tensors; the inputs are not changed)."""
    if not sigma >= 0:
        raise ValueError(f"Invalid sigma: {sigma} (must be >= 0)")
    return [g + sigma * torch.randn(g.shape, generator=generator, dtype=g.dtype, device=g.device) for g in grads]


def dropout_mask(shape: Sequence[int], p: float, *, generator: torch.Generator | None = None, dtype: torch.dtype = torch.float32,
                 device: torch.device | str | None = None) -> torch.Tensor:
    r"""An inverted-dropout mask: each entry is :math:`1/(1-p)` with probability :math:`1 - p`, else 0
    (mean 1, variance :math:`p / (1 - p)`)."""
    if not 0 <= p < 1:
        raise ValueError(f"Invalid p: {p} (a drop probability must be in [0, 1))")
    keep = torch.rand(tuple(shape), generator=generator, device=device) >= p
    return keep.to(dtype) / (1.0 - p)


def weight_noise(w: torch.Tensor, sigma: float, *, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Multiplicative Gaussian weight noise: :math:`\tilde W = W \odot (1 + \sigma \varepsilon)`.

    Returns ``(W_tilde, factor)`` where ``factor`` :math:`= 1 + \sigma\varepsilon` (the
    gradient with respect to :math:`W` is the one with respect to :math:`\tilde W` times it).
    A zero weight stays zero."""
    if not sigma >= 0:
        raise ValueError(f"Invalid sigma: {sigma} (must be >= 0)")
    factor = 1.0 + sigma * torch.randn(w.shape, generator=generator, dtype=w.dtype, device=w.device)
    return w * factor, factor


def additive_noise(t: torch.Tensor, sigma: float, *, generator: torch.Generator | None = None, batch: int | None = None) -> torch.Tensor:
    r""":math:`t + \sigma \varepsilon` (input or label noise); with ``batch``, a leading dimension
    of ``batch`` independent copies (one per run)."""
    if not sigma >= 0:
        raise ValueError(f"Invalid sigma: {sigma} (must be >= 0)")
    shape = tuple(t.shape) if batch is None else (batch, *t.shape)
    # drawn in float32 (four times faster than float64 on the CPU; plenty for noise)
    eps = torch.randn(shape, generator=generator, dtype=torch.float32 if t.dtype == torch.float64 else t.dtype, device=t.device)
    return t + sigma * eps.to(t.dtype)


# --- training --------------------------------------------------------------------


def gradients(
    weights: Weights,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    masks: Sequence[torch.Tensor | None] | None = None,
    factors: Sequence[torch.Tensor | None] | None = None,
    forward_weights: Weights | None = None,
) -> tuple[list[torch.Tensor], torch.Tensor]:
    r"""The loss :math:`\frac{1}{2n}\|\hat Y - Y\|^2` of each run and its gradients with respect to the weights,
    by backpropagation written out (per example; needed for dropout and input noise).

    Forward: :math:`h_0 = X`, :math:`a_l = h_{l-1} \tilde W_l^\top`, :math:`h_l = a_l \odot M_l`
    (dropout masks on hidden layers, optional), :math:`\hat Y = h_H`.
    Backward: :math:`\delta_H = (\hat Y - Y)/n`; for :math:`l = H, \dots, 1`:
    :math:`\partial L / \partial a_l = \delta_l \odot M_l`,
    :math:`\partial L / \partial \tilde W_l = (\partial L / \partial a_l)^\top h_{l-1}`,
    :math:`\delta_{l-1} = (\partial L / \partial a_l) \tilde W_l`; and
    :math:`\partial L / \partial W_l = \partial L / \partial \tilde W_l \odot F_l` when
    :math:`\tilde W_l = W_l \odot F_l` (multiplicative weight noise).

    Args:
        weights: ``[W_1, ..., W_H]``, each ``(S, d_l, d_{l-1})`` or unbatched.
        x: inputs ``(n, d_0)`` or ``(S, n, d_0)``; y: targets ``(n, d_H)`` or ``(S, n, d_H)``.
        masks: per layer, a dropout mask for :math:`h_l` (``(S, n, d_l)``) or None.
        factors: per layer, the factor :math:`F_l` of multiplicative noise or None.
        forward_weights: :math:`\tilde W_l` (default: ``weights``).

    Returns:
        ``(grads, loss)`` with ``loss`` of shape ``(S,)`` (or a scalar).
    """
    ws = list(forward_weights) if forward_weights is not None else list(weights)
    batched = ws[0].ndim == 3
    if batched and x.ndim == 2:  # shared inputs: one matrix product for every run
        h = torch.einsum("ni,sji->snj", x, ws[0])
    else:
        h = x @ ws[0].transpose(-1, -2)
    hs = [x]
    for l in range(len(ws)):
        if l > 0:
            h = h @ ws[l].transpose(-1, -2)
        if masks is not None and masks[l] is not None:
            h = h * masks[l]
        hs.append(h)
    n = x.shape[-2]
    resid = h - y
    value = 0.5 * (resid**2).sum((-1, -2)) / n
    delta = resid / n
    grads: list[torch.Tensor] = [None] * len(ws)  # type: ignore[list-item]
    for l in range(len(ws) - 1, -1, -1):
        if masks is not None and masks[l] is not None:
            delta = delta * masks[l]
        if l == 0 and batched and x.ndim == 2:
            g = torch.einsum("snj,ni->sji", delta, x)
        else:
            g = delta.transpose(-1, -2) @ hs[l]
        if factors is not None and factors[l] is not None:
            g = g * factors[l]
        grads[l] = g
        if l > 0:
            delta = delta @ ws[l]
    return grads, value


def moment_gradients(
    weights: Weights,
    sxx: torch.Tensor,
    syx: torch.Tensor,
    *,
    factors: Sequence[torch.Tensor | None] | None = None,
    forward_weights: Weights | None = None,
) -> list[torch.Tensor]:
    r"""Gradients of the squared loss from the data's second moments, at a cost
    independent of the number of examples.

    With :math:`\Sigma_{xx} = X^\top X / n`, :math:`\Sigma_{yx} = Y^\top X / n` and the
    product :math:`W = W_H \cdots W_1`,

    .. math::

        \nabla_W L = W \Sigma_{xx} - \Sigma_{yx}, \qquad
        \nabla_{W_l} L = (W_H \cdots W_{l+1})^\top \, \nabla_W L \, (W_{l-1} \cdots W_1)^\top,

    and, under multiplicative weight noise :math:`\tilde W_l = W_l \odot F_l`, the same at
    :math:`\tilde W` times :math:`F_l`.

    Args:
        weights: ``[W_1, ..., W_H]``, each ``(S, d_l, d_{l-1})`` or unbatched.
        sxx: ``(d_0, d_0)``; syx: ``(d_H, d_0)`` or ``(S, d_H, d_0)`` (per-run label noise).
        factors, forward_weights: as in :func:`gradients`.
    """
    ws = list(forward_weights) if forward_weights is not None else list(weights)
    H = len(ws)
    prefix = [None, ws[0]]  # prefix[l] = W_l ... W_1
    for l in range(1, H):
        prefix.append(ws[l] @ prefix[-1])
    g_w = prefix[H] @ sxx - syx
    grads: list[torch.Tensor] = [None] * H  # type: ignore[list-item]
    left = g_w  # (W_H ... W_{l+1})^T grad_W, built from the top
    for l in range(H - 1, -1, -1):
        g = left if l == 0 else left @ prefix[l].transpose(-1, -2)
        if factors is not None and factors[l] is not None:
            g = g * factors[l]
        grads[l] = g
        if l > 0:
            left = ws[l].transpose(-1, -2) @ left
    return grads


def label_noise_moment(x: torch.Tensor, d_out: int, sigma: float, *, generator: torch.Generator | None = None, batch: int | None = None, chol: torch.Tensor | None = None) -> torch.Tensor:
    r"""The change of :math:`\Sigma_{yx}` under label noise, :math:`E^\top X / n` with
    :math:`E_{ij} \sim N(0, \sigma^2)`, drawn exactly in distribution from :math:`d_{out} \times d_0`
    normals: :math:`E^\top X / n = \sigma Z C^\top / n` with :math:`C C^\top = X^\top X` (rows of
    :math:`E^\top X` are independent :math:`N(0, \sigma^2 X^\top X)`)."""
    if chol is None:
        chol = _chol(x)
    shape = (d_out, x.shape[1]) if batch is None else (batch, d_out, x.shape[1])
    z = torch.randn(shape, generator=generator, dtype=x.dtype, device=x.device)
    return sigma * (z @ chol.transpose(-1, -2)) / x.shape[0]


def _chol(x: torch.Tensor) -> torch.Tensor:
    """A factor C with C C^T = X^T X (Cholesky, or an eigen-factor when X^T X is singular)."""
    g = x.transpose(-1, -2) @ x
    c, info = torch.linalg.cholesky_ex(g)
    if int(info) == 0:
        return c
    ev, vec = torch.linalg.eigh(g)
    return vec * ev.clamp_min(0).sqrt()


#: noise kinds trained from the data's moments (cheap); the others need every example
_MOMENT_KINDS = ("none", "gradient", "weight", "label")


def train_gd(
    weights: Weights,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    lr: float,
    iterations: int,
    noise: Noise = Noise(),
    record_every: int = 10,
    rtol: float = 1e-3,
    generator: torch.Generator | None = None,
    threads: int | None = 1,
) -> dict:
    r"""Full-batch gradient descent on a (batch of) deep linear network(s), with one kind of noise.

    .. math::

        W_l \leftarrow W_l - \eta \, \big(\nabla_{W_l} \tilde L + \sigma_t \varepsilon\big)

    where :math:`\tilde L` is the loss under the noise of the iteration (dropout
    masks, perturbed weights, noisy inputs or labels; each run of the batch
    draws its own) and the :math:`\sigma_t \varepsilon` term is present for
    gradient noise only. The recorded loss is always the *clean* training loss
    of the product; the rank measures are those of the clean product.

    Without noise and with gradient, weight or label noise the gradient comes
    from the data's second moments (:func:`moment_gradients`; label noise
    through :func:`label_noise_moment`, exact in distribution); dropout and
    input noise act on each example (:func:`gradients`).

    Cost: ``iterations`` gradient evaluations per run (all runs of the batch at
    once), and an SVD of the product every ``record_every``.

    Args:
        weights: the start ``[W_1, ..., W_H]`` (not changed), each ``(S, d_l, d_{l-1})`` or unbatched.
        x, y: the training set, ``(n, d_0)`` and ``(n, d_H)``.
        lr: the step size :math:`\eta`.
        iterations: number of steps.
        noise: the kind of noise and its schedule.
        record_every: record the loss and rank measures every this many steps (and at 0 and the end).
        rtol: relative tolerance of the numerical rank.
        generator: the noise's random generator (seeded by the caller).
        threads: torch's intra-op threads during the run, restored after (1: these
            matrices are tiny, and on shared cores more threads made each step
            20 times slower, measured); None leaves torch's setting.

    Returns:
        dict of float64 tensors: ``iteration`` ``(K,)``; ``loss``,
        ``effective_rank``, ``numerical_rank``, ``smallest_sv`` ``(S, K)`` (``(K,)``
        unbatched); ``singular_values`` ``(S, K, min(d_0, d_H))``; and ``weights``,
        the final weights. A run whose loss becomes non-finite keeps NaN from there on.
    """
    if not lr > 0:
        raise ValueError(f"Invalid lr: {lr} (must be > 0)")
    if not isinstance(iterations, int) or iterations < 0:
        raise ValueError(f"Invalid iterations: {iterations!r} (must be a non-negative integer)")
    if not isinstance(record_every, int) or record_every < 1:
        raise ValueError(f"Invalid record_every: {record_every!r} (must be a positive integer)")
    with thread_count(threads):
        return _train_gd(weights, x, y, lr=lr, iterations=iterations, noise=noise, record_every=record_every, rtol=rtol, generator=generator)


def _train_gd(weights, x, y, *, lr, iterations, noise, record_every, rtol, generator) -> dict:
    ws = [w.detach().clone() for w in _as_weights(weights)]
    if x.ndim != 2 or y.ndim != 2 or x.shape[0] != y.shape[0]:
        raise ValueError(f"Invalid data: x {tuple(x.shape)}, y {tuple(y.shape)} (expected (n, d_in) and (n, d_out))")
    if x.shape[1] != ws[0].shape[-1] or y.shape[1] != ws[-1].shape[-2]:
        raise ValueError(f"Invalid data: x {tuple(x.shape)}, y {tuple(y.shape)} do not fit a network {ws[0].shape[-1]} -> {ws[-1].shape[-2]}")
    batched = ws[0].ndim == 3
    S = ws[0].shape[0] if batched else None
    x, y = x.to(ws[0].dtype), y.to(ws[0].dtype)
    widths = [w.shape[-2] for w in ws[:-1]]
    r = min([*widths, x.shape[1], y.shape[1]])
    n = x.shape[0]
    moments = noise.kind in _MOMENT_KINDS
    if moments:
        sxx, syx = x.T @ x / n, y.T @ x / n
        chol = _chol(x) if noise.kind == "label" else None
    recs: dict[str, list[torch.Tensor]] = {k: [] for k in ("loss", "effective_rank", "numerical_rank", "smallest_sv", "singular_values")}
    its: list[int] = []

    def record(t: int) -> None:
        w = product(ws)
        m = rank_measures(w, r, rtol=rtol)
        its.append(t)
        recs["loss"].append(loss(w, x, y))
        for k in ("effective_rank", "numerical_rank", "smallest_sv", "singular_values"):
            recs[k].append(m[k].double())

    lead = (S,) if batched else ()
    for t in range(iterations):
        if t % record_every == 0:
            record(t)
        level = noise.level(t)
        factors, fw = None, None
        if level > 0 and noise.kind == "weight":
            pairs = [weight_noise(w, level, generator=generator) for w in ws]
            fw, factors = [q[0] for q in pairs], [q[1] for q in pairs]
        if moments:
            s = syx
            if level > 0 and noise.kind == "label":
                s = syx + label_noise_moment(x, y.shape[1], level, generator=generator, batch=S, chol=chol)
            grads = moment_gradients(ws, sxx, s, factors=factors, forward_weights=fw)
        else:
            xs, masks = x, None
            if level > 0 and noise.kind == "input":
                xs = additive_noise(x, level, generator=generator, batch=S)
            elif level > 0 and noise.kind == "dropout":
                masks = [dropout_mask((*lead, n, w.shape[-2]), level, generator=generator, dtype=x.dtype, device=x.device) for w in ws[:-1]] + [None]
            grads, _ = gradients(ws, xs, y, masks=masks)
        if level > 0 and noise.kind == "gradient":
            grads = gradient_noise(grads, level, generator=generator)
        for w, g in zip(ws, grads):
            w.sub_(lr * g)
    record(iterations)
    out = {"iteration": torch.tensor(its, dtype=torch.float64)}
    for k, v in recs.items():
        out[k] = torch.stack(v, dim=-2 if k == "singular_values" else -1).double()
    out["weights"] = ws
    return out
