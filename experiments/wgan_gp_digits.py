"""WGAN-GP on scikit-learn's digits at 32x32 (Gulrajani et al. 2017, Algorithm 1).

    python -m gan_jax.main --config=experiments/wgan_gp_digits.py --workdir=runs/wgan_gp_digits

lambda 10, n_critic 5, Adam lr 1e-4 with betas (0.5, 0.9), a critic with layer norm in
place of BatchNorm.
"""

from experiments import base, presets


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "digits"
  c.data.resolution = 32
  c.model.name = "dcgan"
  c.model.width = 32
  c.model.z_dim = 64
  presets.wgan_gp(c)
  c.optim.g.b1 = c.optim.d.b1 = 0.5
  c.train.num_steps = 2000
  return base.finalize(c, arg)
