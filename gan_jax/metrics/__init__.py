"""Evaluation metrics for generative models.

- ``fid``, ``inception_score``, ``kid``, ``prdc``: FID, IS, KID, precision/recall and
  density/coverage on numpy features or logits (float64); ``image_metrics`` runs them all.
- ``digits``: a classifier trained in the project on the embedded digits, for a digits IS,
  a Frechet distance and the 1,000-mode stacked-digits count.
- ``mixtures``: mode coverage of the 2-D Gaussian mixtures.
"""
