"""The original GAN on a 5x5 grid of Gaussians (the PacGAN / VEEGAN mode-collapse setup).

python -m gan_jax.main --config=experiments/gan_grid.py --workdir=runs/grid
python -m gan_jax.main --config=experiments/gan_grid.py --workdir=runs/grid --mode=eval
"""

from experiments import gan_ring


def get_config(arg=None):
  c = gan_ring.get_config(arg)
  c.data.name = "grid"
  return c
