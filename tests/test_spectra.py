"""landscape.spectra: fractions at a tolerance, the semicircle fit and its KS distance, the GOE control."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from landscape import spectra


# --- fractions ---------------------------------------------------------------------


def test_fractions_of_a_known_diagonal_spectrum():
    # eigenvalues of a diagonal matrix are its diagonal: lambda_max = 10, t = 1e-4 * 10 = 1e-3
    H = torch.diag(torch.tensor([-2.0, -1e-4, 0.0, 5e-4, 3e-3, 10.0], dtype=torch.float64))
    f = spectra.fractions(torch.linalg.eigvalsh(H), 1e-4)
    assert (f.n_negative, f.n_zero, f.n_positive, f.n) == (1, 3, 2, 6)
    assert f.threshold == pytest.approx(1e-3)
    assert (f.negative, f.zero, f.positive) == pytest.approx((1 / 6, 3 / 6, 2 / 6))
    # the same tolerance read as absolute
    g = spectra.fractions(torch.linalg.eigvalsh(H), 1e-4, relative=False)
    assert (g.n_negative, g.n_zero, g.n_positive) == (1, 2, 3)
    # tolerance 0: only exact zeros are "near zero"
    assert spectra.fractions([-1.0, 0.0, 0.0, 2.0], 0.0).n_zero == 2


def test_fractions_boundary_counts_as_near_zero():
    f = spectra.fractions([-1.0, 1.0, 1000.0], 1e-3)  # t = 1 exactly
    assert (f.n_negative, f.n_zero, f.n_positive) == (0, 2, 1)


def test_fractions_without_positive_eigenvalues_use_the_largest_magnitude():
    f = spectra.fractions([-4.0, -0.001, -0.1], 0.01)  # scale 4, t = 0.04
    assert f.scale == 4.0
    assert (f.n_negative, f.n_zero) == (2, 1)


def test_fraction_table_rows_in_order():
    rows = spectra.fraction_table([-1.0, -1e-3, 0.0, 1e-5, 1.0], [1e-2, 1e-4], [1e-6])
    assert [(r["tol"], r["relative"]) for r in rows] == [(1e-2, True), (1e-4, True), (1e-6, False)]
    assert [r["n_zero"] for r in rows] == [3, 2, 1]
    assert [r["n_negative"] for r in rows] == [1, 2, 2]


def test_spectrum_summary_values():
    s = spectra.spectrum_summary([-0.05, -1e-5, 0.0, 0.0, 2e-4, 1.0], zero_tol=1e-3, neg_tol=1e-4)
    assert s["lambda_min"] == -0.05 and s["lambda_max"] == 1.0
    assert s["zero"] == pytest.approx(4 / 6)
    assert s["n_below"] == 1 and s["neg_ratio"] == pytest.approx(0.05)


def test_weighted_fractions_of_a_quadrature():
    out = spectra.weighted_fractions([-2.0, -0.01, 0.0, 0.02, 3.0], [1, 1, 2, 1, 3], 0.05)
    assert out == pytest.approx({"negative": 1 / 8, "zero": 4 / 8, "positive": 3 / 8})
    with pytest.raises(ValueError, match="weights"):
        spectra.weighted_fractions([0.0, 1.0], [1.0, -1.0], 0.1)


@pytest.mark.parametrize("bad, match", [([], "empty"), ([1.0, float("nan")], "non-finite")])
def test_fractions_reject_bad_eigenvalues(bad, match):
    with pytest.raises(ValueError, match=match):
        spectra.fractions(bad, 1e-3)


@pytest.mark.parametrize("tol", [-1e-3, float("inf"), "0.1", True])
def test_fractions_reject_bad_tolerance(tol):
    with pytest.raises(ValueError, match="Invalid tol"):
        spectra.fractions([1.0, 2.0], tol)


# --- the semicircle ---------------------------------------------------------------


def test_semicircle_density_and_distribution_agree():
    c, R = 0.7, 1.3
    x = np.linspace(c - 1.5 * R, c + 1.5 * R, 20001)
    pdf = spectra.semicircle_pdf(x, c, R)
    cdf = spectra.semicircle_cdf(x, c, R)
    assert np.trapezoid(pdf, x) == pytest.approx(1.0, abs=1e-6)
    assert cdf[0] == 0.0 and cdf[-1] == 1.0
    assert float(spectra.semicircle_cdf(c, c, R)) == pytest.approx(0.5)
    # F' = rho away from the edges
    mid = slice(5000, 15000)
    assert np.allclose(np.gradient(cdf, x)[mid], pdf[mid], atol=1e-4)
    # the quartile constant used by the fit
    assert float(spectra.semicircle_cdf(spectra.semicircle._QUARTILE, 0.0, 1.0)) == pytest.approx(0.75, abs=1e-7)


def test_ks_distance_exact_small_cases():
    uniform = lambda x: np.clip(x, 0.0, 1.0)
    assert spectra.ks_distance([0.25, 0.75], uniform) == pytest.approx(0.25)
    assert spectra.ks_distance([0.5], uniform) == pytest.approx(0.5)
    # all the mass at one point far below: the empirical CDF is 1 where F is still ~0
    assert spectra.ks_distance([-5.0, -5.0, -5.0], uniform) == pytest.approx(1.0)


def test_bulk_trims_both_ends():
    b = spectra.bulk(np.arange(100.0)[::-1], 0.05)
    assert b[0] == 5.0 and b[-1] == 94.0 and b.size == 90
    with pytest.raises(ValueError, match="Invalid trim"):
        spectra.bulk([1.0, 2.0, 3.0], 0.5)
    with pytest.raises(ValueError, match="leaves"):
        spectra.bulk([1.0, 2.0, 3.0], 0.4)


def test_goe_is_symmetric_seeded_and_scaled():
    A = spectra.goe(200, seed=3)
    assert torch.equal(A, A.T) and A.dtype == torch.float64
    assert torch.equal(A, spectra.goe(200, seed=3))
    assert not torch.equal(A, spectra.goe(200, seed=4))
    off = A[~torch.eye(200, dtype=torch.bool)]
    assert float(off.var()) == pytest.approx(1 / 200, rel=0.05)
    assert float(A.diagonal().var()) == pytest.approx(2 / 200, rel=0.25)
    with pytest.raises(ValueError, match="Invalid n"):
        spectra.goe(0)


def test_semicircle_fit_recovers_the_radius_of_a_large_goe():
    eigs = torch.linalg.eigvalsh(spectra.goe(1000, seed=0))
    fit = spectra.fit_semicircle(eigs, trim=0.0)
    assert fit.radius == pytest.approx(2.0, rel=0.01)
    assert abs(fit.center) < 0.01
    assert fit.ks < 0.01
    assert (fit.n_bulk, fit.n) == (1000, 1000)
    # trimmed like the chapter: the radius is still close, the distance still small
    trimmed = spectra.fit_semicircle(eigs, trim=0.01)
    assert trimmed.radius == pytest.approx(2.0, rel=0.05)
    assert trimmed.ks < 0.01 and trimmed.n_bulk == 980


def test_semicircle_fit_follows_scale_and_shift():
    n, sigma = 800, 0.25 / math.sqrt(800)  # radius 2 sigma sqrt(n) = 0.5
    A = spectra.goe(n, seed=1, sigma=sigma) + 3.0 * torch.eye(n, dtype=torch.float64)
    fit = spectra.fit_semicircle(torch.linalg.eigvalsh(A), trim=0.0)
    assert fit.radius == pytest.approx(0.5, rel=0.02)
    assert fit.center == pytest.approx(3.0, abs=0.01)


def test_non_semicircle_spectra_fit_worse_than_goe():
    rng = np.random.default_rng(0)
    n = 1000
    goe_ks = spectra.fit_semicircle(torch.linalg.eigvalsh(spectra.goe(n, seed=2)), trim=0.01).ks
    for name, x in (("uniform", rng.uniform(-1, 1, n)), ("exponential", rng.exponential(1.0, n)),
                    ("spike plus tails", np.concatenate([np.zeros(800), rng.standard_cauchy(200) * 1e-2]))):
        ks = spectra.fit_semicircle(x, trim=0.01).ks
        assert ks > 3 * goe_ks, f"{name}: KS {ks:.4f} vs GOE {goe_ks:.4f}"
    assert spectra.fit_semicircle(rng.exponential(1.0, n), trim=0.01).ks > 0.08


def test_semicircle_fit_is_deterministic_and_checks_its_input():
    x = torch.linalg.eigvalsh(spectra.goe(300, seed=5))
    assert spectra.fit_semicircle(x) == spectra.fit_semicircle(x.clone())
    with pytest.raises(ValueError, match="distinct"):
        spectra.fit_semicircle([0.0, 0.0, 0.0, 1.0, 1.0], trim=0.0)
