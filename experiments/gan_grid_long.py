"""The grid of 25 Gaussians, trained twice as long with the learning rates decayed to 0.

    python -m gan_jax.main --config=experiments/gan_grid_long.py --workdir=runs/grid_long
    python -m gan_jax.sweep --config=experiments/gan_grid_long.py --seeds=10 \\
        --workdir=runs/grid_long10 --parallel=2

``gan_grid.py`` (MLP players, non-saturating loss, batch 256, Adam 5e-4 / 0.5, EMA of G)
for 30,000 steps, both learning rates constant for the first 15,000 and linearly to 0 over
the last 15,000. The generator is a continuous map of a 2-D code, so it joins the modes by
thin bridges of samples; the decayed steps shrink the bridges, and the share of samples
within 3 sigma of a mode rises above the constant-rate run's.
"""

from experiments import base, gan_grid


def get_config(arg=None):
  c = gan_grid.get_config()
  c.train.num_steps = 30_000
  for net in ("g", "d"):
    c.optim[net].schedule = "linear"
    c.optim[net].decay_start = 15_000  # to 0 at train.num_steps (decay_end 0)
  return base.finalize(c, arg)
