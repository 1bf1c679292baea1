"""The unrolled GAN on the ring of 8 Gaussians (Metz et al. 2017, the reference notebook).

    python -m gan_jax.main --config=experiments/unrolled_ring.py --workdir=runs/unrolled5
    python -m gan_jax.main --config=experiments/unrolled_ring.py --workdir=runs/unrolled10 \\
        --config.game.unroll_steps=10
    python -m gan_jax.main --config=experiments/unrolled_ring.py --workdir=runs/unrolled0 \\
        --config.game.unroll_steps=1 --config.game.unroll_first_order=True  # plain GAN

The settings of the reference notebook (poolio/unrolled_gan): G and D MLPs with two
hidden layers of 128 tanh units, orthogonal initialisation with gain 1.4, z of 256
N(0, 1) entries, the minimax (saturating) objective, D Adam 1e-4 and G Adam 1e-3 with
beta1 0.5 and eps 1e-8, batch 512, 25,000 iterations, 5 unrolling steps; the mixture is
the ring of radius 1 with sigma 0.01 (the notebook's ``np.linspace(0, 2 pi, 8)`` puts its
first and last modes on the same point; here the 8 modes are distinct).
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "ring"
  c.data.batch_size = 512
  c.game.name = "unrolled"
  c.game.unroll_steps = 5
  c.model.name = "mlp"
  c.model.hidden = (128, 128)
  c.model.mlp_activation = "tanh"
  c.model.mlp_init = "ortho_1.4"
  c.model.z_dim = 256
  c.model.d_norm = "none"
  c.model.conditional = False
  c.loss.name = "minimax"
  c.optim.g = base.optimizer("adam", 1e-3, 0.5, 0.999)
  c.optim.d = base.optimizer("adam", 1e-4, 0.5, 0.999)
  c.optim.d.eps_root = 1e-16  # differentiable where D's gradient is 0 (see games/unrolled.py)
  c.optim.ema_decay = 0.0
  c.train.num_steps = 25_000
  c.train.steps_per_call = 50
  c.train.log_every = 1000
  c.train.sample_every = 5000
  c.train.checkpoint_every = 5000
  c.train.eval_every = 5000
  return base.finalize(c, arg)
