"""lean_data_convs: the same first, second and third derivatives as PyTorch's, without the unused term."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from landscape.curvature.dataconv import lean_data_convs

DT = torch.float64


def derivatives(x, w, b, conf, lean):
    """Gradient, a Hessian-vector product and the gradient of ||Hv||^2 (third order) of a conv loss."""
    stride, padding, dilation = conf
    params = [w] if b is None else [w, b]
    if lean:
        with lean_data_convs():
            out = F.conv2d(x, w, b, stride, padding, dilation)
    else:
        out = F.conv2d(x, w, b, stride, padding, dilation)
    loss = (torch.tanh(out) ** 2).sum() + out.pow(3).mean()
    g = torch.autograd.grad(loss, params, create_graph=True)
    vs = [torch.linspace(-1, 1, p.numel(), dtype=DT).reshape(p.shape) for p in params]
    hv = torch.autograd.grad(sum((gi * vi).sum() for gi, vi in zip(g, vs)), params, create_graph=True)
    third = torch.autograd.grad(sum((h ** 2).sum() for h in hv), params)
    return out.grad_fn, [t.detach() for t in (*g, *hv, *third)]


@pytest.mark.parametrize("conf", [((1, 1), (0, 0), (1, 1)), ((2, 2), (1, 1), (1, 1)), ((1, 2), (2, 1), (2, 1)),
                                  ((3, 1), (1, 2), (2, 2))])
@pytest.mark.parametrize("bias", [True, False])
def test_lean_equals_pytorch_up_to_third_order(conf, bias):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 2, 11, 13, dtype=DT, generator=g)
    w = torch.randn(4, 2, 3, 3, dtype=DT, generator=g).requires_grad_()
    b = torch.randn(4, dtype=DT, generator=g).requires_grad_() if bias else None
    fn_plain, ref = derivatives(x, w, b, conf, lean=False)
    fn_lean, got = derivatives(x, w, b, conf, lean=True)
    assert type(fn_lean).__name__ == "_DataConv2dBackward"      # the lean path was taken
    assert type(fn_plain).__name__ != type(fn_lean).__name__
    for a, r in zip(got, ref):
        assert torch.allclose(a, r, rtol=1e-12, atol=1e-12 * float(r.abs().max()))


def test_other_convolutions_pass_through():
    g = torch.Generator().manual_seed(1)
    w = torch.randn(4, 2, 3, 3, dtype=DT, generator=g).requires_grad_()
    x = torch.randn(2, 2, 7, 7, dtype=DT, generator=g)
    with lean_data_convs():
        needs_grad = F.conv2d(x.clone().requires_grad_(), w)             # input gradient wanted
        grouped = F.conv2d(torch.randn(2, 4, 7, 7, dtype=DT, generator=g), w, groups=2)
        same = F.conv2d(x, w, padding="same")
        with torch.no_grad():
            frozen = F.conv2d(x, w)
        module = torch.nn.Conv2d(2, 4, 3).double()(x)                    # nn.Conv2d goes through F.conv2d
    assert all(type(t.grad_fn).__name__ == "ConvolutionBackward0" for t in (needs_grad, grouped, same))
    assert frozen.grad_fn is None
    assert type(module.grad_fn).__name__ == "_DataConv2dBackward"
    assert torch.allclose(same, F.conv2d(x, w, padding="same"))
