"""Kernel Inception Distance: an unbiased MMD^2 estimate with a cubic polynomial kernel."""

from __future__ import annotations

import numpy as np


def polynomial_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """``k(x, y) = (x . y / d + 1)^3`` for all pairs of rows: ``[n, d], [m, d] -> [n, m]``."""
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def mmd2_unbiased(x, y) -> float:
  """Unbiased MMD^2 between two equal-size samples with the cubic polynomial kernel.

  Args:
    x: ``[m, d]`` features of one sample, ``m >= 2``.
    y: ``[m, d]`` features of the other sample.

  Returns:
    ``sum_{i != j} k(x_i, x_j) / (m (m - 1)) + sum_{i != j} k(y_i, y_j) / (m (m - 1))
    - 2 sum_{i, j} k(x_i, y_j) / m^2``, a Python float (may be slightly negative).

  References:
    Binkowski et al. 2018, "Demystifying MMD GANs", Eq. 4 and Section 4 (KID);
    Gretton et al. 2012, "A Kernel Two-Sample Test", Lemma 6.
  """
  x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
  m = x.shape[0]
  if x.ndim != 2 or x.shape != y.shape or m < 2:
    raise ValueError(f"x and y must both have shape [m >= 2, d], got {x.shape} and {y.shape}.")
  k_xx, k_yy, k_xy = polynomial_kernel(x, x), polynomial_kernel(y, y), polynomial_kernel(x, y)
  within = (k_xx.sum() - np.trace(k_xx) + k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
  return float(within - 2.0 * k_xy.sum() / m**2)


def kernel_distance(
  features_real, features_fake, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
  """KID: unbiased MMD^2 averaged over random subsets; mean and std over subsets.

  Each subset draws ``min(subset_size, n_real, n_fake)`` rows without replacement from each
  set, with ``numpy.random.default_rng(seed)``, so the result is a pure function of the inputs.

  Args:
    features_real: ``[n_real, d]`` features of real samples.
    features_fake: ``[n_fake, d]`` features of generated samples.
    num_subsets: number of subsets averaged.
    subset_size: rows per subset (capped by the sizes of both sets).
    seed: seed of the subset draws.

  Returns:
    ``(mean, std)`` of the subset MMD^2 values (std with divisor ``num_subsets``).

  References:
    Binkowski et al. 2018, "Demystifying MMD GANs", Section 4 (KID with
    ``k(x, y) = (x^T y / d + 1)^3``, averaged over subsets).
  """
  xr, xf = np.asarray(features_real, np.float64), np.asarray(features_fake, np.float64)
  if xr.ndim != 2 or xf.ndim != 2 or xr.shape[1] != xf.shape[1]:
    raise ValueError(f"features must be [n, d] with equal d, got {xr.shape} and {xf.shape}.")
  if num_subsets < 1:
    raise ValueError(f"num_subsets must be >= 1, got {num_subsets}.")
  m = min(subset_size, xr.shape[0], xf.shape[0])
  if m < 2:
    raise ValueError(f"need at least 2 rows per subset, got {m}.")
  rng = np.random.default_rng(seed)
  values = []
  for _ in range(num_subsets):
    ir = rng.choice(xr.shape[0], m, replace=False)
    jf = rng.choice(xf.shape[0], m, replace=False)
    values.append(mmd2_unbiased(xr[ir], xf[jf]))
  return float(np.mean(values)), float(np.std(values))
