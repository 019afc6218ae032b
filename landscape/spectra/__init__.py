r"""Statistics of spectra and distances between them.

A *spectrum* is anything :func:`as_measure` takes: eigenvalues (tensor, array,
list), a :class:`~landscape.curvature.SpectralDensity` (SLQ nodes and weights) or
a ``(nodes, weights)`` pair. The estimators that produce spectra live in
:mod:`landscape.curvature`; this package reads them.

=================================  =====================================================
:mod:`~landscape.spectra.measure`   a spectrum as a probability measure; its width
:mod:`~landscape.spectra.distance`  W1, KS and broadened L1 between spectra; W1 scaled by a width; the shape distance
:mod:`~landscape.spectra.authors`   the similarity measure of sankar2021hessian's code
:mod:`~landscape.spectra.outliers`  the bulk edge and the outliers beyond it
:mod:`~landscape.spectra.degeneracy` negative / near-zero / positive fractions at a tolerance
:mod:`~landscape.spectra.semicircle` Wigner's semicircle fitted to the bulk; the GOE control
=================================  =====================================================
"""

from .authors import authors_distance, authors_distance_vectors, density_vector, log_minmax
from .distance import log_magnitudes, scaled_wasserstein, shape_distance, spectrum_distance
from .degeneracy import Fractions, fraction_table, fractions, spectrum_summary, weighted_fractions
from .measure import as_measure, probe_nodes, width
from .outliers import broadened_density, bulk_edge, count_outliers
from .semicircle import SemicircleFit, bulk, fit_semicircle, goe, ks_distance, semicircle_cdf, semicircle_pdf, semicircle_quantiles

__all__ = [
    # measures and distances
    "as_measure", "width", "probe_nodes", "spectrum_distance", "scaled_wasserstein", "log_magnitudes", "shape_distance",
    # the authors' measure
    "density_vector", "log_minmax", "authors_distance_vectors", "authors_distance",
    # outliers
    "broadened_density", "bulk_edge", "count_outliers",
    # degeneracy
    "Fractions", "fractions", "fraction_table", "weighted_fractions", "spectrum_summary",
    # the semicircle
    "semicircle_pdf", "semicircle_cdf", "ks_distance", "SemicircleFit", "fit_semicircle", "bulk", "goe", "semicircle_quantiles",
]
