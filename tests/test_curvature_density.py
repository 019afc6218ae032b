"""spectral_density (SLQ) and spectrum_distance."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate
import scipy.stats
import torch

from cases import DT, gen, medium, randn, single_thread  # noqa: F401
from landscape.curvature import HessianOperator, spectral_density
from landscape.spectra import spectrum_distance

pytestmark = pytest.mark.usefixtures("single_thread")


def test_slq_matches_exact_spectrum_of_medium_mlp():
    case, H, ev = medium()
    op = HessianOperator(case.model, case.loss_fn, case.batch)
    dens = spectral_density(op, num_probes=10, num_steps=80, seed=0)
    width = float(ev[-1] - ev[0])
    assert spectrum_distance(dens, ev) <= 0.02 * width
    assert dens.hvps == 800 and op.hvps == 800
    assert float(dens.weights.sum()) == pytest.approx(1.0, abs=1e-12)
    assert (dens.weights >= 0).all()
    for w in dens.probe_weights:
        assert float(w.sum()) == pytest.approx(1.0, abs=1e-12)
    # extreme Ritz values converge to the extreme eigenvalues
    lo, hi = dens.support
    assert lo == pytest.approx(float(ev[0]), abs=1e-3 * width)
    assert hi == pytest.approx(float(ev[-1]), abs=1e-3 * width)
    # the broadened density integrates to one and follows the true one
    sigma = 0.02 * width
    grid = np.linspace(lo - 6 * sigma, hi + 6 * sigma, 3001)
    rho = dens.evaluate(grid, sigma)
    assert scipy.integrate.trapezoid(rho, grid) == pytest.approx(1.0, abs=1e-3)
    assert spectrum_distance(dens, ev, kind="l1", sigma=sigma) < 0.25
    # fewer steps and probes are measurably worse (the test can fail)
    rough = spectral_density(op, num_probes=1, num_steps=5, seed=0)
    assert spectrum_distance(rough, ev) > 2 * spectrum_distance(dens, ev)


def test_slq_is_exact_for_a_diagonal_matrix_with_full_krylov_space():
    d = torch.linspace(-1, 3, 30, dtype=DT) ** 3
    dens = spectral_density(torch.diag(d), num_probes=3, num_steps=50, seed=1)
    assert dens.num_steps == 30
    # Rademacher probes see every eigenvector with weight exactly 1/n
    assert spectrum_distance(dens, d) < 1e-10
    assert torch.allclose(dens.probe_nodes[0].sort().values, d, atol=1e-10)


def test_probe_batches_and_invariant_subspaces():
    A = randn(120, 120, g=gen(3))
    A = (A + A.T) / 2
    one = spectral_density(A, num_probes=4, num_steps=30, seed=5)
    batched = spectral_density(A, num_probes=4, num_steps=30, seed=5, probe_batch=3)
    assert torch.allclose(one.nodes, batched.nodes, atol=1e-10)
    assert torch.allclose(one.weights, batched.weights, atol=1e-12)
    # a matrix with three distinct eigenvalues: the Krylov space is exhausted after 3 steps
    D = torch.diag(torch.tensor([1.0, 2.0, 5.0], dtype=DT).repeat_interleave(40))
    dens = spectral_density(D, num_probes=2, num_steps=20, seed=0)
    assert torch.isfinite(dens.nodes).all()
    assert spectrum_distance(dens, torch.diag(D)) < 1e-8
    assert dens.support == pytest.approx((1.0, 5.0))


def test_wasserstein_against_scipy_and_exact_cases():
    g = gen(4)
    a, b = randn(37, g=g), 2 + randn(23, g=g)
    wa = torch.rand(37, generator=g, dtype=DT)
    wb = torch.rand(23, generator=g, dtype=DT)
    ref = scipy.stats.wasserstein_distance(a.numpy(), b.numpy(), wa.numpy(), wb.numpy())
    assert spectrum_distance((a, wa), (b, wb)) == pytest.approx(ref, rel=1e-12)
    assert spectrum_distance(a, b) == pytest.approx(scipy.stats.wasserstein_distance(a, b), rel=1e-12)
    assert spectrum_distance(a, a + 0.5) == pytest.approx(0.5, rel=1e-12)
    assert spectrum_distance(a.numpy(), a.tolist()) == 0.0
    ks = scipy.stats.ks_2samp(a.numpy(), b.numpy()).statistic
    assert spectrum_distance(a, b, kind="ks") == pytest.approx(ks, rel=1e-12)
    assert spectrum_distance(a, a, kind="l1") == pytest.approx(0.0, abs=1e-12)
    assert spectrum_distance(a, a + 100, kind="l1", sigma=0.1) == pytest.approx(2.0, abs=1e-6)


def test_bad_arguments_raise():
    with pytest.raises(ValueError, match=r"Invalid kind: 'kl' \(must be one of"):
        spectrum_distance([1.0], [2.0], kind="kl")
    with pytest.raises(ValueError, match="empty"):
        spectrum_distance([], [2.0])
    with pytest.raises(ValueError, match="differ in length"):
        spectrum_distance((torch.ones(3), torch.ones(2)), [1.0])
    with pytest.raises(ValueError, match="nonnegative"):
        spectrum_distance((torch.ones(2), torch.tensor([1.0, -1.0])), [1.0])
    with pytest.raises(ValueError, match="num_steps"):
        spectral_density(torch.eye(5, dtype=DT), num_steps=0)
    with pytest.raises(ValueError, match="num_probes"):
        spectral_density(torch.eye(5, dtype=DT), num_probes=-1)
