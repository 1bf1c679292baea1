"""DCGAN on CelebA at 64x64 (Radford et al. 2015, Section 4 and Figure 1).

Prepare the data once, on a machine with network access (nothing is downloaded at run
time unless --config.data.download=True):

    tfds build celeb_a --data_dir=$HOME/tensorflow_datasets

then train:

    python -m gan_jax.main --config=experiments/dcgan_celeba.py --workdir=runs/dcgan_celeba

(or --config.data.name=folder --config.data.folder=/path/to/img_align_celeba).

The classic shape: z 100, width 64 (64-128-256-512 channels), batch 128, Adam 2e-4 with
beta1 0.5, BatchNorm in both players, the non-saturating generator loss; images
center-cropped to 140x140 and resized to 64x64.
"""

from experiments import base


def get_config(arg=None):
  c = base.get_base_config()
  c.data.name = "celeb_a"
  c.data.resolution = 64
  c.data.batch_size = 128
  c.data.crop = 140
  c.model.name = "dcgan"
  c.model.width = 64
  c.model.z_dim = 100
  c.model.d_norm = "batch"
  c.loss.name = "non_saturating"
  for p in (c.optim.g, c.optim.d):
    p.name, p.lr, p.b1, p.b2 = "adam", 2e-4, 0.5, 0.999
  c.train.num_steps = 20_000
  c.train.sample_every = 1000
  c.train.checkpoint_every = 5000
  return base.finalize(c, arg)
