"""SN-GAN's projection cGAN on scikit-learn's digits at 16x16: minutes on 2 CPU cores.

    python -m gan_jax.main --config=experiments/sngan_digits.py --workdir=runs/sngan_digits

The CIFAR-10 ResNets of Miyato et al. 2018 at 16x16 (one block fewer in G and D) and
32 channels (the paper: G 256, D 128), class-conditional as in Miyato & Koyama 2018
(categorical conditional BatchNorm in G, projection in D), with the paper's hinge loss,
Adam 2e-4 with betas (0.0, 0.9) and linear decay, but 2 D updates per G update (5 in
the paper) to fit the budget.
"""

from experiments import base, presets


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "digits"
  c.data.resolution = 16
  c.data.batch_size = 64
  presets.sngan(c)
  c.model.conditional = True
  c.model.g_width = 32
  c.model.d_width = 32
  c.model.z_dim = 64
  c.game.n_critic = 2
  c.optim.ema_decay = 0.999  # the runs in README sample an EMA of G (the preset's is 0)
  c.train.num_steps = 3000
  c.train.eval_every = 1000
  return base.finalize(c, arg)
