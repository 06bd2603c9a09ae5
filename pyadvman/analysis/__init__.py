"""Analyses of the studies (docs/papers.md §1, §2, §4): distance of adversarial examples to the manifold (kNN,
true-manifold and learned-manifold projections), the linear fit of on-manifold success rate against test error,
flatness of the robust loss in weight space, and layer spectra and confidence.

>>> from pyadvman.analysis import knn_distances
>>> d = knn_distances(x_adv, x, train_images, k=50)                   # doctest: +SKIP
>>> d.normalised_residual.median(), d.angle.median()                 # doctest: +SKIP
"""

from pyadvman.analysis.flatness import RobustLoss, average_flatness, perturbed_parameters, worst_case_flatness
from pyadvman.analysis.manifold_distance import (
    KnnDistances,
    knn_distances,
    learned_manifold_distance,
    nearest_neighbour_distance,
    true_manifold_distance,
)
from pyadvman.analysis.spectra import (
    SpectrumSummary,
    confidence,
    jacobian_singular_values,
    layer_input_shapes,
    linear_layers,
    weight_operator_singular_values,
)
from pyadvman.analysis.statistics import (
    LinearFit,
    WithinGroupCorrelation,
    linear_fit,
    median,
    within_group_correlation,
)

__all__ = [
    "KnnDistances", "LinearFit", "RobustLoss", "SpectrumSummary", "average_flatness", "confidence",
    "jacobian_singular_values", "knn_distances", "layer_input_shapes", "learned_manifold_distance", "linear_fit",
    "linear_layers", "median", "nearest_neighbour_distance", "perturbed_parameters", "true_manifold_distance",
    "weight_operator_singular_values", "within_group_correlation", "worst_case_flatness", "WithinGroupCorrelation",
]
