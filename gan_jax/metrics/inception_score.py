"""Inception Score from class predictions (Inception's, or any classifier's)."""

from __future__ import annotations

import numpy as np
from scipy.special import log_softmax, xlogy


def inception_score(predictions, splits: int = 10, from_logits: bool = True) -> tuple[float, float]:
  """Inception Score ``exp(E_x KL(p(y|x) || p(y)))``, mean and std over ``splits`` parts.

  The samples are cut into ``splits`` contiguous parts of (nearly) equal size, part ``i``
  holding rows ``[i n // splits, (i + 1) n // splits)``; ``p(y)`` is the mean prediction
  within a part. The score lies in ``[1, num_classes]``.

  Args:
    predictions: ``[n, num_classes]`` logits (``from_logits=True``) or probabilities.
    splits: number of parts, ``1 <= splits <= n``.
    from_logits: whether ``predictions`` are logits (softmax applied here) or probabilities
      (rows must sum to 1).

  Returns:
    ``(mean, std)`` of the per-part scores (std with divisor ``splits``), Python floats.

  References:
    Salimans et al. 2016, "Improved Techniques for Training GANs", Section 4.
  """
  x = np.asarray(predictions, np.float64)
  if x.ndim != 2 or x.shape[0] < 1:
    raise ValueError(f"predictions must have shape [n >= 1, num_classes], got {x.shape}.")
  if not np.all(np.isfinite(x)):
    raise ValueError("predictions contain NaN or inf.")
  n = x.shape[0]
  if not 1 <= splits <= n:
    raise ValueError(f"splits must be in [1, n={n}], got {splits}.")
  if from_logits:
    log_p = log_softmax(x, axis=1)
    p = np.exp(log_p)
  else:
    if np.any(x < 0) or not np.allclose(x.sum(axis=1), 1.0, atol=1e-4):
      raise ValueError("probabilities must be non-negative with rows summing to 1.")
    p = x
  scores = []
  for i in range(splits):
    part = p[i * n // splits : (i + 1) * n // splits]
    p_y = part.mean(axis=0)
    # KL(p(y|x) || p(y)) with 0 log 0 = 0; p_y > 0 wherever part > 0.
    kl = np.sum(xlogy(part, part) - xlogy(part, p_y), axis=1)
    scores.append(np.exp(np.mean(kl)))
  return float(np.mean(scores)), float(np.std(scores))
