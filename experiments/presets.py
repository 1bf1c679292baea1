"""Settings that several experiments share, applied to a config in place."""

import ml_collections


def wgan_gp(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """WGAN-GP (Gulrajani et al. 2017, Algorithm 1): Wasserstein loss, gradient penalty
  lambda 10, 5 critic updates per generator update, Adam 1e-4 with betas (0.0, 0.9), a
  critic with layer norm in place of BatchNorm (Section 4)."""
  c.model.d_norm = "layer"
  c.loss.name = "wasserstein"
  c.loss.penalty = "gradient_penalty"
  c.loss.penalty_weight = 10.0
  c.game.n_critic = 5
  for p in (c.optim.g, c.optim.d):
    p.name, p.lr, p.b1, p.b2 = "adam", 1e-4, 0.0, 0.9
  return c
