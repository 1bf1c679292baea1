"""StyleGAN2 on FFHQ at 256x256: the reference's ``paper256`` config, from an image folder.

    python -m gan_jax.main --config=experiments/stylegan2_ffhq.py --workdir=runs/sg2_ffhq \\
        --config.data.folder=/data/ffhq256 [--config.augment.name=ada]

Karras et al. 2020b (StyleGAN2-ADA), ``train.py``'s ``paper256``: batch 64, minibatch
standard deviation over groups of 8, ``fmaps`` 0.5 (``channel_base`` 16384, at most 512
channels), z = w = 512 with an 8-layer mapping network (lr x 0.01), Adam 0.0025 with betas
(0, 0.99) corrected for lazy regularisation, R1 gamma 1 every 16 steps, path length weight
2 every 4 steps, style mixing 0.9, EMA half-life 20k images, x-flips; 25M images (390,625
steps). ``augment.name``: none | diffaugment | ada (bgc, target 0.6, the reference's sym6
filters). Evaluated with the Inception FID when the weights are converted
(``--config.eval.inception=True``).

At 1024x1024 (``paper1024``): ``--config.data.resolution=1024 --config.data.batch_size=32
--config.model.mbstd_group=4 --config.model.channel_base=32768 --config.optim.g.lr=0.0016
--config.optim.d.lr=0.00188 --config.game.r1_gamma=2 --config.optim.ema_kimg=10`` (the
learning rates are 0.002 corrected for the lazy intervals 4 and 16).
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "folder"
  c.data.folder = ""  # your FFHQ images (e.g. the 70k PNGs resized to 256)
  c.data.resolution = 256
  c.data.channels = 3
  c.data.batch_size = 64
  c.data.random_flip = True
  c.model.name = "stylegan2"
  c.model.z_dim = 512
  c.model.w_dim = 512
  c.model.map_layers = 8
  c.model.d_map_layers = 8
  c.model.lr_mul = 0.01
  c.model.w_avg_beta = 0.995
  c.model.channel_base = 16384
  c.model.channel_max = 512
  c.model.mbstd_group = 8
  c.model.mbstd_channels = 1
  c.model.cmap_dim = 0
  c.model.noise_mode = "auto"
  c.model.fused_modconv = False  # the reference's training form
  c.game.name = "stylegan2"
  c.loss.name = "non_saturating"
  c.game.r1_gamma = 1.0
  c.game.r1_interval = 16
  c.game.pl_weight = 2.0
  c.game.pl_interval = 4
  c.game.style_mixing = 0.9
  c.optim.g = base.lazy_optimizer(0.0025, 0.0, 0.99, interval=4)
  c.optim.d = base.lazy_optimizer(0.0025, 0.0, 0.99, interval=16)
  c.optim.ema_kimg = 20.0
  c.optim.ema_rampup = 0.0
  c.augment.name = "none"
  c.augment.ada_kimg = 500.0
  c.train.num_steps = 390_625
  c.train.sample_every = 5000
  c.train.checkpoint_every = 5000
  c.train.eval_every = 50_000
  return base.finalize(c, arg)
