"""Stacked digits with the unrolled GAN's small networks: PacGAN's Table 3 setting.

    python -m gan_jax.main --config=experiments/dcgan28_stacked_digits.py --workdir=runs/s28
    python -m gan_jax.sweep --config=experiments/dcgan28_stacked_digits.py --seeds=3 \\
        --workdir=runs/s28_pac4 --config.model.pack=4 --config.data.batch_size=512
    python -m gan_jax.main --config=experiments/dcgan28_stacked_digits.py --workdir=runs/s28_u10 \\
        --config.game.name=unrolled --config.optim.d.eps_root=1e-16   # Unrolled-10

The setting of PacGAN's released code for its Table 3 (the networks of Metz et al. 2017's
Stacked MNIST test, ``gan_jax/models/dcgan28.py``): 28x28 stacked digits in [-1, 1]; G
z (256, N(0, 1)) -> 4x4x64 -> 7x7x32 -> 14x14x16 -> 28x28x8 -> 3; D three 3x3 stride-2
convolutions of 2 / 4 / 8 channels with BatchNorm and LeakyReLU 0.3 ("D at 1/4 of G";
``--config.model.d_width=4`` is the "1/2 of G" setting, 4 / 8 / 16); the non-saturating
loss; Adam with betas (0.5, 0.99), D 2e-4, G 1e-4; 128 packs a step; no EMA. The
released code trains 500,000 steps and counts the modes of 25,600 samples, as here (the
samples classified channel by channel by the digits classifier); README's runs on the
2-core machine are shorter (``--config.train.num_steps``) and say so. PacDCGANm is
``--config.model.pack=m --config.data.batch_size=128m`` (128 packs a step, G run on one
batch of 128 m codes where the released code runs m batches of 128). G's BatchNorm
statistics at sampling are recomputed over 10 batches of fresh samples
(``game.standing_stats``): the released sampler normalises each batch by its own.

Our data is scikit-learn's 8x8 digits upscaled, not MNIST's handwriting: an easier
distribution, so the numbers sit beside the published ones, not on them.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "stacked_digits"
  c.data.resolution = 28
  c.data.batch_size = 128
  c.model.name = "dcgan28"
  c.model.z_dim = 256
  c.model.g_width = 8
  c.model.d_width = 2
  c.model.conditional = False
  c.loss.name = "non_saturating"
  c.optim.g = base.optimizer("adam", 1e-4, 0.5, 0.99)
  c.optim.d = base.optimizer("adam", 2e-4, 0.5, 0.99)
  c.optim.d.eps_root = 0.0  # --config.game.name=unrolled needs > 0 (e.g. 1e-16)
  c.optim.ema_decay = 0.0  # the released code samples the trained G
  c.game.standing_stats = 10
  c.game.unroll_steps = 10  # Table 3's unrolled row, with --config.game.name=unrolled
  c.train.num_steps = 500_000
  c.train.log_every = 1000
  c.train.sample_every = 10_000
  c.train.checkpoint_every = 10_000
  c.train.eval_every = 10_000
  c.eval.num_samples = 25_600
  return base.finalize(c, arg)
