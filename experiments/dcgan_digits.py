"""DCGAN on scikit-learn's digits at 32x32: the embedded default (`make demo`).

    python -m gan_jax.main --config=experiments/dcgan_digits.py --workdir=runs/dcgan_digits

Radford et al. 2015 settings: Adam 2e-4, beta1 0.5, BatchNorm in both players, the
non-saturating generator loss.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "digits"
  c.data.resolution = 32
  c.model.name = "dcgan"
  c.model.width = 32
  c.model.z_dim = 64
  c.train.num_steps = 3000
  return base.finalize(c, arg)
