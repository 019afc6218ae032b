"""landscape.similarity: the authors' measure, the sound one, and outlier counting, on known spectra."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
import torch

from landscape.curvature import spectral_density
from landscape.spectra import (authors_distance, authors_distance_vectors, bulk_edge, count_outliers, density_vector,
                                  log_minmax, scaled_wasserstein, width)


def spread(n: int = 300, seed: int = 0) -> np.ndarray:
    """A skewed spectrum on [0, 1] with both ends included."""
    x = np.sort(np.random.default_rng(seed).random(n)) ** 3
    x[0], x[-1] = 0.0, 1.0
    return x


# --- the sound measure -------------------------------------------------------------


def test_identical_spectra_are_at_distance_zero_by_both_measures():
    a = spread()
    assert scaled_wasserstein(a, a) == 0.0
    assert authors_distance(a, a, num_bins=500) == 0.0


@pytest.mark.parametrize("shift", [0.05, 0.3, -2.0])
def test_a_shifted_spectrum_is_at_the_shift_over_the_width(shift):
    a = spread()
    assert scaled_wasserstein(a + shift, a) == pytest.approx(abs(shift) / 1.0, rel=1e-12)
    assert scaled_wasserstein(3 * (a + shift), 3 * a) == pytest.approx(abs(shift), rel=1e-12)   # scale-free
    assert width(3 * a) == pytest.approx(3.0)


def test_sound_measure_on_two_point_masses_and_a_weighted_spectrum():
    # W1 between delta_0 and delta_1 is 1; the reference [0, 2] has width 2
    assert scaled_wasserstein([1.0, 1.0], [0.0, 2.0]) == pytest.approx(0.5)
    # (nodes, weights): 0.75 at 0 and 0.25 at 4, against all mass at 0 -> W1 = 1, width 4
    assert scaled_wasserstein(([0.0], [1.0]), (np.array([0.0, 4.0]), np.array([0.75, 0.25]))) == pytest.approx(0.25)


def test_zero_width_reference_is_refused():
    with pytest.raises(ValueError, match="scale"):
        scaled_wasserstein([1.0, 2.0], [3.0, 3.0])


# --- the authors' measure ------------------------------------------------------------


@pytest.mark.parametrize("shift", [0.5, 10.0, -7.0])
def test_authors_measure_is_blind_to_location_the_sound_one_is_not(shift):
    a = spread()
    assert authors_distance(a + shift, a, num_bins=800) < 1e-9
    assert scaled_wasserstein(a + shift, a) == pytest.approx(abs(shift))


def test_authors_measure_sees_a_change_of_shape():
    a = spread()
    spike = np.concatenate([np.zeros(295), np.linspace(0.9, 1.0, 5)])
    assert authors_distance(spike, a, num_bins=800) > 0.05


def test_authors_distance_vectors_is_scipys_wasserstein_on_log_minmax_vectors():
    g = np.random.default_rng(3)
    da, db = g.random(400) ** 4, g.random(250)
    u = (np.log(da + 1e-7) - np.log(da + 1e-7).min()) / np.ptp(np.log(da + 1e-7))
    v = (np.log(db + 1e-7) - np.log(db + 1e-7).min()) / np.ptp(np.log(db + 1e-7))
    assert authors_distance_vectors(da, db) == pytest.approx(scipy.stats.wasserstein_distance(u, v), rel=1e-12)


def test_log_minmax_on_known_values():
    d = np.array([1.0, math.e, math.e ** 2])
    np.testing.assert_allclose(log_minmax(d, eps=1e-300), [0.0, 0.5, 1.0], atol=1e-12)
    assert np.all(log_minmax(np.ones(5)) == 0.0)
    with pytest.raises(ValueError, match="density"):
        log_minmax([1.0, -1.0])
    with pytest.raises(ValueError, match="eps"):
        log_minmax([1.0], eps=0.0)


def test_density_vector_is_normalized_on_the_spectrums_own_grid():
    a = spread() * 5 + 2
    dens, grid = density_vector(a, num_bins=3000, overhead=0.01)
    assert grid[0] == pytest.approx(2 - 0.01) and grid[-1] == pytest.approx(7 + 0.01) and len(grid) == 3000
    assert dens.sum() * (grid[1] - grid[0]) == pytest.approx(1.0, rel=1e-12)
    with pytest.raises(ValueError, match="num_bins"):
        density_vector(a, num_bins=1)


# --- outliers ---------------------------------------------------------------------------


def planted(k: int, n_bulk: int = 1000, seed: int = 0) -> np.ndarray:
    bulk = np.random.default_rng(seed).uniform(0.0, 1.0, n_bulk)
    return np.concatenate([bulk, 3.0 + np.arange(k, dtype=float)])


@pytest.mark.parametrize("k", [0, 1, 5, 10])
def test_counts_the_planted_outliers_of_an_exact_spectrum(k):
    ev = planted(k)
    edge = bulk_edge(ev)
    assert 1.0 <= edge < (1.5 if k else 1.05)
    assert count_outliers(ev) == k


def test_counts_the_planted_outliers_from_an_slq_density():
    ev = planted(5)
    op = torch.diag(torch.tensor(ev))
    d = spectral_density(op, num_probes=4, num_steps=40, seed=0)
    assert count_outliers(d, dim=len(ev)) == 5.0
    assert 1.0 <= bulk_edge(d, dim=len(ev)) < 1.5
    with pytest.raises(ValueError, match="dim"):
        count_outliers(d)


def test_a_lone_eigenvalue_inside_the_broadened_bulk_is_not_an_outlier():
    ev = np.concatenate([np.random.default_rng(1).uniform(0.0, 1.0, 1000), [1.01, 8.0]])
    assert count_outliers(ev) == 1.0       # 1.01 joins the bulk, 8 is out
    assert count_outliers(ev, edge=0.5) == pytest.approx((ev > 0.5).sum())
