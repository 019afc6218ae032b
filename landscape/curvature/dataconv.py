r"""2-D convolutions of data (inputs that need no gradient) with a lean double backward.

Why: for :math:`y = w \star x` with a data input :math:`x` (no gradient wanted), the
first backward only computes the weight gradient

.. math::

    g_w = \operatorname{corr}(x, g_y) \qquad (\text{linear in } g_y),

but PyTorch's double backward of that node (``ConvolutionBackwardBackward0``, torch
2.11-2.14) also evaluates the *input* term :math:`\operatorname{conv}^\top(g_y, \dot
w)` -- a transposed convolution through a slow, non-oneDNN path on the CPU -- although
the input edge is ``None``.  On the LeNet-style CNN of the benchmark that wasted term
was about half of every Hessian-vector product.

What: inside :func:`lean_data_convs`, every ``torch.conv2d`` / ``F.conv2d`` call whose
input does not require grad (ungrouped, numeric padding) runs as
:class:`_DataConv2d`, whose backward returns :math:`g_w = ` :class:`_WeightGrad`
:math:`(g_y)` and :math:`g_b = \sum g_y`.  :class:`_WeightGrad` is linear in
:math:`g_y` with the explicit adjoint

.. math::

    \langle \operatorname{corr}(x, g_y), \dot w \rangle
    = \langle g_y, \operatorname{conv}(x, \dot w) \rangle ,

so its backward is one ordinary convolution of the data with :math:`\dot w` (itself
differentiable: third derivatives for the trace penalty work too).  Values are the
same as PyTorch's (identical in float64 in the tests); only the wasted work is gone.
Every other call passes through untouched.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

Tensor = torch.Tensor

__all__ = ["lean_data_convs"]

_CONV2D = (torch.conv2d, F.conv2d)
_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")


def _pair(v) -> tuple[int, int]:
    return (int(v), int(v)) if isinstance(v, int) else tuple(int(u) for u in v)


class _WeightGrad(torch.autograd.Function):
    """``g_w = corr(x, g_y)`` (the weight gradient of ``conv2d(x, w)``), with adjoint ``conv2d(x, .)``."""

    @staticmethod
    def forward(ctx, gout: Tensor, x: Tensor, weight: Tensor, conf: tuple) -> Tensor:
        ctx.save_for_backward(x)
        ctx.conf = conf
        stride, padding, dilation = conf
        return torch.ops.aten.convolution_backward(gout, x, weight, None, list(stride), list(padding),
                                                   list(dilation), False, [0, 0], 1, [False, True, False])[1]

    @staticmethod
    def backward(ctx, ggw: Tensor):
        (x,) = ctx.saved_tensors
        stride, padding, dilation = ctx.conf
        return F.conv2d(x, ggw, None, stride, padding, dilation), None, None, None


class _DataConv2d(torch.autograd.Function):
    """``conv2d(x, w, b)`` for an ``x`` without gradient; backward gives ``(None, g_w, g_b)``."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, conf: tuple) -> Tensor:
        ctx.save_for_backward(x, weight)
        ctx.conf = conf
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight, bias, *conf)

    @staticmethod
    def backward(ctx, gout: Tensor):
        x, weight = ctx.saved_tensors
        gw = gb = None
        if ctx.needs_input_grad[1]:
            gw = _WeightGrad.apply(gout, x, weight.detach(), ctx.conf)
        if ctx.has_bias and ctx.needs_input_grad[2]:
            gb = gout.sum((0, 2, 3))
        return None, gw, gb, None


class _LeanMode(TorchFunctionMode):
    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func in _CONV2D:
            a = dict(zip(_ARGS, args))
            a.update(kwargs)
            x = a.get("input")
            padding = a.get("padding", 0)
            if (isinstance(x, Tensor) and x.ndim == 4 and not x.requires_grad and a.get("groups", 1) == 1
                    and not isinstance(padding, str) and torch.is_grad_enabled()):
                conf = (_pair(a.get("stride", 1)), _pair(padding), _pair(a.get("dilation", 1)))
                return _DataConv2d.apply(x, a["weight"], a.get("bias"), conf)
        return func(*args, **kwargs)


@contextlib.contextmanager
def lean_data_convs() -> Iterator[None]:
    """Run the block with data convolutions rerouted through :class:`_DataConv2d` (see the module)."""
    with _LeanMode():
        yield
