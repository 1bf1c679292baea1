"""The original GAN on a ring of 8 Gaussians (the PacGAN / VEEGAN mode-collapse setup).

    python -m gan_jax.main --config=experiments/gan_ring.py --workdir=runs/ring
    python -m gan_jax.main --config=experiments/gan_ring.py --workdir=runs/ring --mode=eval

MLP players (Goodfellow et al. 2014), non-saturating loss, 2-D data; eval.jsonl gets
modes_covered, high_quality_fraction and reverse_kl over 2,500 samples.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "ring"
  c.data.batch_size = 256
  c.model.name = "mlp"
  c.model.hidden = (256, 256, 256)
  c.model.z_dim = 2
  c.model.d_norm = "none"
  c.model.conditional = False
  c.optim.g.lr = c.optim.d.lr = 5e-4
  c.optim.g.b1 = c.optim.d.b1 = 0.5
  c.train.num_steps = 15000
  c.train.steps_per_call = 50
  c.train.log_every = 1000
  c.train.sample_every = 5000
  c.train.checkpoint_every = 5000
  c.train.eval_every = 5000
  c.train.best_metric = "reverse_kl"  # WORKDIR/best_checkpoint: the lowest reverse KL
  c.train.best_mode = "min"
  return base.finalize(c, arg)
