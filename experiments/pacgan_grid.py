"""PacGAN's 2-D experiment on the grid of 25 Gaussians (Lin et al. 2018, Section 5.1).

    python -m gan_jax.sweep --config=experiments/pacgan_grid.py --seeds=10 \\
        --workdir=runs/pacgan4_grid10 --config.model.pack=4 --config.data.batch_size=400

The setting of ``pacgan_ring.py`` on the 5 x 5 grid (sigma 0.05).
"""

from experiments import base
from experiments.pacgan_ring import pacgan_2d


def get_config(arg=None):
  return base.finalize(pacgan_2d(base.get_base_config(), "grid"), arg)
