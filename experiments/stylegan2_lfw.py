"""StyleGAN2 on the 100 embedded LFW faces at 32x32: the few-shot setting, on 2 CPU cores.

    python -m gan_jax.main --config=experiments/stylegan2_lfw.py --workdir=runs/sg2_lfw
    python -m gan_jax.main --config=experiments/stylegan2_lfw.py --workdir=runs/sg2_lfw_ada \\
        --config.augment.name=ada
    python -m gan_jax.main --config=experiments/stylegan2_lfw.py --workdir=runs/sg2_lfw_da \\
        --config.augment.name=diffaugment
    python -m gan_jax.main --config=experiments/stylegan2_lfw.py --workdir=runs/sg2_lfw \\
        --mode=sample   # grid, truncation, style mixing and W interpolation

The reference's small-data settings scaled to a CPU (Karras et al. 2020b, the ``auto``
config): a 2-layer mapping network (z = w = 64), channels ``min(1024 / res, 64)`` (64 at
4-16 px, 32 at 32 px), minibatch standard deviation over groups of 4; batch 16; Adam
0.0025 with betas (0, 0.99) corrected for lazy regularisation; R1 with gamma = 0.0002 x
32^2 / 16 = 0.0128 every 16 steps; path length (weight 2, every 4 steps); style mixing 0.9;
EMA half-life 5k images with ramp-up 0.05. ``augment.name``: none | diffaugment
(color,translation,cutout) | ada (the bgc pipeline, target 0.6, interval 4, 100 kimg to
move p by 1 instead of 500 as this run is 100 times shorter than the reference's, and
bilinear resampling instead of the sym6 filters: 4x cheaper on a CPU). The modulated
convolutions run unfused (styles on the activations, one shared convolution): the
reference's training form, and 12x faster than the grouped convolution on XLA CPU.
The eval line: ``face_fd`` (Frechet distance in the eigenface space of the real faces),
``face_nn`` (distance to the nearest training face) and, with ADA, ``ada_p``.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "lfw"
  c.data.resolution = 32
  c.data.batch_size = 16
  c.data.random_flip = True
  c.model.name = "stylegan2"
  c.model.z_dim = 64
  c.model.w_dim = 64
  c.model.map_layers = 2
  c.model.d_map_layers = 2
  c.model.lr_mul = 0.01
  c.model.w_avg_beta = 0.995
  c.model.channel_base = 1024
  c.model.channel_max = 64
  c.model.mbstd_group = 4
  c.model.mbstd_channels = 1
  c.model.cmap_dim = 0
  c.model.noise_mode = "auto"
  c.model.fused_modconv = False  # the reference's training form; grouped convs are slow on CPU
  c.game.name = "stylegan2"
  c.loss.name = "non_saturating"
  c.game.r1_gamma = 0.0002 * 32**2 / 16
  c.game.r1_interval = 16
  c.game.pl_weight = 2.0
  c.game.pl_interval = 4
  c.game.style_mixing = 0.9
  c.optim.g = base.lazy_optimizer(0.0025, 0.0, 0.99, interval=4)
  c.optim.d = base.lazy_optimizer(0.0025, 0.0, 0.99, interval=16)
  c.optim.ema_kimg = 16 * 10 / 32
  c.optim.ema_rampup = 0.05
  c.augment.name = "none"
  c.augment.ada_kimg = 100.0
  c.augment.ada_resample = "bilinear"  # 4x cheaper on CPU than the reference's sym6 filters
  c.train.num_steps = 2000
  c.train.sample_every = 500
  c.train.checkpoint_every = 500
  c.train.eval_every = 500
  c.eval.num_samples = 1000
  return base.finalize(c, arg)
