"""WGAN-GP on CelebA at 64x64 (Gulrajani et al. 2017, Algorithm 1 and Section 4).

Prepare the data once, on a machine with network access (nothing is downloaded at run
time unless --config.data.download=True):

    tfds build celeb_a --data_dir=$HOME/tensorflow_datasets

then train (add --config.data.data_dir=DIR for another data_dir):

    python -m gan_jax.main --config=experiments/wgan_celeba.py --workdir=runs/wgan_celeba

With the aligned images already on disk (img_align_celeba/*.jpg), read them directly:

    python -m gan_jax.main --config=experiments/wgan_celeba.py --workdir=runs/wgan_celeba \\
        --config.data.name=folder --config.data.folder=/path/to/img_align_celeba

Settings of the paper: lambda 10, n_critic 5, Adam lr 1e-4 with betas (0.0, 0.9), a
DCGAN-style 64x64 critic with layer norm in place of BatchNorm (Section 4), BatchNorm in
the generator; images center-cropped to 140x140 and resized to 64x64. The EMA generator
(decay 0.999) is the one sampled and evaluated.
"""

from experiments import base, presets


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "celeb_a"
  c.data.split = "train"
  c.data.resolution = 64
  c.data.batch_size = 64
  c.data.crop = 140
  c.model.name = "dcgan"
  c.model.width = 64
  c.model.z_dim = 128
  presets.wgan_gp(c)
  c.optim.ema_decay = 0.999
  c.train.num_steps = 100_000
  c.train.log_every = 100
  c.train.sample_every = 1000
  c.train.checkpoint_every = 5000
  return base.finalize(c, arg)
