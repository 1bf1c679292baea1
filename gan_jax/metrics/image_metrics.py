"""All feature-based sample-quality metrics in one call, for any feature extractor.

The feature extractor (Inception-v3 pool features and logits for the standard protocol, the
digits classifier of ``gan_jax.metrics.digits`` for the embedded digits) is the caller's;
this module only sees numpy arrays.
"""

from __future__ import annotations

import numpy as np

from gan_jax.metrics import fid, inception_score, kid, prdc


def image_metrics(
  features_real,
  features_fake,
  logits_fake=None,
  *,
  is_splits: int = 10,
  kid_subsets: int = 100,
  kid_subset_size: int = 1000,
  pr_k: int = 3,
  dc_k: int = 5,
  seed: int = 0,
) -> dict[str, float]:
  """FID, IS, KID, precision/recall and density/coverage from features.

  Args:
    features_real: ``[n_real, d]`` features of real samples.
    features_fake: ``[n_fake, d]`` features of generated samples.
    logits_fake: ``[n_fake, num_classes]`` logits of generated samples, or ``None`` to skip
      the Inception Score.
    is_splits: Inception Score parts (capped by ``n_fake``).
    kid_subsets: KID subsets.
    kid_subset_size: KID rows per subset.
    pr_k: neighbour rank for precision and recall.
    dc_k: neighbour rank for density and coverage.
    seed: seed of the KID subset draws.

  Returns:
    ``fid``, ``kid``, ``kid_std``, ``precision``, ``recall``, ``density``, ``coverage`` and,
    with logits, ``is`` and ``is_std``: Python floats.

  References:
    Heusel et al. 2017 (FID), Salimans et al. 2016 (IS), Binkowski et al. 2018 (KID),
    Kynkaanniemi et al. 2019 (precision, recall), Naeem et al. 2020 (density, coverage).
  """
  xr, xf = np.asarray(features_real, np.float64), np.asarray(features_fake, np.float64)
  out = {"fid": fid.frechet_distance(*fid.statistics(xf), *fid.statistics(xr))}
  out["kid"], out["kid_std"] = kid.kernel_distance(xr, xf, kid_subsets, kid_subset_size, seed)
  out.update(prdc.precision_recall(xr, xf, pr_k))
  out.update(prdc.density_coverage(xr, xf, dc_k))
  if logits_fake is not None:
    splits = min(is_splits, len(logits_fake))
    out["is"], out["is_std"] = inception_score.inception_score(logits_fake, splits)
  return out
