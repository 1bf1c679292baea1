"""StyleGAN2 on CIFAR-10: the reference's ``cifar`` config (StyleGAN2-ADA), class-conditional.

    tfds build cifar10 --data_dir=$HOME/tensorflow_datasets   # once
    python -m gan_jax.main --config=experiments/stylegan2_cifar10.py --workdir=runs/sg2_cifar \\
        --config.augment.name=ada

Karras et al. 2020b, ``train.py``'s ``cifar``: batch 64, minibatch standard deviation over
groups of 32, ``fmaps`` 1 (``channel_base`` 32768: 512 channels at every resolution),
a 2-layer mapping network, Adam 0.0025 with betas (0, 0.99) corrected for the lazy R1
interval 16, R1 gamma 0.01, no path-length penalty, no style mixing, EMA half-life 500k
images with ramp-up 0.05, x-flips, class labels in G's mapping and D's projection
(``--cond=1``, the paper's 2.42 FID row); 100M images (1,562,500 steps). The reference's
D for this config has the ``orig`` architecture (no residual skips); this D is residual.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "cifar10"
  c.data.resolution = 32
  c.data.batch_size = 64
  c.data.random_flip = True
  c.model.name = "stylegan2"
  c.model.conditional = True
  c.model.z_dim = 512
  c.model.w_dim = 512
  c.model.map_layers = 2
  c.model.d_map_layers = 8
  c.model.lr_mul = 0.01
  c.model.w_avg_beta = 0.995
  c.model.channel_base = 32768
  c.model.channel_max = 512
  c.model.mbstd_group = 32
  c.model.mbstd_channels = 1
  c.model.cmap_dim = 0
  c.model.noise_mode = "auto"
  c.model.fused_modconv = False
  c.game.name = "stylegan2"
  c.loss.name = "non_saturating"
  c.game.r1_gamma = 0.01
  c.game.r1_interval = 16
  c.game.pl_weight = 0.0
  c.game.style_mixing = 0.0
  c.optim.g = base.optimizer(lr=0.0025, b1=0.0, b2=0.99)  # no lazy G regulariser
  c.optim.d = base.lazy_optimizer(0.0025, 0.0, 0.99, interval=16)
  c.optim.ema_kimg = 500.0
  c.optim.ema_rampup = 0.05
  c.augment.name = "ada"
  c.augment.ada_kimg = 500.0
  c.train.num_steps = 1_562_500
  c.train.sample_every = 10_000
  c.train.checkpoint_every = 10_000
  c.train.eval_every = 100_000
  return base.finalize(c, arg)
