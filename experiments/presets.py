"""Settings that several experiments share, applied to a config in place."""

import ml_collections

from experiments import base


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


def sngan(c: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """SN-GAN's training setting (Miyato et al. 2018, Section 4 and the reference code's
  configs): hinge loss, 5 D updates per G update, Adam 2e-4 with betas (0.0, 0.9) for
  both players, the learning rate decayed linearly to 0 from the start, and samples from
  the trained weights (no average: EMA decay 0)."""
  c.model.name = "sngan"
  c.model.z_dim = 128
  c.loss.name = "hinge"
  c.game.n_critic = 5
  for net in ("g", "d"):
    c.optim[net] = base.optimizer("adam", 2e-4, 0.0, 0.9, schedule="linear")
  c.optim.ema_decay = 0.0
  return c
