"""Class-conditional BigGAN on scikit-learn's digits at 16x16: minutes on 2 CPU cores.

    python -m gan_jax.main --config=experiments/biggan_digits.py --workdir=runs/biggan_digits
    python -m gan_jax.main --config=experiments/biggan_digits.py --workdir=runs/biggan_digits \\
        --mode=sample   # one row per class, and a row per truncation threshold

BigGAN's pieces at a small width: spectral norm in G and D, a shared class embedding
and hierarchical latents feeding every block's conditional BatchNorm, self-attention at
8x8, a projection discriminator, hinge loss, 2 D updates per G update, Adam with betas
(0.0, 0.999) and D's learning rate 4x G's, orthogonal initialisation, an EMA of G from
step 500 sampled with standing BatchNorm statistics. The eval line reports the digits
IS / FD, class accuracy, intra-class FD and a truncation sweep.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "digits"
  c.data.resolution = 16
  c.data.batch_size = 64
  c.model.name = "biggan"
  c.model.conditional = True
  c.model.width = 8
  c.model.z_dim = 48  # 3 chunks of 16: the linear layer and two blocks
  c.model.shared_dim = 32
  c.model.hier = True
  c.model.attention = 8
  c.loss.name = "hinge"
  c.game.n_critic = 2
  c.game.standing_stats = 8
  c.optim.g = base.optimizer("adam", 1e-4, 0.0, 0.999)
  c.optim.d = base.optimizer("adam", 4e-4, 0.0, 0.999)
  c.optim.ema_decay = 0.999
  c.optim.ema_start = 500
  c.train.num_steps = 3000
  c.train.eval_every = 1000
  c.eval.truncation = (0.5, 1.0, 1.5)
  return base.finalize(c, arg)
