r"""The layerwise Hessian-trace regularizer of Sankar et al. (AAAI 2021), with the
mechanics of the authors' public code, as a ``penalty`` for :func:`landscape.training.fit`.

The training loss becomes

.. math::

    L(\theta) + \gamma \, \frac1K \sum_{k=1}^K v_k^\top H_{BB}(\theta)\, v_k ,
    \qquad v_k \in \{-1, +1\}^{|B|} \text{ (Rademacher)},

an unbiased estimate of :math:`L + \gamma \operatorname{tr} H_{BB}` computed by double
backprop with the graph kept (:func:`landscape.curvature.hessian_trace_penalty`), so
that the optimizer follows :math:`\nabla L + \gamma \nabla \widehat{\operatorname{tr}}`.
Because :math:`\operatorname{tr} H = \sum_l \operatorname{tr} H_{ll}`, penalizing every
layer is penalizing the full trace (``B`` = all parameters); the "middle" variant zeroes
the probe outside the middle parameter tensors (:func:`middle_params`), i.e.
penalizes :math:`\operatorname{tr} H_{BB}` for those tensors only.

Schedule (as in the authors' training loop, ``step % freq == 0 and epoch >= sp`` with
``step`` the index of the mini-batch *within* its epoch and ``epoch`` counted from 0):
the term is added only on mini-batches whose in-epoch index is a multiple of ``freq``,
and only from (0-based) epoch ``start_epoch`` on - that is, after ``start_epoch``
full epochs. :func:`fires` is that rule; on every other step the penalty returns
``None`` and costs nothing.

Cost of a step that fires: one extra forward, the gradient graph, ``K`` double
backprops and the backward through them - roughly ``3 + 4K`` gradient costs (see
:mod:`landscape.curvature.penalty`); other steps cost what plain SGD does.

Used by the chapter ``book/hessian.ipynb`` (:mod:`landscape.chapters.hessian`).

Example:
    >>> import torch.nn.functional as F
    >>> from landscape import data, models
    >>> from landscape.training import fit
    >>> ds = data.load("digits", n_train=64, n_test=32)
    >>> model = models.build("mlp", in_features=64, widths=[8], out_features=10, seed=0)
    >>> pen = TracePenalty(gamma=1e-3, steps_per_epoch=4, num_probes=2, freq=2, start_epoch=1, seed=0)
    >>> opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    >>> h = fit(model, ds.train, epochs=2, optimizer=opt, batch_size=16, penalty=pen, device="cpu")
    >>> pen.fired
    [4, 6]

References:
    A. R. Sankar, Y. Khasbage, R. Vigneswaran, V. N. Balasubramanian, "A deeper look
    at the Hessian eigenspectrum of deep neural networks and its applications to
    regularization", AAAI 2021.
"""

from __future__ import annotations

import math
import numbers
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..curvature import hessian_trace_penalty
from ..validation import check_int, check_number

__all__ = ["TracePenalty", "middle_params", "middle_indices", "fires", "steps_per_epoch", "SCOPES"]

#: what a :class:`TracePenalty` penalizes: every parameter, or the middle tensors only
SCOPES = ("full", "middle")


