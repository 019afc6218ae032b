"""trace (Hutchinson, Hutch++): bias, error decay, honest standard errors."""

from __future__ import annotations

import pytest
import torch

from cases import DT, gen, make, randn, reference_hessian, single_thread  # noqa: F401
from landscape.curvature import HessianOperator, trace

pytestmark = pytest.mark.usefixtures("single_thread")


def hessian_like(n: int = 400, seed: int = 2) -> tuple[torch.Tensor, float]:
    """A few large outliers and a symmetric bulk around zero, random eigenvectors."""
    g = gen(seed)
    Q, _ = torch.linalg.qr(randn(n, n, g=g))
    lam = torch.cat([torch.tensor([20.0, 12.0, 8.0, 5.0, 3.0], dtype=DT), 0.3 * randn(n - 5, g=g)])
    return (Q * lam) @ Q.T, float(lam.sum())


@pytest.mark.parametrize("method,budget", [("hutchinson", 100), ("hutch++", 90)])
def test_stderr_covers_the_truth(method, budget):
    A, truth = hessian_like()
    hits = [abs(r.value - truth) <= 2 * r.stderr
            for r in (trace(A, num_matvecs=budget, method=method, seed=s) for s in range(50))]
    assert sum(hits) >= 45


def test_stderr_covers_the_truth_on_a_model_hessian():
    case = make("deep_tanh_ce")
    H = reference_hessian(case)
    truth = float(H.trace())
    hits = [abs(r.value - truth) <= 2 * r.stderr
            for r in (trace(H, num_matvecs=100, method="hutchinson", seed=s) for s in range(50))]
    assert sum(hits) >= 45


@pytest.mark.parametrize("method", ["hutchinson", "hutch++"])
def test_error_falls_with_budget(method):
    A, truth = hessian_like()
    errors = [sum(abs(trace(A, num_matvecs=m, method=method, seed=s).value - truth) for s in range(50)) / 50
              for m in (12, 48, 192)]
    assert errors[0] > errors[1] > errors[2]
    assert errors[2] < 0.5 * errors[0]


def test_hutchpp_beats_hutchinson_on_outlier_spectrum():
    A, truth = hessian_like()

    def mean_err(method):
        return sum(abs(trace(A, num_matvecs=192, method=method, seed=s).value - truth) for s in range(30)) / 30

    assert mean_err("hutch++") < 0.5 * mean_err("hutchinson")


def test_hutchinson_uses_documented_probes():
    A, _ = hessian_like(n=50)
    res = trace(A, num_matvecs=7, method="hutchinson", seed=11)
    g = gen(11)
    Z = (torch.randint(0, 2, (7, 50), generator=g, dtype=torch.int8).to(DT) * 2 - 1)   # one row per probe
    samples = torch.einsum("in,nm,im->i", Z, A, Z)
    assert torch.allclose(res.samples, samples, rtol=1e-12)
    assert res.value == pytest.approx(float(samples.mean()), rel=1e-12)
    assert res.stderr == pytest.approx(float(samples.std() / 7 ** 0.5), rel=1e-10)
    same = trace(A, num_matvecs=7, method="hutchinson", seed=11, block_size=2)
    assert same.value == pytest.approx(res.value, rel=1e-12)


def test_hutchpp_is_exact_when_the_sketch_spans_everything():
    A, truth = hessian_like(n=20)
    res = trace(A, num_matvecs=64, method="hutch++", seed=0)
    assert res.value == pytest.approx(truth, rel=1e-12)
    assert res.stderr < 1e-12


def test_trace_of_hessian_operator():
    case = make("cnn_ce")
    truth = float(reference_hessian(case).trace())
    op = HessianOperator(case.model, case.loss_fn, case.batches)
    res = trace(op, num_matvecs=60, seed=4)
    assert res.hvps == 60 and op.hvps == 60
    assert abs(res.value - truth) <= 4 * res.stderr
    assert res.stderr > 0


def test_bad_arguments_raise():
    A = torch.eye(10, dtype=DT)
    with pytest.raises(ValueError, match=r"Invalid method: 'slq' \(must be one of"):
        trace(A, method="slq")
    with pytest.raises(ValueError, match=r"Invalid num_matvecs: 2 \(must be an integer >= 3\)"):
        trace(A, num_matvecs=2, method="hutch++")
    with pytest.raises(ValueError, match="num_matvecs"):
        trace(A, num_matvecs=0, method="hutchinson")
    with pytest.raises(ValueError, match="square"):
        trace(torch.ones(3, dtype=DT))
