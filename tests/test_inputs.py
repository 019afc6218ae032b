"""Library inputs that used to fail deep inside torch or give a wrong number silently, each
named now (NaN data, empty batches, mixed dtypes, a non-symmetric operator, a bad seed)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from landscape.curvature import HessianOperator, eigenvalues, hessian_trace_penalty, trace
from landscape.training import data

DT = torch.float64


def _net(dtype=DT):
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3)).to(dtype)


def _batch(n=16, dtype=DT):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 4, generator=g, dtype=dtype), torch.arange(n) % 3


def test_nan_data_is_named_before_any_product():
    x, y = _batch()
    x[3, 1] = float("nan")
    with pytest.raises(ValueError, match=r"Invalid data: batch 0 has NaN or infinite values in its inputs"):
        HessianOperator(_net(), F.cross_entropy, (x, y))
    with pytest.raises(ValueError, match=r"batch 1 has NaN or infinite values in its targets"):
        HessianOperator(_net(), F.mse_loss, [(torch.zeros(2, 4, dtype=DT), torch.zeros(2, 3, dtype=DT)),
                                              (torch.zeros(2, 4, dtype=DT), torch.full((2, 3), float("inf"), dtype=DT))])


def test_an_empty_batch_is_named():
    x, y = _batch(0)
    with pytest.raises(ValueError, match=r"Invalid data: batch 0 is empty"):
        hessian_trace_penalty(_net(), F.cross_entropy, (x, y), generator=0)
    with pytest.raises(ValueError, match=r"batch 1 is empty"):
        HessianOperator(_net(), F.cross_entropy, [_batch(4), (x, y)])


def test_a_dtype_mismatch_is_named():
    x, y = _batch(dtype=torch.float64)
    with pytest.raises(TypeError, match=r"batch 0 has torch.float64 inputs but the parameters are torch.float32"):
        HessianOperator(_net(torch.float32), F.cross_entropy, (x, y))
    with pytest.raises(TypeError, match="must match"):
        hessian_trace_penalty(_net(torch.float32), F.cross_entropy, (x, y), generator=0)


def test_a_non_symmetric_operator_is_refused_at_no_extra_cost():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(60, 60, generator=g, dtype=DT)
    with pytest.raises(ValueError, match=r"Invalid op: not symmetric"):
        eigenvalues(a, k=2)
    with pytest.raises(ValueError, match=r"not symmetric"):
        eigenvalues(torch.randn(8, 8, generator=g, dtype=DT), k=2)  # the dense path
    s = a + a.T
    res = eigenvalues(s, k=2, tol=1e-10)
    assert torch.allclose(res.values, torch.linalg.eigvalsh(s)[-2:].flip(0), atol=1e-8)
    # a Hessian in float32: its products are symmetric only up to rounding, and pass
    x, y = _batch(dtype=torch.float32)
    op = HessianOperator(_net(torch.float32), F.cross_entropy, (x, y))
    assert eigenvalues(op, k=1, tol=1e-4).hvps > 0


def test_the_symmetry_probe_costs_no_products():
    s = torch.diag(torch.arange(1.0, 81.0, dtype=DT))

    class Counting:
        shape, dtype, device = s.shape, DT, torch.device("cpu")
        calls = 0

        def __matmul__(self, v):
            Counting.calls += v.shape[1]
            return s @ v

    res = eigenvalues(Counting(), k=1, tol=1e-8)
    assert res.hvps == Counting.calls


@pytest.mark.parametrize("seed, message", [(-1, r"Invalid seed: -1 \(must be an integer >= 0\)"),
                                           (1.5, r"Invalid seed: 1.5 \(must be an integer >= 0\)")])
def test_a_bad_seed_is_named(seed, message):
    with pytest.raises(ValueError, match=message):
        data.load("digits", seed=seed)


def test_trace_of_nan_free_data_still_works():
    x, y = _batch()
    assert torch.isfinite(torch.tensor(trace(HessianOperator(_net(), F.cross_entropy, (x, y)), num_matvecs=9).value))