def middle_indices(n: int) -> list[int]:
    """Indices ``i`` with ``n // 4 <= i <= 3 * n // 4`` (both ends included) of ``n`` tensors.

    Example:
        >>> middle_indices(10)
        [2, 3, 4, 5, 6, 7]
    """
    n = check_int("n", n, minimum=1)
    return list(range(n // 4, min(3 * n // 4, n - 1) + 1))


def middle_params(model: nn.Module) -> list[str]:
    """Names of the "middle" parameter tensors: position ``i`` in
    ``model.named_parameters()`` (every tensor counts - weights, biases, norms)
    with ``n // 4 <= i <= 3 * n // 4``, ``n`` the number of tensors, as in the
    authors' code (the interval is read as closed).

    Frozen tensors count for the position but are not returned (they have no
    Hessian to penalize).

    Example:
        >>> from landscape import models
        >>> middle_params(models.build("lenet5", input_size=8))
        ['conv2.weight', 'conv2.bias', 'fc1.weight', 'fc1.bias', 'fc2.weight', 'fc2.bias']
    """
    named = list(model.named_parameters())
    if not named:
        raise ValueError("Invalid model: it has no parameters")
    keep = set(middle_indices(len(named)))
    out = [n for i, (n, p) in enumerate(named) if i in keep and p.requires_grad]
    if not out:
        raise ValueError("Invalid model: none of its middle parameter tensors is trainable")
    return out


def steps_per_epoch(num_examples: int, batch_size: int) -> int:
    """Mini-batches per epoch of :func:`landscape.training.data.batches` (the last one may be short)."""
    num_examples = check_int("num_examples", num_examples, minimum=1)
    batch_size = check_int("batch_size", batch_size, minimum=1)
    return math.ceil(num_examples / batch_size)


def fires(step: int, *, steps_per_epoch: int, freq: int, start_epoch: int) -> bool:
    """Whether the penalty is added at global step ``step`` (0-based, as
    :func:`landscape.training.fit` counts): the step's in-epoch index is a multiple
    of ``freq`` and its (0-based) epoch is at least ``start_epoch``.

    Example:
        >>> [s for s in range(12) if fires(s, steps_per_epoch=4, freq=2, start_epoch=1)]
        [4, 6, 8, 10]
    """
    epoch, within = divmod(step, steps_per_epoch)
    return epoch >= start_epoch and within % freq == 0


class TracePenalty:
    r"""``penalty(model, x, y, step)`` for :func:`landscape.training.fit`: :math:`\gamma`
    times a :math:`K`-probe Hutchinson estimate of :math:`\operatorname{tr} H_{BB}` on
    the current mini-batch, at the steps chosen by :func:`fires`, else ``None``.

    Args:
        gamma: weight :math:`\gamma \ge 0` of the penalty.
        steps_per_epoch: mini-batches per epoch (see :func:`steps_per_epoch`); turns
            fit's global step counter into (epoch, in-epoch index).
        num_probes: :math:`K`, Rademacher probes per penalized step.
        freq: penalize mini-batches whose in-epoch index is a multiple of this.
        start_epoch: first (0-based) epoch with a penalty (the authors' ``sp``).
        scope: ``"full"`` (every trainable parameter: the full trace) or
            ``"middle"`` (:func:`middle_params`, resolved on the first call), or
            give ``params`` instead.
        params: explicit parameter names of the block ``B`` (overrides ``scope``).
        loss_fn: the mean loss ``loss_fn(outputs, targets)``.
        seed: seeds the probes' :class:`torch.Generator` (one generator, advanced at
            every penalized step, so a run is reproducible).

    Attributes:
        fired: the global steps at which the penalty was added, in order.
        last: the last penalty value (detached), or ``None``.

    Raises:
        ValueError: a bad hyper-parameter, naming it.
    """

    def __init__(self, *, gamma: float, steps_per_epoch: int, num_probes: int = 10, freq: int = 50,
                 start_epoch: int = 0, scope: str = "full", params: Sequence[str] | None = None,
                 loss_fn: Callable = F.cross_entropy, seed: int = 0) -> None:
        if isinstance(gamma, bool) or not isinstance(gamma, numbers.Real) or not gamma >= 0 or not math.isfinite(gamma):
            raise ValueError(f"Invalid gamma: {gamma!r} (must be a finite number >= 0)")
        if scope not in SCOPES:
            raise ValueError(f"Invalid scope: {scope!r} (choose from {', '.join(SCOPES)})")
        if params is not None and (isinstance(params, str) or not all(isinstance(p, str) for p in params) or not params):
            raise ValueError(f"Invalid params: {params!r} (a non-empty list of parameter names)")
        self.gamma = float(gamma)
        self.steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        self.num_probes = check_int("num_probes", num_probes, minimum=1)
        self.freq = check_int("freq", freq, minimum=1)
        self.start_epoch = check_int("start_epoch", start_epoch, minimum=0)
        self.scope = scope
        self.params = list(params) if params is not None else None
        self.loss_fn = loss_fn
        self.seed = check_int("seed", seed, minimum=0)
        self.generator = torch.Generator().manual_seed(self.seed)
        self.fired: list[int] = []
        self.last: torch.Tensor | None = None

    def fires(self, step: int) -> bool:
        """Whether global step ``step`` gets the penalty (see :func:`fires`)."""
        return fires(step, steps_per_epoch=self.steps_per_epoch, freq=self.freq, start_epoch=self.start_epoch)

    def block(self, model: nn.Module) -> list[str] | None:
        """The parameter names penalized on ``model`` (``None``: all trainable ones)."""
        if self.params is not None:
            return self.params
        return middle_params(model) if self.scope == "middle" else None

    def __call__(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, step: int) -> torch.Tensor | None:
        if self.gamma == 0 or not self.fires(step):
            return None
        pen = hessian_trace_penalty(model, self.loss_fn, (x, y), params=self.block(model),
                                    num_probes=self.num_probes, generator=self.generator)
        self.fired.append(int(step))
        self.last = pen.detach()
        return self.gamma * pen

    def __repr__(self) -> str:
        what = f"params={self.params}" if self.params is not None else f"scope={self.scope!r}"
        return (f"TracePenalty(gamma={self.gamma:g}, K={self.num_probes}, freq={self.freq}, "
                f"start_epoch={self.start_epoch}, {what}, fired={len(self.fired)})")
