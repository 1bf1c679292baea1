"""k-nearest-neighbour manifold metrics: precision, recall, density and coverage.

A sample set's manifold is the union of balls around its samples, each of radius the distance
to the sample's ``k``-th nearest other sample of the same set. A point lies in a ball when its
Euclidean distance to the centre is ``<=`` the radius. Distances are computed in float64 in
row blocks, so memory stays ``O(block * n)``.
"""

from __future__ import annotations

import numpy as np

_BLOCK = 1024


def _as_features(x, name: str) -> np.ndarray:
  x = np.asarray(x, np.float64)
  if x.ndim != 2 or not np.all(np.isfinite(x)):
    raise ValueError(f"{name} must be a finite [n, d] array, got shape {x.shape}.")
  return x


def _distance_blocks(a: np.ndarray, b: np.ndarray):
  """Yields ``(start, D)`` with ``D[i, j] = |a[start + i] - b[j]|`` for row blocks of ``a``."""
  b2 = np.sum(b * b, axis=1)
  for start in range(0, a.shape[0], _BLOCK):
    blk = a[start : start + _BLOCK]
    d2 = np.sum(blk * blk, axis=1)[:, None] + b2[None, :] - 2.0 * blk @ b.T
    yield start, np.sqrt(np.clip(d2, 0.0, None))


def knn_radii(features, k: int) -> np.ndarray:
  """Distance from every sample to its ``k``-th nearest other sample of the same set.

  Args:
    features: ``[n, d]`` features, ``n > k``.
    k: neighbour rank, ``k >= 1``.

  Returns:
    ``[n]`` float64 radii.

  References:
    Kynkaanniemi et al. 2019, "Improved Precision and Recall Metric for Assessing
    Generative Models", Eq. 1 (NND_k).
  """
  x = _as_features(features, "features")
  if not 1 <= k < x.shape[0]:
    raise ValueError(f"k must be in [1, n - 1] with n = {x.shape[0]}, got {k}.")
  radii = np.empty(x.shape[0])
  for start, d in _distance_blocks(x, x):
    rows = np.arange(d.shape[0])
    d[rows, start + rows] = np.inf  # a sample is not its own neighbour
    radii[start : start + d.shape[0]] = np.partition(d, k - 1, axis=1)[:, k - 1]
  return radii


def _in_manifold_counts(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
  """For every point, the number of balls ``B(centres[i], radii[i])`` that contain it."""
  counts = np.empty(points.shape[0], np.int64)
  for start, d in _distance_blocks(points, centres):
    counts[start : start + d.shape[0]] = np.sum(d <= radii[None, :], axis=1)
  return counts


def precision_recall(features_real, features_fake, k: int = 3) -> dict[str, float]:
  """Improved precision and recall of generated features against real ones.

  Args:
    features_real: ``[n_real, d]`` real features, ``n_real > k``.
    features_fake: ``[n_fake, d]`` generated features, ``n_fake > k``.
    k: neighbour rank of the manifold radii.

  Returns:
    ``{"precision": fraction of fake samples inside the real manifold, "recall": fraction of
    real samples inside the fake manifold}``.

  References:
    Kynkaanniemi et al. 2019, Eq. 1-3 (f(phi, Phi), precision, recall).
  """
  xr, xf = (
    _as_features(features_real, "features_real"),
    _as_features(features_fake, "features_fake"),
  )
  if xr.shape[1] != xf.shape[1]:
    raise ValueError(f"feature sizes differ: {xr.shape[1]} and {xf.shape[1]}.")
  precision = np.mean(_in_manifold_counts(xf, xr, knn_radii(xr, k)) > 0)
  recall = np.mean(_in_manifold_counts(xr, xf, knn_radii(xf, k)) > 0)
  return {"precision": float(precision), "recall": float(recall)}


def density_coverage(features_real, features_fake, k: int = 5) -> dict[str, float]:
  """Density and coverage of generated features against real ones.

  Args:
    features_real: ``[n_real, d]`` real features, ``n_real > k``.
    features_fake: ``[n_fake, d]`` generated features.
    k: neighbour rank of the real-sample radii.

  Returns:
    ``{"density": (1 / (k n_fake)) sum_j #{i: fake_j in B(real_i, NND_k(real_i))},
    "coverage": fraction of real samples whose ball holds at least one fake sample}``.

  References:
    Naeem et al. 2020, "Reliable Fidelity and Diversity Metrics for Generative Models",
    Eq. 3 (density) and Eq. 4 (coverage).
  """
  xr, xf = (
    _as_features(features_real, "features_real"),
    _as_features(features_fake, "features_fake"),
  )
  if xr.shape[1] != xf.shape[1]:
    raise ValueError(f"feature sizes differ: {xr.shape[1]} and {xf.shape[1]}.")
  if xf.shape[0] < 1:
    raise ValueError("features_fake is empty.")
  radii = knn_radii(xr, k)
  density = _in_manifold_counts(xf, xr, radii).sum() / (k * xf.shape[0])
  covered = np.zeros(xr.shape[0], bool)
  for start, d in _distance_blocks(xr, xf):
    r = radii[start : start + d.shape[0]]
    covered[start : start + d.shape[0]] = np.min(d, axis=1) <= r
  return {"density": float(density), "coverage": float(np.mean(covered))}
