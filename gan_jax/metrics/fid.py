"""Frechet distance between Gaussians fitted to features (FID when the features are Inception's).

The trace term ``tr((S1 S2)^(1/2))`` is computed from the symmetric matrix
``S1^(1/2) S2 S1^(1/2)``, which has the same eigenvalues as ``S1 S2``: both square roots come
from ``numpy.linalg.eigh`` of symmetric positive semi-definite matrices, so no complex
intermediate ever appears and a singular covariance (fewer samples than feature dimensions)
is handled exactly: eigenvalues below ``d * machine epsilon * largest eigenvalue`` are
round-off and count as zero.
"""

from __future__ import annotations

import logging

import numpy as np


def statistics(features) -> tuple[np.ndarray, np.ndarray]:
  """Mean and covariance of a set of feature vectors, in float64.

  Args:
    features: ``[n, d]`` array-like of features, ``n >= 2``.

  Returns:
    ``(mu, sigma)``: ``[d]`` mean and ``[d, d]`` unbiased covariance (divisor ``n - 1``).

  References:
    Heusel et al. 2017, "GANs Trained by a Two Time-Scale Update Rule Converge to a Local
    Nash Equilibrium", Section 4 (FID: a Gaussian fitted to the coding layer).
  """
  f = np.asarray(features, np.float64)
  if f.ndim != 2 or f.shape[0] < 2:
    raise ValueError(f"features must have shape [n >= 2, d], got {f.shape}.")
  if not np.all(np.isfinite(f)):
    raise ValueError("features contain NaN or inf.")
  return f.mean(axis=0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _clip_roundoff(w: np.ndarray) -> np.ndarray:
  """Zeroes eigenvalues at round-off level, whose square roots (~1e-8) would add up over d."""
  cutoff = w.size * np.finfo(np.float64).eps * max(float(np.max(w, initial=0.0)), 0.0)
  return np.where(w > cutoff, w, 0.0)


def _psd_sqrt(s: np.ndarray, tol: float) -> np.ndarray:
  """Symmetric square root of a PSD matrix; raises if it has a clearly negative eigenvalue."""
  w, v = np.linalg.eigh((s + s.T) / 2.0)
  scale = max(float(np.max(np.abs(w), initial=0.0)), 1.0)
  if w.size and w.min() < -tol * scale:
    raise ValueError(
      f"matrix is not positive semi-definite (eigenvalue {w.min():.3g}); its square root "
      "would be complex."
    )
  return (v * np.sqrt(_clip_roundoff(w))) @ v.T


def _trace_sqrt_product(s1: np.ndarray, s2: np.ndarray, tol: float) -> float:
  """``tr((s1 s2)^(1/2))`` via the eigenvalues of ``s1^(1/2) s2 s1^(1/2)``."""
  r1 = _psd_sqrt(s1, tol)
  m = r1 @ s2 @ r1
  w = np.linalg.eigvalsh((m + m.T) / 2.0)
  scale = max(float(np.max(np.abs(w), initial=0.0)), 1.0)
  # A clearly negative eigenvalue of S1^1/2 S2 S1^1/2 is an imaginary eigenvalue of
  # (S1 S2)^1/2: the check that sqrtm-based code does on the imaginary part.
  if w.size and w.min() < -tol * scale:
    raise ValueError(f"imaginary component in (S1 S2)^(1/2): eigenvalue {w.min():.3g} of S1 S2.")
  return float(np.sum(np.sqrt(_clip_roundoff(w))))


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6, tol: float = 1e-6) -> float:
  """Frechet (2-Wasserstein) distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``.

  ``d^2 = |mu1 - mu2|^2 + tr(sigma1) + tr(sigma2) - 2 tr((sigma1 sigma2)^(1/2))``.

  If the eigendecomposition fails to converge (badly conditioned, near-singular covariances),
  it is retried with ``eps * I`` added to both covariances, as is usual for FID.

  Args:
    mu1: ``[d]`` mean of the first Gaussian (e.g. generated features).
    sigma1: ``[d, d]`` covariance of the first Gaussian.
    mu2: ``[d]`` mean of the second Gaussian (e.g. real features).
    sigma2: ``[d, d]`` covariance of the second Gaussian.
    eps: diagonal offset of the fallback.
    tol: relative size of a negative eigenvalue treated as round-off rather than an error.

  Returns:
    The squared Frechet distance as a Python float (>= 0 up to round-off; clipped at 0).

  Raises:
    ValueError: on mismatched shapes, non-finite input, or a covariance that is not positive
      semi-definite (an imaginary component in the matrix square root).

  References:
    Heusel et al. 2017, Section 4, the FID formula; Dowson & Landau 1982, "The Frechet
    distance between multivariate normal distributions", Eq. 2.
  """
  mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
  s1, s2 = (
    np.atleast_2d(np.asarray(sigma1, np.float64)),
    np.atleast_2d(np.asarray(sigma2, np.float64)),
  )
  d = mu1.shape[0]
  if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
    raise ValueError(
      f"shape mismatch: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}."
    )
  for name, x in (("mu1", mu1), ("sigma1", s1), ("mu2", mu2), ("sigma2", s2)):
    if not np.all(np.isfinite(x)):
      raise ValueError(f"{name} contains NaN or inf.")
  diff = mu1 - mu2
  try:
    tr_covmean = _trace_sqrt_product(s1, s2, tol)
  except np.linalg.LinAlgError:
    logging.warning("FID: eigendecomposition failed; adding %g to the covariance diagonals.", eps)
    offset = eps * np.eye(d)
    tr_covmean = _trace_sqrt_product(s1 + offset, s2 + offset, tol)
  value = float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)
  return max(value, 0.0)


def frechet_distance_from_features(features1, features2) -> float:
  """Frechet distance between Gaussians fitted to two feature sets.

  Args:
    features1: ``[n1, d]`` features, e.g. of generated samples.
    features2: ``[n2, d]`` features, e.g. of real samples.

  Returns:
    ``frechet_distance(*statistics(features1), *statistics(features2))``.

  References:
    Heusel et al. 2017, Section 4.
  """
  return frechet_distance(*statistics(features1), *statistics(features2))
